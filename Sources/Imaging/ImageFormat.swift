/// The encoded image formats the decoder reads, recognised by their leading bytes.
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    /// JPEG (JFIF or Exif), decoded by libturbojpeg.
    case jpeg
    /// PNG, decoded by libpng.
    case png
    /// Portable greymap, plain (`P2`) or raw (`P5`).
    case pgm
    /// Portable pixmap, plain (`P3`) or raw (`P6`).
    case ppm

    /// The media type to label bytes of this format with.
    public var mediaType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .pgm: "image/x-portable-graymap"
        case .ppm: "image/x-portable-pixmap"
        }
    }

    /// The format whose signature starts `bytes`, or `nil` when none does.
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        sniff(prefix: Array(bytes.prefix(8)))
    }

    static func sniff(prefix: [UInt8]) -> ImageFormat? {
        if prefix.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if prefix.starts(with: pngSignature) { return .png }
        if prefix.count >= 3, prefix[0] == UInt8(ascii: "P"), PortableAnymap.isWhitespace(prefix[2]) {
            switch prefix[1] {
            case UInt8(ascii: "2"), UInt8(ascii: "5"): return .pgm
            case UInt8(ascii: "3"), UInt8(ascii: "6"): return .ppm
            default: return nil
            }
        }
        return nil
    }

    /// Names a format the decoder does not read, for error messages: "GIF", "WebP", or the leading bytes in hex.
    static func describeUnsupported(prefix: [UInt8]) -> String {
        func startsWith(_ text: String) -> Bool { prefix.starts(with: Array(text.utf8)) }
        if startsWith("GIF87a") || startsWith("GIF89a") { return "GIF" }
        if startsWith("RIFF"), prefix.count >= 12, Array(prefix[8..<12]) == Array("WEBP".utf8) { return "WebP" }
        if startsWith("BM") { return "BMP" }
        if startsWith("II*\u{0}") || startsWith("MM\u{0}*") { return "TIFF" }
        if prefix.count >= 12, Array(prefix[4..<8]) == Array("ftyp".utf8) { return "HEIF/AVIF (ISO media)" }
        if prefix.starts(with: [0xFF, 0x0A]) || prefix.starts(with: [0, 0, 0, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return "JPEG XL" }
        if startsWith("P1") || startsWith("P4") { return "PBM (bitmap)" }
        if startsWith("P7") { return "PAM" }
        let hex = prefix.prefix(8).map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }
        return "unknown signature " + hex.joined(separator: " ")
    }
}

/// The eight bytes every PNG file starts with.
let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
