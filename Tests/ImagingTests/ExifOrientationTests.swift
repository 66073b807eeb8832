import CTurboJPEG
import Imaging
import Testing

/// EXIF orientation read from real photos whose Exif block is edited or added in the test.
struct ExifOrientationTests {
    static let values: [UInt16] = Array(1...8)

    @Test(arguments: values)
    func orientationInObamasOwnLittleEndianExifBlockTurnsThePixels(value: UInt16) throws {
        let plain = try TestData.photo("obama.jpg")
        let edited = try #require(JPEGStructure.settingExistingOrientation(value, in: plain))
        #expect(edited != plain || value == 1)
        try expectOriented(edited, value: value, plain: plain)
    }

    @Test(arguments: values)
    func orientationInABigEndianExifBlockTurnsThePixels(value: UInt16) throws {
        let plain = try TestData.photo("obama2.jpg")
        #expect(plain[plain.firstIndex(of: 0xE1)! + 9] == 0x4D, "obama2.jpg's Exif block is big-endian (MM)")
        let edited = try #require(JPEGStructure.settingExistingOrientation(value, in: plain))
        try expectOriented(edited, value: value, plain: plain)
    }

    @Test(arguments: [(UInt16(3), true), (6, false), (8, true), (5, false), (7, true)])
    func addedExifSegmentOnAPhotoWithoutOne(value: UInt16, littleEndian: Bool) throws {
        let plain = try TestData.photo("obama_partial_face.jpg")
        let segment = JPEGStructure.exifSegment(orientation: value, littleEndian: littleEndian)
        try expectOriented(JPEGStructure.inserting(segment, into: plain), value: value, plain: plain)
    }

    @Test func orientationStoredAsALongIsAccepted() throws {
        let plain = try TestData.photo("obama_partial_face2.jpg")
        let segment = JPEGStructure.exifSegment(orientation: 6, littleEndian: false, orientationType: 4)
        try expectOriented(JPEGStructure.inserting(segment, into: plain), value: 6, plain: plain)
    }

    @Test func theFirstExifSegmentWins() throws {
        let plain = try TestData.photo("obama.jpg")  // already carries Exif with orientation 1
        let segment = JPEGStructure.exifSegment(orientation: 8, littleEndian: true)
        try expectOriented(JPEGStructure.inserting(segment, into: plain), value: 8, plain: plain)
    }

    /// The EXIF table states where stored corners go; a 3 x 2 image with four coloured corners checks it.
    @Test func cornersLandWhereTheExifTableSays() throws {
        // Stored: top-left red, top-right green, bottom-left blue, bottom-right white.
        let red: [UInt8] = [255, 0, 0], green: [UInt8] = [0, 255, 0], blue: [UInt8] = [0, 0, 255]
        let white: [UInt8] = [255, 255, 255], grey: [UInt8] = [128, 128, 128]
        let stored = RGBImage(width: 3, height: 2, pixels: red + grey + green + blue + grey + white)
        // Orientation 6: stored row 0 is the visual right side, stored column 0 the visual top.
        let six = stored.applying(.rotate90Clockwise)
        #expect(six.width == 2 && six.height == 3)
        #expect(six.pixel(1, 0) == red && six.pixel(1, 2) == green && six.pixel(0, 0) == blue && six.pixel(0, 2) == white)
        // Orientation 8: stored row 0 is the visual left side, stored column 0 the visual bottom.
        let eight = stored.applying(.rotate90CounterClockwise)
        #expect(eight.pixel(0, 2) == red && eight.pixel(0, 0) == green && eight.pixel(1, 2) == blue && eight.pixel(1, 0) == white)
        // Orientation 3: stored row 0 is the visual bottom, stored column 0 the visual right.
        let three = stored.applying(.rotate180)
        #expect(three.pixel(2, 1) == red && three.pixel(0, 1) == green && three.pixel(2, 0) == blue && three.pixel(0, 0) == white)
        // Applying an orientation and its inverse restores the image.
        #expect(six.applying(.rotate90CounterClockwise) == stored)
        #expect(stored.applying(.transverse).applying(.transverse) == stored)
    }

    @Test(arguments: [
        ("orientation value 9", JPEGStructure.exifSegment(orientation: 9, littleEndian: true)),
        ("orientation value 0", JPEGStructure.exifSegment(orientation: 0, littleEndian: false)),
        ("IFD offset past the end", ExifOrientationTests.exifWithIFDOffset(0xFFFF_FFF0)),
        ("entry count past the end", ExifOrientationTests.exifWithEntryCount(0xFFFF)),
        ("unknown byte order", ExifOrientationTests.replacing(at: 10, with: [0x41, 0x41])),
        ("orientation of type ASCII", JPEGStructure.exifSegment(orientation: 6, littleEndian: true, orientationType: 2)),
        ("segment cut to its header", Array(JPEGStructure.exifSegment(orientation: 6, littleEndian: true)[0..<4]) + Array("Exif".utf8) + [0, 0]),
    ] as [(String, [UInt8])])
    func malformedExifLeavesTheImageAsStored(label: String, segment: [UInt8]) throws {
        let plain = try TestData.photo("obama_partial_face.jpg")
        var patched = segment
        // Keep the segment length field consistent with whatever the case cut or kept.
        patched[2] = UInt8((segment.count - 2) >> 8)
        patched[3] = UInt8((segment.count - 2) & 0xFF)
        let decoder = ImageDecoder()
        let image = try decoder.decode(JPEGStructure.inserting(patched, into: plain))
        #expect(image == (try decoder.decode(plain)), "\(label)")
        #expect(try decoder.probe(JPEGStructure.inserting(patched, into: plain)).orientation == .identity)
    }

    private func expectOriented(_ oriented: [UInt8], value: UInt16, plain: [UInt8]) throws {
        let decoder = ImageDecoder()
        let upright = try decoder.decode(oriented)
        let stored = try decoder.decode(plain)
        let expected = ReferenceOrientation.apply(value, to: stored)
        #expect(upright.width == expected.width && upright.height == expected.height)
        #expect(upright == expected, "orientation \(value)")
        let info = try decoder.probe(oriented)
        #expect(info.orientation.rawValue == value)
        #expect(info.width == upright.width && info.height == upright.height)
    }

    static func exifWithIFDOffset(_ offset: UInt32) -> [UInt8] {
        var segment = JPEGStructure.exifSegment(orientation: 6, littleEndian: false)
        segment.replaceSubrange(14..<18, with: [UInt8].bigEndian(offset))
        return segment
    }

    static func exifWithEntryCount(_ count: UInt16) -> [UInt8] {
        // Many entries claimed, then the block ends after the first (the Make tag): no orientation found.
        var segment = JPEGStructure.exifSegment(orientation: 6, littleEndian: false)
        segment.replaceSubrange(18..<20, with: [UInt8].bigEndian(count))
        return Array(segment[0..<(20 + 12)])
    }

    static func replacing(at offset: Int, with bytes: [UInt8]) -> [UInt8] {
        var segment = JPEGStructure.exifSegment(orientation: 6, littleEndian: true)
        segment.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return segment
    }
}
