import DlibEngine
import Foundation
import Imaging
import Installation
import Testing

/// The Swift port of dlib's 5-point shape predictor against dlib 20.0.1 on the same images and
/// rectangles (`tools/dlib/alignment.py`).
@Suite struct ShapePredictorParityTests {
    @Test func thePinnedFileIsReadToItsLastByte() throws {
        let model = try AlignmentSupport.predictor.get().model
        #expect(model.partCount == 5)
        #expect(!model.cascades.isEmpty)
        for cascade in model.cascades {
            #expect(!cascade.trees.isEmpty)
            #expect(cascade.anchors.count == cascade.deltas.count)
        }
    }

    @Test func anotherFileIsRefusedByItsHash() throws {
        let yunet = AlignmentSupport.installation.originalFile(of: PinnedModel.yunet)
        let error = #expect(throws: ShapePredictorError.self) { try ShapePredictorModel.load(contentsOf: yunet) }
        guard case .unexpectedFile(_, _, let expected)? = error else {
            Issue.record("expected unexpectedFile, got \(String(describing: error))")
            return
        }
        #expect(expected == PinnedDlibModel.shapePredictor5.originalSHA256)
        // Without the hash check the bytes themselves are refused.
        #expect(throws: ShapePredictorError.self) {
            try ShapePredictorModel.load(contentsOf: yunet, verifyingHash: false)
        }
    }

    @Test func truncatedOrExtendedBytesAreRefused() throws {
        let file = AlignmentSupport.installation.originalFile(of: .shapePredictor5)
        let bytes = [UInt8](try Data(contentsOf: file))
        let truncated = #expect(throws: ShapePredictorError.self) {
            try ShapePredictorModel(serialized: Array(bytes.prefix(bytes.count - 3)))
        }
        guard case .malformed(.unexpectedEnd)? = truncated else {
            Issue.record("expected malformed(unexpectedEnd), got \(String(describing: truncated))")
            return
        }
        #expect(throws: ShapePredictorError.malformed(.trailingBytes(offset: bytes.count, count: 2))) {
            try ShapePredictorModel(serialized: bytes + [0x01, 0x00])
        }
        var otherVersion = bytes
        otherVersion[1] = 2
        #expect(throws: ShapePredictorError.invalidModel(reason: "shape_predictor version 2, expected 1")) {
            try ShapePredictorModel(serialized: otherVersion)
        }
    }

    /// The PNG decodes to exactly dlib's pixels. dlib's bundled libjpeg and libjpeg-turbo decode
    /// JPEG slightly differently, so the JPEG cases run on BioMatch's decode of the same file:
    /// same size, channel means within half a grey level of dlib's.
    @Test func theDecodedPhotosAreThePixelsDlibSaw() throws {
        let fixture = try AlignmentFixture.load()
        for fixtureCase in fixture.cases {
            let image = try AlignmentSupport.image(of: fixtureCase)
            #expect(image.width == fixtureCase.width && image.height == fixtureCase.height, "\(fixtureCase.name)")
            if fixtureCase.image.hasSuffix(".png") {
                #expect(FileDigest.sha256(of: image.pixels) == fixtureCase.pixelsSHA256, "\(fixtureCase.name)")
            }
            let means = AlignmentSupport.channelMeans(image)
            for channel in 0..<3 {
                #expect(abs(means[channel] - fixtureCase.channelMeans[channel]) < 0.5, "\(fixtureCase.name) channel \(channel)")
            }
        }
    }

    @Test func pointsMatchDlibOnTheSameRectangles() throws {
        let fixture = try AlignmentFixture.load()
        let predictor = try AlignmentSupport.predictor.get()
        var compared = 0
        for fixtureCase in fixture.cases {
            let image = try AlignmentSupport.image(of: fixtureCase)
            let rectangles = [(fixtureCase.detectorRect, fixtureCase.points)] + fixtureCase.derived.map { ($0.rect, $0.points) }
            for (rectangle, expected) in rectangles {
                let points = predictor.points(in: image, rectangle: rectangle.dlib)
                let worst = zip(points, expected).map { max(abs($0.x - $1[0]), abs($0.y - $1[1])) }.max() ?? .infinity
                #expect(worst <= 0.5, "\(fixtureCase.name) on \(rectangle): \(points) vs dlib \(expected)")
                compared += 1
            }
        }
        #expect(compared == fixture.cases.count * 4)
    }
}
