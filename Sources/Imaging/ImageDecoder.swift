import Foundation

/// What a header says about an image, read without decoding pixels.
public struct ImageInfo: Sendable, Equatable {
    /// The encoded format.
    public var format: ImageFormat
    /// Width of the image ``ImageDecoder/decode(_:)`` returns, after EXIF orientation.
    public var width: Int
    /// Height of the image ``ImageDecoder/decode(_:)`` returns, after EXIF orientation.
    public var height: Int
    /// The EXIF orientation the decoder applies; ``ExifOrientation/identity`` for non-JPEG input.
    public var orientation: ExifOrientation

    /// Describes a header.
    public init(format: ImageFormat, width: Int, height: Int, orientation: ExifOrientation) {
        self.format = format
        self.width = width
        self.height = height
        self.orientation = orientation
    }
}

/// What to do when libjpeg recovers from damaged data (libturbojpeg's `TJERR_WARNING`).
///
/// libjpeg "warnings" are data errors it can paper over: a file cut short (the rest is painted
/// grey), a damaged entropy segment, stray bytes before a marker. The pixels it then returns are
/// partly invented, and a face template computed from them is silently wrong, so the decoder
/// rejects such files by default.
public enum JPEGWarningPolicy: Sendable, Equatable {
    /// Stop at the first warning and throw ``ImageDecodingError/truncated(format:)`` or
    /// ``ImageDecodingError/corrupt(format:reason:)``.
    case reject
    /// Return whatever libjpeg reconstructed.
    case accept
}

/// Decodes JPEG, PNG, PGM and PPM bytes into an ``RGBImage``, JPEGs turned upright by their EXIF orientation.
///
/// A value type holding only settings: every call creates and frees its own C decoder state,
/// so one decoder can be used from many tasks at once.
public struct ImageDecoder: Sendable {
    /// The bounds checked from the header before decoding.
    public var limits: DecodingLimits
    /// How damaged JPEG data is treated.
    public var jpegWarnings: JPEGWarningPolicy

    /// A decoder with the given limits; damaged JPEGs are rejected unless `jpegWarnings` is `.accept`.
    public init(limits: DecodingLimits = .default, jpegWarnings: JPEGWarningPolicy = .reject) {
        self.limits = limits
        self.jpegWarnings = jpegWarnings
    }

    /// Decodes an image: the format is recognised from its leading bytes, the limits are checked
    /// from its header, and a JPEG's EXIF orientation is applied.
    public func decode<Bytes: Collection>(_ bytes: Bytes) throws(ImageDecodingError) -> RGBImage
    where Bytes.Element == UInt8 {
        try withValidatedBytes(bytes) { buffer, format in
            switch format {
            case .jpeg: JPEGDecoding.decode(buffer, limits: limits, warnings: jpegWarnings)
            case .png: PNGDecoding.decode(buffer, limits: limits)
            case .pgm, .ppm: PortableAnymap.decode(buffer, format: format, limits: limits)
            }
        }.get()
    }

    /// Reads only the header: format, the size `decode` would return, and the orientation.
    ///
    /// Throws the same limit and format errors `decode` would, so a server can refuse an upload
    /// before spending time on it; damage after the header shows only when decoding.
    public func probe<Bytes: Collection>(_ bytes: Bytes) throws(ImageDecodingError) -> ImageInfo
    where Bytes.Element == UInt8 {
        try withValidatedBytes(bytes) { buffer, format in
            switch format {
            case .jpeg: JPEGDecoding.probe(buffer, limits: limits)
            case .png: PNGDecoding.probe(buffer, limits: limits)
            case .pgm, .ppm: PortableAnymap.probe(buffer, format: format, limits: limits)
            }
        }.get()
    }

    /// Reads and decodes a file, refusing files over the size limit before reading them.
    public func decode(contentsOf url: URL) throws(ImageDecodingError) -> RGBImage {
        try decode(readFile(url))
    }

    /// Reads a file's header; see ``probe(_:)``.
    public func probe(contentsOf url: URL) throws(ImageDecodingError) -> ImageInfo {
        try probe(readFile(url))
    }

    private func readFile(_ url: URL) throws(ImageDecodingError) -> Data {
        let path = url.path(percentEncoded: false)
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            try limits.checkEncodedSize(Int(clamping: size))
            try handle.seek(toOffset: 0)
            // Read one byte past the limit so a file that grew since the size check is still refused.
            let data = try handle.read(upToCount: limits.maxEncodedBytes + 1) ?? Data()
            try limits.checkEncodedSize(data.count)
            return data
        } catch let error as ImageDecodingError {
            throw error
        } catch {
            throw .unreadableFile(path: path, reason: String(describing: error))
        }
    }

    /// Checks emptiness, size and format, then hands contiguous bytes to `body`.
    private func withValidatedBytes<Bytes: Collection, Output>(
        _ bytes: Bytes,
        _ body: (UnsafeRawBufferPointer, ImageFormat) -> Result<Output, ImageDecodingError>
    ) -> Result<Output, ImageDecodingError> where Bytes.Element == UInt8 {
        let count = bytes.count
        if count == 0 { return .failure(.empty) }
        do throws(ImageDecodingError) {
            try limits.checkEncodedSize(count)
        } catch {
            return .failure(error)
        }
        let prefix = Array(bytes.prefix(12))
        guard let format = ImageFormat.sniff(prefix: prefix) else {
            return .failure(.unsupportedFormat(signature: ImageFormat.describeUnsupported(prefix: prefix)))
        }
        if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0), format) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { body($0, format) }
    }
}
