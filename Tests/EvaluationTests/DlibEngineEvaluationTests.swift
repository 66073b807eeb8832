import DlibEngine
import Evaluation
import FaceEngine
import Foundation
import Imaging
import Installation
import ONNXRuntime
import SFaceEngine
import Testing

/// dlib behind the engine seam, on YuNet's detections: the test photos and an ORL subset, alone
/// and fused with SFace.
@Suite("dlib as a recognition engine")
struct DlibEngineEvaluationTests {
    static let engines = Task<(FaceEngine, SFaceRecognitionEngine, DlibRecognitionEngine), any Error> {
        let installation = Installation.fromEnvironment()
        let detector = try FaceEngine(installation: installation)
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        return (
            detector, SFaceRecognitionEngine(faceEngine: detector, installation: installation),
            try DlibRecognitionEngine(environment: runtime, installation: installation))
    }

    private func template(of photo: String, detector: FaceEngine, engine: any RecognitionEngine) async throws -> FaceTemplate {
        let file = Installation.fromEnvironment().testPhotosDirectory.appending(path: photo)
        let image = try ImageDecoder().decode([UInt8](try Data(contentsOf: file)))
        let face = try #require(try await detector.detect(image: image).max { $0.box.area < $1.box.area })
        return try #require(try await engine.templates(for: [face], in: image).first)
    }

    @Test("obama pairs are below dlib's 0.6, obama and biden above it; templates are raw 128-D and tagged")
    func testPhotos() async throws {
        let (detector, _, dlib) = try await Self.engines.value
        #expect(dlib.profile.identifier == "dlib")
        #expect(dlib.profile.comparison == .euclideanDistance)
        #expect(dlib.profile.models.map(\.role) == ["recogniser", "landmarks"])
        var obama: [FaceTemplate] = []
        for photo in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
            obama.append(try await template(of: photo, detector: detector, engine: dlib))
        }
        let biden = try await template(of: "biden.jpg", detector: detector, engine: dlib)
        #expect(obama[0].values.count == 128)
        #expect(!obama[0].isUnitLength)
        #expect(obama[0].modelIdentifier == "dlib-resnet-v1")
        for (first, second) in [(0, 1), (0, 2), (1, 2)] {
            let distance = try dlib.compare(obama[first], obama[second])
            #expect(distance < 0.6, "obama \(first) vs \(second): \(distance)")
        }
        for face in obama {
            let distance = try dlib.compare(face, biden)
            #expect(distance > 0.6, "obama vs biden: \(distance)")
        }
    }

    @Test("an ORL subset: every photo yields a dlib template, rank-1 >= 0.99; fusion is fitted, fused and evaluated")
    func orlSubsetAndFusion() async throws {
        let (detector, sface, dlib) = try await Self.engines.value
        let folder = try orlSubset(people: 12, images: 5)
        defer { try? FileManager.default.removeItem(at: folder) }
        let dataset = try LabelledDataset.load(from: folder)
        let extraction = await EngineExtraction.extract(from: dataset, detector: detector, engines: [sface, dlib])
        #expect(extraction.clean.map(\.engine.engine) == ["sface", "dlib"])
        #expect(extraction.clean[1].failures.map(\.file) == [])
        let report = try EngineComparisonReport(
            extraction: extraction, fuse: true, operatingThresholds: ["sface": 0.363, "dlib": -0.6])
        #expect(report.engines.map(\.engine.engine) == ["sface", "dlib", "fusion"])
        let dlibReport = try #require(report.report(of: "dlib"))
        #expect(try #require(dlibReport.identification.rankOneHitRate) >= 0.99)
        #expect(dlibReport.engine.comparison == .euclideanDistance)
        let fusion = try #require(report.fusion)
        #expect(fusion.parts.map(\.engine) == ["sface", "dlib"])
        // dlib's impostor distances (about 0.8) negated; SFace's impostor cosines near zero.
        #expect(fusion.parts[1].impostorMean < -0.5)
        #expect(abs(fusion.parts[0].impostorMean) < 0.3)
        let fused = try #require(report.report(of: "fusion"))
        #expect(fused.enrolment.templates == 60)
        #expect(try #require(fused.identification.rankOneHitRate) >= 0.99)
        // The fused score of a pair is the mean of its engines' z-scores.
        let first = try #require(extraction.clean[0].samples[0].template)
        let second = try #require(extraction.clean[0].samples[5].template)
        let firstD = try #require(extraction.clean[1].samples[0].template)
        let secondD = try #require(extraction.clean[1].samples[5].template)
        let expected = fusion.fuse([
            try sface.compare(first, second), -(try dlib.compare(firstD, secondD)),
        ])
        let zs = (try sface.compare(first, second) - fusion.parts[0].impostorMean) / fusion.parts[0].impostorDeviation
        let zd = (-(try dlib.compare(firstD, secondD)) - fusion.parts[1].impostorMean) / fusion.parts[1].impostorDeviation
        #expect(abs(expected - (zs + zd) / 2) < 1e-5)
    }
}
