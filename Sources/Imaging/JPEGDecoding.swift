import CTurboJPEG

/// Owns one libturbojpeg decompressor; each decode makes its own, so calls never share state.
final class TurboJPEGDecompressor {
    private let handle: tjhandle

    init() throws(ImageDecodingError) {
        guard let handle = tjInitDecompress() else {
            throw .libraryFailure(format: .jpeg, reason: String(cString: tjGetErrorStr2(nil)))
        }
        self.handle = handle
    }

    deinit {
        tjDestroy(handle)
    }

    struct Header {
        var width: Int
        var height: Int
        var colorspace: Int32
    }

    func readHeader(_ bytes: UnsafeRawBufferPointer) throws(ImageDecodingError) -> Header {
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        let status = tjDecompressHeader3(
            handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
            &width, &height, &subsampling, &colorspace)
        if status != 0 {
            throw failure()
        }
        // libturbojpeg reports success with a zero size for an "abbreviated" stream of tables alone.
        if width == 0 && height == 0 {
            throw .corrupt(format: .jpeg, reason: "the data holds tables but no image")
        }
        return Header(width: Int(width), height: Int(height), colorspace: colorspace)
    }

    /// Decompresses into `pixelFormat` (`TJPF_RGB` or `TJPF_CMYK`), `channels` bytes a pixel.
    func decompress(
        _ bytes: UnsafeRawBufferPointer, header: Header, pixelFormat: TJPF, channels: Int,
        warnings: JPEGWarningPolicy
    ) throws(ImageDecodingError) -> [UInt8] {
        var flags = TJFLAG_LIMITSCANS  // refuse progressive files with absurd scan counts (a CPU bomb)
        if warnings == .reject { flags |= TJFLAG_STOPONWARNING }
        let byteCount = header.width * header.height * channels
        var status: Int32 = 0
        var errorCode = Int32(TJERR_FATAL.rawValue)
        let pixels = [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            status = tjDecompress2(
                handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                buffer.baseAddress, Int32(header.width), Int32(header.width * channels), Int32(header.height),
                Int32(pixelFormat.rawValue), flags)
            if status != 0 { errorCode = tjGetErrorCode(handle) }
            // On a fatal error the buffer may be partly written; it is discarded below, never read.
            initialized = byteCount
        }
        if status != 0 {
            let recovered = errorCode == Int32(TJERR_WARNING.rawValue)
            if !(recovered && warnings == .accept) {
                throw failure()
            }
        }
        return pixels
    }

    /// The handle's last error as a decoding error; libjpeg's end-of-data warning means truncation.
    private func failure() -> ImageDecodingError {
        let message = String(cString: tjGetErrorStr2(handle))
        if message.contains("Premature end of JPEG file") {
            return .truncated(format: .jpeg)
        }
        return .corrupt(format: .jpeg, reason: message)
    }
}

/// JPEG through libturbojpeg, with the EXIF orientation applied afterwards.
enum JPEGDecoding {
    static func probe(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) -> Result<ImageInfo, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let header = try TurboJPEGDecompressor().readHeader(bytes)
            try limits.checkDimensions(width: Int64(header.width), height: Int64(header.height), format: .jpeg)
            let orientation = ExifOrientation.read(fromJPEG: bytes) ?? .identity
            let swaps = orientation.swapsDimensions
            return ImageInfo(
                format: .jpeg,
                width: swaps ? header.height : header.width,
                height: swaps ? header.width : header.height,
                orientation: orientation)
        }
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer, limits: DecodingLimits, warnings: JPEGWarningPolicy
    ) -> Result<RGBImage, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let decompressor = try TurboJPEGDecompressor()
            let header = try decompressor.readHeader(bytes)
            try limits.checkDimensions(width: Int64(header.width), height: Int64(header.height), format: .jpeg)
            let image: RGBImage
            if header.colorspace == Int32(TJCS_CMYK.rawValue) || header.colorspace == Int32(TJCS_YCCK.rawValue) {
                // libjpeg cannot convert CMYK to RGB itself.
                let cmyk = try decompressor.decompress(
                    bytes, header: header, pixelFormat: TJPF_CMYK, channels: 4, warnings: warnings)
                image = RGBImage(width: header.width, height: header.height, pixels: rgb(fromInvertedCMYK: cmyk))
            } else {
                let pixels = try decompressor.decompress(
                    bytes, header: header, pixelFormat: TJPF_RGB, channels: 3, warnings: warnings)
                image = RGBImage(width: header.width, height: header.height, pixels: pixels)
            }
            let orientation = ExifOrientation.read(fromJPEG: bytes) ?? .identity
            return image.applying(orientation)
        }
    }

    /// CMYK JPEGs (Adobe's convention, which libjpeg keeps) store inverted inks: R = C * K / 255.
    static func rgb(fromInvertedCMYK cmyk: [UInt8]) -> [UInt8] {
        let pixelCount = cmyk.count / 4
        return [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { rgb, initialized in
            cmyk.withUnsafeBufferPointer { cmyk in
                for pixel in 0..<pixelCount {
                    let key = UInt32(cmyk[pixel * 4 + 3])
                    for channel in 0..<3 {
                        rgb[pixel * 3 + channel] = UInt8((UInt32(cmyk[pixel * 4 + channel]) * key + 127) / 255)
                    }
                }
            }
            initialized = pixelCount * 3
        }
    }
}
