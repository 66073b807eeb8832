/// PGM and PPM (Netpbm): plain `P2`/`P3` and raw `P5`/`P6`, any maxval from 1 to 65535.
enum PortableAnymap {
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    struct Header {
        var format: ImageFormat
        var isPlain: Bool
        var width: Int
        var height: Int
        var maxValue: Int
        /// Where the samples start.
        var dataOffset: Int
        var channels: Int { format == .ppm ? 3 : 1 }
    }

    /// Reads decimal numbers and skips whitespace and `#` comments, never past the end.
    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        let format: ImageFormat
        var offset: Int

        mutating func skipWhitespaceAndComments() {
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte == UInt8(ascii: "#") {
                    while offset < bytes.count, bytes[offset] != 0x0A, bytes[offset] != 0x0D { offset += 1 }
                } else if PortableAnymap.isWhitespace(byte) {
                    offset += 1
                } else {
                    return
                }
            }
        }

        /// The next number; at most `limit`, or the file is corrupt.
        mutating func number(upTo limit: Int, naming field: String) throws(ImageDecodingError) -> Int {
            skipWhitespaceAndComments()
            guard offset < bytes.count else { throw .truncated(format: format) }
            var value = 0
            var digits = 0
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) {
                value = value * 10 + Int(bytes[offset] - 0x30)
                digits += 1
                offset += 1
                guard value <= limit else {
                    throw .corrupt(format: format, reason: "\(field) is larger than \(limit)")
                }
            }
            guard digits > 0 else {
                throw .corrupt(format: format, reason: "expected a decimal number for \(field)")
            }
            return value
        }
    }

    static func readHeader(
        _ bytes: UnsafeRawBufferPointer, format: ImageFormat, limits: DecodingLimits
    ) throws(ImageDecodingError) -> Header {
        let isPlain = bytes[1] == UInt8(ascii: "2") || bytes[1] == UInt8(ascii: "3")
        var scanner = Scanner(bytes: bytes, format: format, offset: 2)
        // Numbers past Int32 are refused before the limits see them, so arithmetic cannot overflow.
        let width = try scanner.number(upTo: Int(Int32.max), naming: "the width")
        let height = try scanner.number(upTo: Int(Int32.max), naming: "the height")
        try limits.checkDimensions(width: Int64(width), height: Int64(height), format: format)
        let maxValue = try scanner.number(upTo: 65535, naming: "the maximum sample value")
        guard maxValue >= 1 else { throw .corrupt(format: format, reason: "the maximum sample value is 0") }
        // Exactly one whitespace byte separates the header from raw samples.
        guard scanner.offset < bytes.count else { throw .truncated(format: format) }
        guard isWhitespace(bytes[scanner.offset]) else {
            throw .corrupt(format: format, reason: "no whitespace after the maximum sample value")
        }
        return Header(
            format: format, isPlain: isPlain, width: width, height: height, maxValue: maxValue,
            dataOffset: scanner.offset + 1)
    }

    static func probe(
        _ bytes: UnsafeRawBufferPointer, format: ImageFormat, limits: DecodingLimits
    ) -> Result<ImageInfo, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let header = try readHeader(bytes, format: format, limits: limits)
            return ImageInfo(format: format, width: header.width, height: header.height, orientation: .identity)
        }
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer, format: ImageFormat, limits: DecodingLimits
    ) -> Result<RGBImage, ImageDecodingError> {
        Result { () throws(ImageDecodingError) in
            let header = try readHeader(bytes, format: format, limits: limits)
            let sampleCount = header.width * header.height * header.channels
            let samples = header.isPlain
                ? try plainSamples(bytes, header: header, count: sampleCount)
                : try rawSamples(bytes, header: header, count: sampleCount)
            if header.channels == 1 {
                return RGBImage(greyscale: samples, width: header.width, height: header.height)
            }
            return RGBImage(width: header.width, height: header.height, pixels: samples)
        }
    }

    /// Maps samples 0...maxValue onto 0...255, rounding to nearest.
    private static func scaleTable(maxValue: Int) -> [UInt8] {
        (0...maxValue).map { UInt8((($0 * 255) + maxValue / 2) / maxValue) }
    }

    private static func rawSamples(
        _ bytes: UnsafeRawBufferPointer, header: Header, count: Int
    ) throws(ImageDecodingError) -> [UInt8] {
        let bytesPerSample = header.maxValue < 256 ? 1 : 2
        guard bytes.count - header.dataOffset >= count * bytesPerSample else {
            throw .truncated(format: header.format)
        }
        let table = scaleTable(maxValue: header.maxValue)
        let data = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
        var outOfRange = false
        let samples = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            table.withUnsafeBufferPointer { table in
                for index in 0..<count {
                    // Raw 16-bit samples are big-endian.
                    let sample = bytesPerSample == 1
                        ? Int(data[index])
                        : Int(data[index * 2]) << 8 | Int(data[index * 2 + 1])
                    if sample > header.maxValue {
                        outOfRange = true
                        output[index] = 0
                    } else {
                        output[index] = table[sample]
                    }
                }
            }
            initialized = count
        }
        if outOfRange { throw sampleOutOfRange(header) }
        return samples
    }

    private static func plainSamples(
        _ bytes: UnsafeRawBufferPointer, header: Header, count: Int
    ) throws(ImageDecodingError) -> [UInt8] {
        // A plain sample takes at least two bytes (digit and separator); refuse before allocating.
        guard (bytes.count - header.dataOffset + 1) / 2 >= count else { throw .truncated(format: header.format) }
        let table = scaleTable(maxValue: header.maxValue)
        var scanner = Scanner(bytes: bytes, format: header.format, offset: header.dataOffset)
        var samples = [UInt8]()
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let sample = try scanner.number(upTo: 65535, naming: "a sample")
            guard sample <= header.maxValue else { throw sampleOutOfRange(header) }
            samples.append(table[sample])
        }
        return samples
    }

    private static func sampleOutOfRange(_ header: Header) -> ImageDecodingError {
        .corrupt(format: header.format, reason: "a sample exceeds the maximum value \(header.maxValue)")
    }
}
