import ArgumentParser
import FaceEngine
import Foundation
import Imaging

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
    /// The engine that compared the faces.
    var engine: String
    /// The score in the engine's native unit (SFace: cosine; dlib: Euclidean distance).
    var score: Float
    /// `higher-is-more-alike` or `lower-is-more-alike`.
    var scoreDirection: String
    /// The score again, for a cosine engine (nil otherwise).
    var cosine: Float?
    var threshold: Float
    var samePerson: Bool
    var model: String
}

/// `biomatch compare IMG_A IMG_B [--engine E]`: the score of the largest faces by an engine and the verdict at its operating point.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare the largest face of two images.",
        discussion: "A score at or above the threshold means the faces are similar enough to be reviewed "
            + "as the same person; it is a lead, not an identification.")

    @OptionGroup var engineOptions: EngineOptions
    @Option(help: "Operating point in the engine's native unit (default: its published one; SFace: a cosine at or above 0.363 reads as the same person; dlib: a distance below 0.6).")
    var threshold: Float?
    @Option(help: "The recognition engine that compares the faces (see `biomatch engines list`; default sface).")
    var engine = "sface"
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "First image.") var imageA: String
    @Argument(help: "Second image.") var imageB: String

    func validate() throws {
        if let threshold, !(threshold.isFinite && (-1...1).contains(threshold)) {
            throw ValidationError("--threshold must lie in -1...1")
        }
    }

    func run() async throws {
        let detector = try engineOptions.makeEngine()
        let registry = try EngineOptions.registry(faceEngine: detector, installation: .fromEnvironment())
        let recogniser = try registry.engine(named: engine)
        let profile = recogniser.profile
        let threshold = threshold ?? profile.sameSubjectThreshold
        var templates: [FaceTemplate] = []
        for path in [imageA, imageB] {
            let image = try ImageDecoder(limits: detector.configuration.decodingLimits).decode(try readImageFile(path))
            let faces = try await detector.detect(image: image)
            guard let face = faces.max(by: { $0.box.area < $1.box.area }) else { throw CommandFailure("No face found in \(path)") }
            templates += try await recogniser.templates(for: [face], in: image)
        }
        let score = profile.comparison.score(templates[0].values, templates[1].values)
        let cosineEngine = profile.comparison == .cosineSimilarity
        let report = ComparisonReport(
            imageA: imageA, imageB: imageB, engine: profile.identifier, score: score,
            scoreDirection: profile.comparison.higherIsMoreAlike ? "higher-is-more-alike" : "lower-is-more-alike",
            cosine: cosineEngine ? score : nil, threshold: threshold,
            samePerson: profile.comparison.isMatch(score, threshold: threshold), model: templates[0].modelIdentifier)
        if json {
            try printJSON(report)
        } else {
            let verdict = report.samePerson ? "same person (lead for review)" : "different people"
            let unit = cosineEngine ? "cosine" : "distance"
            print(String(format: "%@ %@ %.4f, threshold %.3f: %@", profile.identifier, unit, score, threshold, verdict))
        }
    }

}
