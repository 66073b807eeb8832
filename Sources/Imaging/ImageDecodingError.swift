/// Why bytes did not become an image. Every failure of ``ImageDecoder`` is one of these.
public enum ImageDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input held no bytes.
    case empty
    /// The leading bytes are not JPEG, PNG, PGM or PPM; `signature` names what they look like.
    case unsupportedFormat(signature: String)
    /// The input is larger than ``DecodingLimits/maxEncodedBytes``.
    case tooLarge(bytes: Int, limit: Int)
    /// The header announces more pixels than ``DecodingLimits/maxPixels``.
    case tooManyPixels(width: Int, height: Int, limit: Int)
    /// The header announces a side longer than ``DecodingLimits/maxDimension``.
    case dimensionTooLarge(width: Int, height: Int, limit: Int)
    /// The header announces a zero (or negative) width or height.
    case invalidDimensions(format: ImageFormat, width: Int, height: Int)
    /// The data ends before the image does.
    case truncated(format: ImageFormat)
    /// The data is damaged or uses a feature the decoder does not support; `reason` says which.
    case corrupt(format: ImageFormat, reason: String)
    /// The C library could not start (for example, out of memory); not the input's fault.
    case libraryFailure(format: ImageFormat, reason: String)
    /// ``ImageDecoder/decode(contentsOf:)`` could not read the file.
    case unreadableFile(path: String, reason: String)

    /// One sentence for logs and problem responses.
    public var description: String {
        switch self {
        case .empty:
            "The image data is empty."
        case .unsupportedFormat(let signature):
            "Unsupported image format (\(signature)); expected JPEG, PNG, PGM or PPM."
        case .tooLarge(let bytes, let limit):
            "The image data is \(bytes) bytes, more than the limit of \(limit) bytes."
        case .tooManyPixels(let width, let height, let limit):
            "The image is \(width) x \(height) pixels, more than the limit of \(limit) pixels."
        case .dimensionTooLarge(let width, let height, let limit):
            "The image is \(width) x \(height) pixels; a side is longer than the limit of \(limit) pixels."
        case .invalidDimensions(let format, let width, let height):
            "The \(format.displayName) header states an impossible size of \(width) x \(height) pixels."
        case .truncated(let format):
            "The \(format.displayName) data ends before the image does."
        case .corrupt(let format, let reason):
            "The \(format.displayName) data is corrupt or unsupported: \(reason)"
        case .libraryFailure(let format, let reason):
            "The \(format.displayName) decoder failed to start: \(reason)"
        case .unreadableFile(let path, let reason):
            "Cannot read the image file \(path): \(reason)"
        }
    }
}

extension ImageFormat {
    /// The name people use for the format.
    var displayName: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .pgm: "PGM"
        case .ppm: "PPM"
        }
    }
}
