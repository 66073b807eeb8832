import DlibEngine
import FaceEngine
import Foundation
import Imaging
import Installation

/// `Fixtures/alignment/alignment.json` and the chip PNGs beside it, written by
/// `tools/dlib/alignment.py` with dlib 20.0.1.
struct AlignmentFixture: Decodable {
    struct Rectangle: Decodable {
        var left: Int
        var top: Int
        var right: Int
        var bottom: Int

        var dlib: DlibRectangle { DlibRectangle(left: left, top: top, right: right, bottom: bottom) }
    }

    struct DerivedRectangle: Decodable {
        var rect: Rectangle
        var points: [[Double]]
    }

    struct ChipRectangle: Decodable {
        var left: Double
        var top: Double
        var right: Double
        var bottom: Double
    }

    struct Case: Decodable {
        var name: String
        var image: String
        var enlargement: Int
        var width: Int
        var height: Int
        var pixelsSHA256: String
        var channelMeans: [Double]
        var detectorRect: Rectangle
        var points: [[Double]]
        var derived: [DerivedRectangle]
        var chipRect: ChipRectangle
        var chipAngle: Double
        var chip: String

        var landmarks: DlibFaceLandmarks { DlibFaceLandmarks(points: points.map { ImagePoint(x: $0[0], y: $0[1]) }) }
    }

    struct ORLFace: Decodable {
        var image: String
        var detectorRect: Rectangle?
    }

    var dlibVersion: String
    var predictorSHA256: String
    var chipSize: Int
    var chipPadding: Double
    var cases: [Case]
    var orl: [ORLFace]

    static let directory = Bundle.module.resourceURL!.appending(path: "Fixtures/alignment")

    static func load() throws -> AlignmentFixture {
        try JSONDecoder().decode(AlignmentFixture.self, from: Data(contentsOf: directory.appending(path: "alignment.json")))
    }

    /// dlib's chip for a case, decoded from its PNG.
    static func chip(of fixtureCase: Case) throws -> RGBImage {
        try ImageDecoder().decode(contentsOf: directory.appending(path: fixtureCase.chip))
    }
}

enum AlignmentSupport {
    static let installation = Installation.fromEnvironment()

    /// The predictor, loaded once for all tests.
    static let predictor: Result<ShapePredictor, ShapePredictorError> = Result { () throws(ShapePredictorError) in
        ShapePredictor(model: try ShapePredictorModel.load(from: installation))
    }

    /// The case's image as the fixture script saw it: the photo decoded by BioMatch, enlarged by
    /// pixel replication when the case asks for it.
    static func image(of fixtureCase: AlignmentFixture.Case) throws -> RGBImage {
        let photo = try ImageDecoder().decode(contentsOf: installation.testPhotosDirectory.appending(path: fixtureCase.image))
        return enlarged(photo, by: fixtureCase.enlargement)
    }

    static func enlarged(_ image: RGBImage, by factor: Int) -> RGBImage {
        guard factor > 1 else { return image }
        let width = image.width * factor, height = image.height * factor
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            for column in 0..<width {
                let from = ((row / factor) * image.width + column / factor) * 3
                let to = (row * width + column) * 3
                pixels[to] = image.pixels[from]
                pixels[to + 1] = image.pixels[from + 1]
                pixels[to + 2] = image.pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The largest absolute difference of two equally sized images' bytes, and how many bytes differ.
    static func difference(_ first: RGBImage, _ second: RGBImage) -> (maximum: Int, differing: Int, mean: Double) {
        precondition(first.width == second.width && first.height == second.height)
        var maximum = 0, differing = 0, total = 0
        for index in first.pixels.indices {
            let delta = abs(Int(first.pixels[index]) - Int(second.pixels[index]))
            maximum = max(maximum, delta)
            total += delta
            if delta != 0 { differing += 1 }
        }
        return (maximum, differing, Double(total) / Double(first.pixels.count))
    }

    /// The mean of each channel.
    static func channelMeans(_ image: RGBImage) -> [Double] {
        var sums = [0, 0, 0]
        for index in image.pixels.indices {
            sums[index % 3] += Int(image.pixels[index])
        }
        return sums.map { Double($0) / Double(image.width * image.height) }
    }

    /// The largest coordinate difference between two point lists.
    static func pointDistance(_ first: [ImagePoint], _ second: [ImagePoint]) -> [Double] {
        zip(first, second).map { (($0.x - $1.x) * ($0.x - $1.x) + ($0.y - $1.y) * ($0.y - $1.y)).squareRoot() }
    }
}
