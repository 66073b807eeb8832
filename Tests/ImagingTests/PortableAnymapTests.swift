import Imaging
import Testing

/// PGM and PPM in both encodings, every maxval range, and malformed headers.
struct PortableAnymapTests {
    static func face() throws -> RGBImage {
        try ImageDecoder().decode(TestData.orlFace(subject: 3, shot: 5))
    }

    @Test func plainGreymapMatchesTheRawOne() throws {
        let image = try Self.face()
        let grey = image.greyscale()
        #expect(image == RGBImage(greyscale: grey, width: 92, height: 112))
        var text = "P2\n# plain greymap\n92 112\n255\n"
        for (index, value) in grey.enumerated() { text += "\(value)" + (index % 17 == 16 ? "\n" : " ") }
        #expect(try ImageDecoder().decode(Array(text.utf8)) == image)
    }

    @Test func plainPixmapWithCommentsBetweenHeaderFields() throws {
        let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 7, 8, 9]
        let text = "P3 # a comment\n2 # width\n2\n# maxval next\n255\n" + pixels.map(String.init).joined(separator: " ")
        let image = try ImageDecoder().decode(Array(text.utf8))
        #expect(image == RGBImage(width: 2, height: 2, pixels: pixels))
    }

    @Test func sixteenBitRawSamplesAreBigEndianAndScaled() throws {
        let samples: [UInt16] = [0, 257, 32768, 65535, 1000, 65280]
        let bytes = Array("P6\n2 1\n65535\n".utf8) + samples.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let image = try ImageDecoder().decode(bytes)
        let expected = samples.map { UInt8((Int($0) * 255 + 32767) / 65535) }
        #expect(image.pixels == expected)
        #expect(image.pixels == [0, 1, 128, 255, 4, 254])
    }

    @Test func smallMaxValueStretchesToTheFullRange() throws {
        let raw = Array("P5\n4 1\n15\n".utf8) + [0, 5, 10, 15]
        #expect(try ImageDecoder().decode(raw).greyscale() == [0, 85, 170, 255])
        let plain = Array("P2 4 1 3 0 1 2 3".utf8)
        #expect(try ImageDecoder().decode(plain).greyscale() == [0, 85, 170, 255])
    }

    @Test func malformedFilesFailWithTypedErrors() throws {
        let face = try TestData.orlFace(subject: 1, shot: 1)
        let decoder = ImageDecoder()
        let cases: [([UInt8], ImageDecodingError)] = [
            (Array(face.dropLast(1)), .truncated(format: .pgm)),
            (Array("P5\n92 112\n".utf8), .truncated(format: .pgm)),
            (Array("P6\n0 10\n255\n".utf8), .invalidDimensions(format: .ppm, width: 0, height: 10)),
            (Array("P5\n4 1\n15\n".utf8) + [0, 16, 1, 2], .corrupt(format: .pgm, reason: "a sample exceeds the maximum value 15")),
            (Array("P2 2 1 9 3 10".utf8), .corrupt(format: .pgm, reason: "a sample exceeds the maximum value 9")),
            (Array("P2 2 1 9 3".utf8), .truncated(format: .pgm)),
            (Array("P5\n4 1\n0\n".utf8) + [0, 0, 0, 0], .corrupt(format: .pgm, reason: "the maximum sample value is 0")),
            (Array("P5\n4 1\n70000\n".utf8), .corrupt(format: .pgm, reason: "the maximum sample value is larger than 65535")),
            (Array("P5\nwide 1\n255\n".utf8), .corrupt(format: .pgm, reason: "expected a decimal number for the width")),
            (Array("P5\n99999999999 1\n255\n".utf8), .corrupt(format: .pgm, reason: "the width is larger than 2147483647")),
            (Array("P6\n4 1\n255x".utf8), .corrupt(format: .ppm, reason: "no whitespace after the maximum sample value")),
            (Array("P6\n50000 50000\n255\n".utf8), .tooManyPixels(width: 50000, height: 50000, limit: 40_000_000)),
            (Array("P6\n40000 10\n255\n".utf8), .dimensionTooLarge(width: 40000, height: 10, limit: 30_000)),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try decoder.decode(bytes) }
        }
    }
}
