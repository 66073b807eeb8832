/// The EXIF orientation tag (0x0112): how the stored pixels must be transformed to appear upright.
///
/// Raw values are the tag's values 1-8; each case names the transform that turns stored pixels
/// into the upright image.
public enum ExifOrientation: UInt16, Sendable, CaseIterable, Codable {
    /// 1: stored upright.
    case identity = 1
    /// 2: mirror left-right.
    case flipHorizontal = 2
    /// 3: turn half a circle.
    case rotate180 = 3
    /// 4: mirror top-bottom.
    case flipVertical = 4
    /// 5: mirror across the top-left to bottom-right diagonal.
    case transpose = 5
    /// 6: turn a quarter clockwise (a camera held with its grip up).
    case rotate90Clockwise = 6
    /// 7: mirror across the top-right to bottom-left diagonal.
    case transverse = 7
    /// 8: turn a quarter counter-clockwise.
    case rotate90CounterClockwise = 8

    /// Whether the upright image has width and height exchanged.
    public var swapsDimensions: Bool {
        rawValue >= 5
    }
}

extension ExifOrientation {
    /// The orientation in the first Exif APP1 segment before the JPEG's first scan.
    ///
    /// Returns `nil` when there is no Exif segment, no orientation tag, a value outside 1-8, or
    /// any malformed structure: a damaged Exif block never stops an image from decoding.
    static func read(fromJPEG bytes: UnsafeRawBufferPointer) -> ExifOrientation? {
        let count = bytes.count
        guard count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var offset = 2
        while offset < count {
            guard bytes[offset] == 0xFF else { return nil }
            var markerOffset = offset + 1
            while markerOffset < count, bytes[markerOffset] == 0xFF { markerOffset += 1 }  // fill bytes
            guard markerOffset < count else { return nil }
            let marker = bytes[markerOffset]
            switch marker {
            case 0xDA, 0xD9:  // start of scan, end of image: metadata comes before either
                return nil
            case 0x01, 0xD0...0xD7:  // markers without a length field
                offset = markerOffset + 1
                continue
            default:
                break
            }
            guard markerOffset + 2 < count else { return nil }
            let length = Int(bytes[markerOffset + 1]) << 8 | Int(bytes[markerOffset + 2])
            let payloadStart = markerOffset + 3
            let segmentEnd = markerOffset + 1 + length
            guard length >= 2, segmentEnd <= count else { return nil }
            if marker == 0xE1,
               let exif = ExifBlock(UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<segmentEnd])) {
                return exif.orientation()
            }
            offset = segmentEnd
        }
        return nil
    }
}

/// The TIFF structure inside an APP1 payload that starts with "Exif\0\0".
private struct ExifBlock {
    let tiff: UnsafeRawBufferPointer
    let littleEndian: Bool

    init?(_ payload: UnsafeRawBufferPointer) {
        let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
        guard payload.count >= exifHeader.count + 8, payload.starts(with: exifHeader) else { return nil }
        tiff = UnsafeRawBufferPointer(rebasing: payload[exifHeader.count...])
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): littleEndian = true  // "II"
        case (0x4D, 0x4D): littleEndian = false  // "MM"
        default: return nil
        }
        guard uint16(at: 2) == 42 else { return nil }
    }

    func orientation() -> ExifOrientation? {
        guard let ifdOffset = uint32(at: 4).map(Int.init), let entryCount = uint16(at: ifdOffset) else { return nil }
        let entrySize = 12
        for index in 0..<Int(entryCount) {
            let entry = ifdOffset + 2 + index * entrySize
            guard let tag = uint16(at: entry) else { return nil }
            guard tag == 0x0112 else { continue }
            guard let type = uint16(at: entry + 2), let valueCount = uint32(at: entry + 4), valueCount >= 1 else {
                return nil
            }
            let value: UInt32?
            switch type {
            case 3: value = uint16(at: entry + 8).map(UInt32.init)  // SHORT, as the standard says
            case 4: value = uint32(at: entry + 8)  // LONG, written by a few tools
            default: value = nil
            }
            return value.flatMap { UInt16(exactly: $0) }.flatMap(ExifOrientation.init(rawValue:))
        }
        return nil
    }

    private func uint16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= tiff.count - 2 else { return nil }
        let first = UInt16(tiff[offset]), second = UInt16(tiff[offset + 1])
        return littleEndian ? second << 8 | first : first << 8 | second
    }

    private func uint32(at offset: Int) -> UInt32? {
        guard let first = uint16(at: offset), let second = uint16(at: offset + 2) else { return nil }
        return littleEndian ? UInt32(second) << 16 | UInt32(first) : UInt32(first) << 16 | UInt32(second)
    }
}
