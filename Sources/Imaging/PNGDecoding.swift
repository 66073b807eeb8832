import CPNG

/// Owns one libpng simplified-API read; frees libpng's state in `deinit` whatever happened.
///
/// The simplified API catches libpng's errors (a `longjmp`) inside C and reports them in
/// `png_image.message`, so no `longjmp` ever crosses a Swift frame.
final class PNGReadSession {
    private let image: UnsafeMutablePointer<png_image>

    /// Reads the header from `bytes`, which must stay alive until ``finish(into:)`` returns.
    init(_ bytes: UnsafeRawBufferPointer) throws(ImageDecodingError) {
        image = .allocate(capacity: 1)
        image.initialize(to: png_image())
        image.pointee.version = png_uint_32(PNG_IMAGE_VERSION)
        if png_image_begin_read_from_memory(image, bytes.baseAddress, bytes.count) == 0 {
            throw failure()
        }
    }

    deinit {
        png_image_free(image)
        image.deallocate()
    }

    var width: Int { Int(image.pointee.width) }
    var height: Int { Int(image.pointee.height) }
    var hasAlpha: Bool { image.pointee.format & png_uint_32(PNG_FORMAT_FLAG_ALPHA) != 0 }

    /// Decodes into 8-bit sRGB, RGB or RGBA (straight alpha), `channels` bytes a pixel.
    func finish(channels: Int) throws(ImageDecodingError) -> [UInt8] {
        image.pointee.format = png_uint_32(channels == 4 ? PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA : PNG_FORMAT_RGB)
        // 16-bit files without gAMA or sRGB are sRGB in practice (as OpenCV and Pillow read them);
        // libpng would otherwise take them as linear light and brighten them.
        image.pointee.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let rowStride = width * channels
        let byteCount = rowStride * height
        var succeeded = false
        let pixels = [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            succeeded = png_image_finish_read(image, nil, buffer.baseAddress, png_int_32(rowStride), nil) != 0
            // On failure the buffer may be partly written; it is discarded below, never read.
            initialized = byteCount
        }
        guard succeeded else { throw failure() }
        return pixels
    }

    private func failure() -> ImageDecodingError {
        let message = withUnsafeBytes(of: image.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        // libpng's memory reader says this when the data stops before the image does.
        if message.contains("read beyond end of data") || message.contains("Not enough image data") {
            return .truncated(format: .png)
        }
        return .corrupt(format: .png, reason: message.isEmpty ? "libpng gave no reason" : message)
    }
}

/// PNG through libpng: every colour type and bit depth becomes 8-bit RGB, alpha dropped.
enum PNGDecoding {
    /// Width and height from the IHDR chunk, read by hand so limits apply before libpng runs.
    static func headerDimensions(_ bytes: UnsafeRawBufferPointer) throws(ImageDecodingError) -> (width: Int64, height: Int64) {
        // Signature (8), IHDR length (4) and type (4), width (4), height (4).
        guard bytes.count >= 24 else { throw .truncated(format: .png) }
        func uint32(at offset: Int) -> UInt32 {
            (offset..<offset + 4).reduce(0) { $0 << 8 | UInt32(bytes[$1]) }
        }
        guard uint32(at: 12) == 0x4948_4452 else {  // "IHDR"
            throw .corrupt(format: .png, reason: "the first chunk is not IHDR")
        }
        return (Int64(uint32(at: 16)), Int64(uint32(at: 20)))
    }

    static func probe(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) -> Result<ImageInfo, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let (width, height) = try headerDimensions(bytes)
            try limits.checkDimensions(width: width, height: height, format: .png)
            return ImageInfo(format: .png, width: Int(width), height: Int(height), orientation: .identity)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) -> Result<RGBImage, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let (width, height) = try headerDimensions(bytes)
            try limits.checkDimensions(width: width, height: height, format: .png)
            if let image = PNGDirectDecoding.decode(bytes) { return image }
            return try decodeWithLibPNG(bytes, width: width, height: height)
        }
    }

    /// Decodes through libpng alone; `width` and `height` are the header's.
    static func decodeWithLibPNG(
        _ bytes: UnsafeRawBufferPointer, width: Int64, height: Int64
    ) throws(ImageDecodingError) -> RGBImage {
        let session = try PNGReadSession(bytes)
        guard Int64(session.width) == width, Int64(session.height) == height else {
            throw .corrupt(format: .png, reason: "libpng read a different size from the header")
        }
        if !session.hasAlpha {
            return RGBImage(width: session.width, height: session.height, pixels: try session.finish(channels: 3))
        }
        // Asked for RGB, libpng would composite onto a background; decoding RGBA and dropping
        // alpha keeps the stored colours instead, as OpenCV does.
        let rgba = try session.finish(channels: 4)
        return RGBImage(width: session.width, height: session.height, pixels: dropAlpha(rgba))
    }

    static func dropAlpha(_ rgba: [UInt8]) -> [UInt8] {
        let pixelCount = rgba.count / 4
        return [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { rgb, initialized in
            rgba.withUnsafeBufferPointer { rgba in
                for pixel in 0..<pixelCount {
                    rgb[pixel * 3] = rgba[pixel * 4]
                    rgb[pixel * 3 + 1] = rgba[pixel * 4 + 1]
                    rgb[pixel * 3 + 2] = rgba[pixel * 4 + 2]
                }
            }
            initialized = pixelCount * 3
        }
    }
}
