import CPNG

/// Why an image could not be encoded.
public enum ImageEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The image has no pixels; PNG cannot hold an empty image.
    case emptyImage
    /// libpng refused; `reason` is its message.
    case libraryFailure(reason: String)

    /// One sentence for logs.
    public var description: String {
        switch self {
        case .emptyImage: "Cannot encode an image with no pixels."
        case .libraryFailure(let reason): "libpng could not encode the image: \(reason)"
        }
    }
}

extension RGBImage {
    /// The image as a raw PPM (`P6`, maxval 255): lossless and readable by ``ImageDecoder``.
    public func portablePixmapData() -> [UInt8] {
        Array("P6\n\(width) \(height)\n255\n".utf8) + pixels
    }

    /// The image as an 8-bit RGB PNG, tagged sRGB: lossless, for debug crops and review thumbnails.
    public func pngData() throws(ImageEncodingError) -> [UInt8] {
        guard width > 0, height > 0 else { throw .emptyImage }
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        defer { png_image_free(&image) }
        let rowStride = png_int_32(width * 3)
        // The first call measures, the second writes.
        var byteCount = 0
        let measured = pixels.withUnsafeBytes { pixels in
            png_image_write_to_memory(&image, nil, &byteCount, 0, pixels.baseAddress, rowStride, nil)
        }
        guard measured != 0, byteCount > 0 else { throw .libraryFailure(reason: Self.message(of: image)) }
        var capacity = byteCount
        var encoded = [UInt8](repeating: 0, count: byteCount)
        let written = encoded.withUnsafeMutableBytes { output in
            pixels.withUnsafeBytes { pixels in
                png_image_write_to_memory(&image, output.baseAddress, &capacity, 0, pixels.baseAddress, rowStride, nil)
            }
        }
        guard written != 0 else { throw .libraryFailure(reason: Self.message(of: image)) }
        return Array(encoded.prefix(capacity))
    }

    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
