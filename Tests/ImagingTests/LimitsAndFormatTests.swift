import Foundation
import Imaging
import Testing

/// Limits are enforced from headers before any pixel is decoded; other inputs fail with typed errors.
struct LimitsAndFormatTests {
    /// A PNG that is only a signature and an IHDR (valid CRC) claiming `width` x `height`.
    static func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        HandmadePNG.pngSignatureBytes + HandmadePNG.ihdr(width: width, height: height, bitDepth: 8, colorType: 2)
            + HandmadePNG.chunk("IEND", [])
    }

    @Test func hundredMegapixelPNGHeaderIsRefusedBeforeDecoding() throws {
        let header = Self.pngHeader(width: 10_000, height: 10_000)
        let expected = ImageDecodingError.tooManyPixels(width: 10_000, height: 10_000, limit: 40_000_000)
        #expect(throws: expected) { try ImageDecoder().decode(header) }
        #expect(throws: expected) { try ImageDecoder().probe(header) }
        // The same header under a limit it fits passes the check and reaches libpng, which finds no image data.
        let roomy = ImageDecoder(limits: DecodingLimits(maxPixels: 200_000_000))
        #expect(try roomy.probe(header) == ImageInfo(format: .png, width: 10_000, height: 10_000, orientation: .identity))
        #expect(throws: ImageDecodingError.self) { try roomy.decode(header) }
    }

    @Test func largestPNGHeaderDoesNotOverflow() {
        let header = Self.pngHeader(width: 0xFFFF_FFFF, height: 0xFFFF_FFFF)
        #expect(throws: ImageDecodingError.tooManyPixels(width: 4_294_967_295, height: 4_294_967_295, limit: 40_000_000)) {
            try ImageDecoder().decode(header)
        }
    }

    @Test func zeroSizedPNGIsInvalid() {
        #expect(throws: ImageDecodingError.invalidDimensions(format: .png, width: 0, height: 5)) {
            try ImageDecoder().decode(Self.pngHeader(width: 0, height: 5))
        }
    }

    @Test func absurdAspectRatioIsRefused() {
        #expect(throws: ImageDecodingError.dimensionTooLarge(width: 1_000_000, height: 2, limit: 30_000)) {
            try ImageDecoder().decode(Self.pngHeader(width: 1_000_000, height: 2))
        }
    }

    @Test func jpegFrameClaimingHugeSizeIsRefusedBeforeDecoding() throws {
        var photo = try TestData.photo("obama.jpg")
        let frame = try #require(JPEGStructure.frameOffset(photo))
        photo.replaceSubrange(frame + 5..<frame + 9, with: [0xEA, 0x60, 0xEA, 0x60])  // height, width = 60000
        #expect(throws: ImageDecodingError.tooManyPixels(width: 60000, height: 60000, limit: 40_000_000)) {
            try ImageDecoder().decode(photo)
        }
        // libjpeg itself refuses sides over 65500.
        photo.replaceSubrange(frame + 5..<frame + 9, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: ImageDecodingError.corrupt(format: .jpeg, reason: "Maximum supported image dimension is 65500 pixels")) {
            try ImageDecoder().probe(photo)
        }
        // A limit below the real size refuses the real photo, too.
        let small = ImageDecoder(limits: DecodingLimits(maxPixels: 1_000_000))
        #expect(throws: ImageDecodingError.tooManyPixels(width: 910, height: 1137, limit: 1_000_000)) {
            try small.decode(TestData.photo("obama.jpg"))
        }
    }

    @Test func inputOverTheSizeLimitIsRefused() throws {
        let photo = try TestData.photo("obama.jpg")
        let decoder = ImageDecoder(limits: DecodingLimits(maxEncodedBytes: 100_000))
        #expect(throws: ImageDecodingError.tooLarge(bytes: photo.count, limit: 100_000)) { try decoder.decode(photo) }
        #expect(throws: ImageDecodingError.tooLarge(bytes: photo.count, limit: 100_000)) { try decoder.probe(photo) }
        let url = TestData.installation.testPhotosDirectory.appending(path: "obama.jpg")
        #expect(throws: ImageDecodingError.tooLarge(bytes: photo.count, limit: 100_000)) {
            try decoder.decode(contentsOf: url)
        }
    }

    @Test func emptyAndForeignInputs() throws {
        let decoder = ImageDecoder()
        #expect(throws: ImageDecodingError.empty) { try decoder.decode([UInt8]()) }
        #expect(throws: ImageDecodingError.empty) { try decoder.probe(Data()) }
        let cases: [(String, String)] = [
            ("GIF89a\u{1}\u{0}\u{1}\u{0}", "GIF"),
            ("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ", "WebP"),
            ("BM6\u{0}\u{0}\u{0}", "BMP"),
            ("P4\n1 1\n", "PBM (bitmap)"),
            ("{\"json\": true}", "unknown signature 7B 22 6A 73 6F 6E 22 3A"),
        ]
        for (text, signature) in cases {
            #expect(throws: ImageDecodingError.unsupportedFormat(signature: signature)) {
                try decoder.decode(Array(text.utf8))
            }
        }
        #expect(ImageFormat.sniff(Array("not an image".utf8)) == nil)
    }

    @Test func missingFileIsUnreadable() {
        let url = URL(filePath: "/nonexistent/biomatch/photo.jpg")
        do {
            _ = try ImageDecoder().decode(contentsOf: url)
            Issue.record("a missing file decoded")
        } catch {
            guard case .unreadableFile(let path, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == "/nonexistent/biomatch/photo.jpg")
        }
    }

    @Test func errorDescriptionsNameTheProblem() {
        #expect(ImageDecodingError.tooManyPixels(width: 10_000, height: 10_000, limit: 40_000_000).description
            == "The image is 10000 x 10000 pixels, more than the limit of 40000000 pixels.")
        #expect(ImageDecodingError.truncated(format: .png).description == "The PNG data ends before the image does.")
        #expect(ImageDecodingError.corrupt(format: .jpeg, reason: "Bogus marker length").description
            .hasSuffix("Bogus marker length"))
    }
}
