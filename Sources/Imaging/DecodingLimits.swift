/// Bounds the decoder checks from the header, before it allocates or decodes any pixels.
///
/// The defaults admit any photo a phone or camera produces and refuse the decompression bombs
/// an upload endpoint would otherwise turn into gigabytes of pixels.
public struct DecodingLimits: Sendable, Equatable, Codable {
    /// Largest encoded input accepted, in bytes.
    public var maxEncodedBytes: Int
    /// Largest `width * height` accepted.
    public var maxPixels: Int
    /// Largest width or height accepted, in pixels; stops absurd aspect ratios such as 1 x 40,000,000.
    public var maxDimension: Int

    /// Limits with every bound given; the defaults are 20 MiB, 40 megapixels and 30,000 pixels a side.
    public init(maxEncodedBytes: Int = 20 * 1_048_576, maxPixels: Int = 40_000_000, maxDimension: Int = 30_000) {
        self.maxEncodedBytes = maxEncodedBytes
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
    }

    /// 20 MiB of encoded bytes, 40 megapixels, 30,000 pixels a side.
    public static let `default` = DecodingLimits()

    /// Throws unless `byteCount` is within `maxEncodedBytes`.
    func checkEncodedSize(_ byteCount: Int) throws(ImageDecodingError) {
        if byteCount > maxEncodedBytes {
            throw .tooLarge(bytes: byteCount, limit: maxEncodedBytes)
        }
    }

    /// Throws unless a header's dimensions are positive and within the limits.
    ///
    /// Takes `Int64` so that unsigned 32-bit header fields fit; their product may still overflow.
    func checkDimensions(width: Int64, height: Int64, format: ImageFormat) throws(ImageDecodingError) {
        guard width > 0, height > 0 else {
            throw .invalidDimensions(format: format, width: Int(clamping: width), height: Int(clamping: height))
        }
        let (pixels, overflowed) = width.multipliedReportingOverflow(by: height)
        if overflowed || pixels > Int64(maxPixels) {
            throw .tooManyPixels(width: Int(clamping: width), height: Int(clamping: height), limit: maxPixels)
        }
        if width > Int64(maxDimension) || height > Int64(maxDimension) {
            throw .dimensionTooLarge(width: Int(clamping: width), height: Int(clamping: height), limit: maxDimension)
        }
    }
}
