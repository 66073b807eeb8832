import ArgumentParser
import FaceEngine
import Foundation

/// One face as the CLI reports it.
struct FaceReport: Encodable {
    var box: FaceBox
    var landmarks: FaceLandmarks
    var score: Float
    var quality: FaceQuality
    var acceptable: Bool
    var qualityFailures: [String]
    var template: [Float]?
    var model: String?

    init(_ face: AnalyzedFace, includeTemplate: Bool) {
        box = face.detection.box
        landmarks = face.detection.landmarks
        score = face.detection.score
        quality = face.quality
        acceptable = face.verdict.isAcceptable
        qualityFailures = face.verdict.failures.map(\.description)
        template = includeTemplate ? face.template.values : nil
        model = includeTemplate ? face.template.modelIdentifier : nil
    }

    var summary: String {
        let verdict = acceptable ? "quality ok" : "quality poor: " + qualityFailures.joined(separator: "; ")
        return String(
            format: "face at x=%.1f y=%.1f w=%.1f h=%.1f score=%.3f eyes=%.1fpx yaw=%.1f roll=%.1f, %@",
            box.x, box.y, box.width, box.height, score, quality.interOcularDistance,
            quality.yawDegrees, quality.rollDegrees, verdict)
    }
}

/// One image as the CLI reports it.
struct ImageReport: Encodable {
    var image: String
    var width: Int
    var height: Int
    var faces: [FaceReport]
}

/// `biomatch detect IMG...`: every face with box, landmarks, score and quality.
struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect", abstract: "Find every face in images, with landmarks and quality.")

    @OptionGroup var engineOptions: EngineOptions
    @Flag(help: "Print one JSON line per image.") var json = false
    @Argument(help: "Image files (JPEG, PNG, PGM, PPM).") var images: [String]

    func run() async throws {
        let engine = try engineOptions.makeEngine()
        for path in images {
            let analysis = try await engine.analysis(ofImageBytes: try readImageFile(path))
            let report = ImageReport(
                image: path, width: analysis.imageWidth, height: analysis.imageHeight,
                faces: analysis.faces.map { FaceReport($0, includeTemplate: false) })
            if json {
                try printJSON(report)
            } else {
                print("\(path): \(report.width)x\(report.height), \(report.faces.count) face(s)")
                for face in report.faces { print("  " + face.summary) }
            }
        }
    }
}

/// `biomatch embed IMG`: the template of every face in one image.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Compute the 128-float template of every face in an image.")

    @OptionGroup var engineOptions: EngineOptions
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "An image file.") var image: String

    func run() async throws {
        let engine = try engineOptions.makeEngine()
        let analysis = try await engine.analysis(ofImageBytes: try readImageFile(image))
        let report = ImageReport(
            image: image, width: analysis.imageWidth, height: analysis.imageHeight,
            faces: analysis.faces.map { FaceReport($0, includeTemplate: true) })
        if json {
            try printJSON(report)
            return
        }
        print("\(image): \(report.faces.count) face(s)")
        for face in report.faces {
            print("  " + face.summary)
            let values = (face.template ?? []).map { String(format: "%.5f", $0) }
            print("  \(face.model ?? ""): [" + values.joined(separator: ", ") + "]")
        }
    }
}

/// The outcome of `biomatch compare`.
struct ComparisonReport: Encodable {
    var imageA: String
    var imageB: String
    var cosine: Float
    var threshold: Float
    var samePerson: Bool
    var model: String
}

/// `biomatch compare IMG_A IMG_B`: cosine of the largest faces and the verdict at the operating point.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare the largest face of two images.",
        discussion: "A score at or above the threshold means the faces are similar enough to be reviewed "
            + "as the same person; it is a lead, not an identification.")

    @OptionGroup var engineOptions: EngineOptions
    @Option(help: "Operating point: cosine at or above it reads as the same person.")
    var threshold: Float = 0.363
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "First image.") var imageA: String
    @Argument(help: "Second image.") var imageB: String

    func validate() throws {
        guard (-1...1).contains(threshold) else { throw ValidationError("--threshold must lie in -1...1") }
    }

    func run() async throws {
        let engine = try engineOptions.makeEngine()
        let first = try await largestFace(in: imageA, engine: engine)
        let second = try await largestFace(in: imageB, engine: engine)
        let cosine = try first.template.cosineSimilarity(to: second.template)
        let report = ComparisonReport(
            imageA: imageA, imageB: imageB, cosine: cosine, threshold: threshold,
            samePerson: cosine >= threshold, model: first.template.modelIdentifier)
        if json {
            try printJSON(report)
        } else {
            let verdict = report.samePerson ? "same person (lead for review)" : "different people"
            print(String(format: "cosine %.4f, threshold %.3f: %@", cosine, threshold, verdict))
        }
    }

    private func largestFace(in path: String, engine: FaceEngine) async throws -> AnalyzedFace {
        let faces = try await engine.analyze(imageBytes: try readImageFile(path))
        guard let face = faces.max(by: { $0.detection.box.area < $1.detection.box.area }) else {
            throw CommandFailure("No face found in \(path)")
        }
        return face
    }
}
