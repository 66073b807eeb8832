import CPNG
import CTurboJPEG

/// Why an image could not be encoded.
public enum ImageEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The image has no pixels; PNG cannot hold an empty image.
    case emptyImage
    /// libpng or libjpeg-turbo refused; `reason` is its message.
    case libraryFailure(reason: String)
    /// A JPEG quality outside 1...100.
    case invalidQuality(Int)

    /// One sentence for logs.
    public var description: String {
        switch self {
        case .emptyImage: "Cannot encode an image with no pixels."
        case .libraryFailure(let reason): "The image library could not encode the image: \(reason)"
        case .invalidQuality(let quality): "JPEG quality must be between 1 and 100, not \(quality)."
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

    /// The image as a baseline JPEG at `quality` (1-100) with 4:2:0 chroma subsampling, as cameras
    /// and web uploads make them: lossy, for degradation protocols and tests of the decoder.
    public func jpegData(quality: Int) throws(ImageEncodingError) -> [UInt8] {
        guard width > 0, height > 0 else { throw .emptyImage }
        guard (1...100).contains(quality) else { throw .invalidQuality(quality) }
        guard let handle = tjInitCompress() else { throw .libraryFailure(reason: "tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(
                handle, pixels.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue), &output, &size,
                Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else {
            throw .libraryFailure(reason: String(cString: tjGetErrorStr2(handle)))
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
