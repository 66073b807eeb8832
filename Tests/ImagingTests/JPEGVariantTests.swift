import CTurboJPEG
import Imaging
import Testing

/// JPEG variants made by libturbojpeg's compressor from real pixels, and damaged JPEGs.
struct JPEGVariantTests {
    /// 151 x 189 real pixels: every sixth pixel of obama.jpg (odd sizes exercise partial blocks).
    static func source() throws -> RGBImage {
        try ImageDecoder().decode(TestData.photo("obama.jpg")).decimated(by: 6)
    }

    @Test func qualityHundredWithoutSubsamplingStaysCloseToTheSource() throws {
        let image = try Self.source()
        let jpeg = try TurboJPEGWriter.compress(image.pixels, width: image.width, height: image.height,
                                                pixelFormat: TJPF_RGB, subsampling: TJSAMP_444, quality: 100)
        let decoded = try ImageDecoder().decode(jpeg)
        #expect(decoded.width == 151 && decoded.height == 189)
        // Quality 100 quantises by 1: only colour conversion and IDCT rounding remain.
        #expect(decoded.maximumDifference(to: image) <= 6)
        let meanError = zip(decoded.pixels, image.pixels).map { abs(Double($0) - Double($1)) }.reduce(0, +)
            / Double(image.pixels.count)
        #expect(meanError < 1.0)
    }

    @Test func progressiveAndBaselineDecodeToTheSamePixels() throws {
        let image = try Self.source()
        let baseline = try TurboJPEGWriter.compress(image.pixels, width: image.width, height: image.height,
                                                    pixelFormat: TJPF_RGB, subsampling: TJSAMP_420, quality: 80)
        let progressive = try TurboJPEGWriter.compress(image.pixels, width: image.width, height: image.height,
                                                       pixelFormat: TJPF_RGB, subsampling: TJSAMP_420, quality: 80,
                                                       progressive: true)
        #expect(baseline != progressive)
        #expect(try ImageDecoder().decode(progressive) == ImageDecoder().decode(baseline))
    }

    @Test func greyscaleJPEGHasEqualChannels() throws {
        let image = try Self.source()
        let grey = image.greyscale()
        let jpeg = try TurboJPEGWriter.compress(grey, width: image.width, height: image.height,
                                                pixelFormat: TJPF_GRAY, subsampling: TJSAMP_GRAY, quality: 100)
        let decoded = try ImageDecoder().decode(jpeg)
        #expect(decoded.maximumDifference(to: RGBImage(greyscale: grey, width: image.width, height: image.height)) <= 2)
        #expect(decoded == RGBImage(greyscale: decoded.greyscale(), width: decoded.width, height: decoded.height))
    }

    /// CMYK JPEGs hold inverted inks (Adobe's convention): with K = 255, C, M and Y are R, G and B.
    @Test func cmykJPEGBecomesRGB() throws {
        let image = try Self.source()
        var cmyk: [UInt8] = []
        var expected: [UInt8] = []
        for index in 0..<image.width * image.height {
            let rgb = image.pixels[index * 3..<index * 3 + 3]
            let key: UInt8 = index % 2 == 0 ? 255 : 128
            cmyk += rgb + [key]
            expected += rgb.map { UInt8((Int($0) * Int(key) + 127) / 255) }
        }
        let jpeg = try TurboJPEGWriter.compress(cmyk, width: image.width, height: image.height,
                                                pixelFormat: TJPF_CMYK, subsampling: TJSAMP_444, quality: 100)
        let decoded = try ImageDecoder().decode(jpeg)
        let expectedImage = RGBImage(width: image.width, height: image.height, pixels: expected)
        let meanError = zip(decoded.pixels, expectedImage.pixels).map { abs(Double($0) - Double($1)) }.reduce(0, +)
            / Double(expected.count)
        #expect(meanError < 2.0, "mean error \(meanError)")
    }

    @Test func truncatedPhotoIsRejectedByDefaultAndPaintedGreyWhenAccepted() throws {
        let photo = try TestData.photo("obama_partial_face.jpg")
        let cut = Array(photo.prefix(photo.count * 2 / 3))
        #expect(throws: ImageDecodingError.truncated(format: .jpeg)) { try ImageDecoder().decode(cut) }
        let lenient = try ImageDecoder(jpegWarnings: .accept).decode(cut)
        let whole = try ImageDecoder().decode(photo)
        #expect(lenient.width == whole.width && lenient.height == whole.height)
        // The top rows survive; the missing bottom is filled in by libjpeg.
        let topRows = whole.width * 3 * 100
        #expect(Array(lenient.pixels.prefix(topRows)) == Array(whole.pixels.prefix(topRows)))
        #expect(lenient.pixels.suffix(topRows) != whole.pixels.suffix(topRows))
        // The header is intact, so probing still succeeds.
        #expect(try ImageDecoder().probe(cut).height == whole.height)
    }

    @Test func damagedEntropyDataIsCorruptUnlessAccepted() throws {
        let photo = try TestData.photo("obama2.jpg")
        let scan = try #require(JPEGStructure.segmentOffsets(photo).last)
        var damaged = photo
        // Restart-marker-like garbage in the middle of the scan.
        for offset in stride(from: scan + 20_000, to: scan + 20_064, by: 2) {
            damaged[offset] = 0xFF
            damaged[offset + 1] = 0xD3
        }
        do {
            _ = try ImageDecoder().decode(damaged)
            Issue.record("damaged scan data decoded under the reject policy")
        } catch {
            switch error {
            case .corrupt(.jpeg, let reason): #expect(!reason.isEmpty)
            default: Issue.record("unexpected \(error)")
            }
        }
        let accepted = try ImageDecoder(jpegWarnings: .accept).decode(damaged)
        #expect(accepted.width == 626 && accepted.height == 1200)
    }

    @Test func headerWithoutAFrameIsCorrupt() throws {
        let photo = try TestData.photo("obama.jpg")
        let frame = try #require(JPEGStructure.frameOffset(photo))
        // Keep everything before the frame header, then end the file.
        let headless = Array(photo.prefix(frame)) + [0xFF, 0xD9]
        let expected = ImageDecodingError.corrupt(format: .jpeg, reason: "the data holds tables but no image")
        #expect(throws: expected) { try ImageDecoder().decode(headless) }
        #expect(throws: expected) { try ImageDecoder().probe(headless) }
    }
}
