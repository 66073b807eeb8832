import Foundation

/// `Fixtures/opencv_reference.json`: what OpenCV 4.14 reports on the test photos
/// (written by `tools/opencv/reference.py`; its README describes every field).
struct OpenCVReference: Decodable {
    struct Image: Decodable {
        var id: String
        var path: String
        var width: Int
        var height: Int
        var runs: [Run]

        /// The run to compare with an engine at the given detection cap: `long_side_640` for images
        /// larger than the cap, otherwise `native`.
        func run(named name: String) -> Run? { runs.first { $0.name == name } }
    }

    struct Run: Decodable {
        var name: String
        var detectWidth: Int
        var detectHeight: Int
        var border: Int?
        var faces: [Face]
    }

    struct Face: Decodable {
        var box: [Double]
        var landmarks: [[Double]]
        var score: Double
        var crop: Crop
        var feature: [Float]
    }

    struct Crop: Decodable {
        var meanRgb: [Double]
        /// `[x, y, r, g, b]` at integer pixels of the 112x112 crop.
        var samples: [[Int]]
    }

    struct Pairs: Decodable {
        var run: String
        var pairs: [Pair]
    }

    struct Pair: Decodable {
        var a: String
        var b: String
        var cosine: Double
    }

    var images: [Image]
    var pairwiseCosine: [Pairs]

    static let shared: OpenCVReference = {
        guard let url = Bundle.module.url(forResource: "opencv_reference", withExtension: "json", subdirectory: "Fixtures")
        else { fatalError("Fixtures/opencv_reference.json is not in the test bundle") }
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(OpenCVReference.self, from: Data(contentsOf: url))
        } catch {
            fatalError("Fixtures/opencv_reference.json does not decode: \(error)")
        }
    }()
}
