import Evaluation
import FaceEngine
import Foundation
import Imaging
import Installation
import SFaceEngine
import Testing

/// A small ORL subset copied to a temporary folder: `people` people, `images` photos each.
func orlSubset(people: Int, images: Int) throws -> URL {
    let source = Installation.fromEnvironment().orlFacesDirectory
    let folder = FileManager.default.temporaryDirectory.appending(path: "orl-subset-\(UUID().uuidString)")
    for person in 1...people {
        let target = folder.appending(path: "s\(person)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for image in 1...images {
            try FileManager.default.copyItem(
                at: source.appending(path: "s\(person)/\(image).pgm"), to: target.appending(path: "\(image).pgm"))
        }
    }
    return folder
}

@Suite("Probe degradations")
struct ProbeDegradationTests {
    static let engine = Task<FaceEngine, any Error> { try FaceEngine(installation: .fromEnvironment()) }

    @Test("each degradation is reproducible from its seed, changes the image, and keeps its size")
    func reproducible() async throws {
        let engine = try await Self.engine.value
        let file = Installation.fromEnvironment().orlFacesDirectory.appending(path: "s3/2.pgm")
        let image = try ImageDecoder().decode([UInt8](try Data(contentsOf: file)))
        let face = try #require(try await engine.detect(image: image).first)
        for kind in ProbeDegradation.allCases {
            let seed = kind.seed(protocolSeed: 7, person: 2, image: 1)
            let first = kind.apply(to: image, face: face, seed: seed)
            let again = kind.apply(to: image, face: face, seed: seed)
            #expect(first == again, "\(kind) is not reproducible")
            #expect(first.width == image.width && first.height == image.height)
            #expect(first.pixels != image.pixels, "\(kind) left the image unchanged")
        }
        // Probes and kinds draw independently.
        let seeds = Set(ProbeDegradation.allCases.map { $0.seed(protocolSeed: 7, person: 2, image: 1) }
            + [ProbeDegradation.blur.seed(protocolSeed: 7, person: 2, image: 2),
               ProbeDegradation.blur.seed(protocolSeed: 8, person: 2, image: 1)])
        #expect(seeds.count == ProbeDegradation.allCases.count + 2)
    }

    @Test("JPEG encoding round-trips through the decoder at the same size, lossy at low quality")
    func jpegRoundTrip() throws {
        let file = Installation.fromEnvironment().testPhotosDirectory.appending(path: "obama.jpg")
        let image = try ImageDecoder().decode([UInt8](try Data(contentsOf: file)))
        let low = try image.jpegData(quality: 5)
        let high = try image.jpegData(quality: 95)
        #expect(low.count < high.count)
        let decoded = try ImageDecoder().decode(low)
        #expect(decoded.width == image.width && decoded.height == image.height)
        #expect(throws: ImageEncodingError.invalidQuality(0)) { try image.jpegData(quality: 0) }
        #expect(throws: ImageEncodingError.emptyImage) { try RGBImage(width: 0, height: 0).jpegData(quality: 50) }
    }
}

@Suite("Engines side by side")
struct EngineComparisonTests {
    @Test("the degraded protocol enrols each first photo and counts every degraded probe of every other")
    func degradedProtocolCounts() async throws {
        let folder = try orlSubset(people: 6, images: 3)
        defer { try? FileManager.default.removeItem(at: folder) }
        let installation = Installation.fromEnvironment()
        let detector = try FaceEngine(installation: installation)
        let sface = SFaceRecognitionEngine(faceEngine: detector, installation: installation)
        let dataset = try LabelledDataset.load(from: folder)
        let extraction = await EngineExtraction.extract(
            from: dataset, detector: detector, engines: [sface], degradations: ProbeDegradation.allCases, seed: 11)
        #expect(extraction.clean.count == 1)
        #expect(extraction.clean[0].samples.count == 18)
        #expect(extraction.degraded.count == 6 * 2 * ProbeDegradation.allCases.count)

        // The engine seam gives the templates FaceEngine.analyze gives.
        let direct = await DatasetTemplates.extract(from: dataset, engine: detector)
        #expect(direct.samples.map(\.template) == extraction.clean[0].samples.map(\.template))

        let report = try EngineComparisonReport(extraction: extraction, fuse: false, operatingThresholds: ["sface": 0.363])
        let figures = try #require(report.degraded?.engines.first)
        #expect(figures.engine == "sface")
        #expect(figures.genuineComparisons == 60)
        let usable = extraction.degraded.count { if case .template = $0.outcomes[0] { true } else { false } }
        #expect(figures.impostorComparisons == usable * 5)
        #expect(figures.failedProbes == 60 - usable)
        #expect(figures.byDegradation.map(\.probes).reduce(0, +) == 60)
        for point in figures.operatingPoints {
            #expect((point.falseMatchRate ?? 1) <= point.targetFalseMatchRate)
        }
        let clean = try #require(report.report(of: "sface"))
        #expect(clean.enrolment.templates == 18)
        #expect(clean.engine.comparison == .cosineSimilarity)
        #expect(throws: EvaluationError.fusionNeedsTwoEngines) {
            try EngineComparisonReport(extraction: extraction, fuse: true, operatingThresholds: [:])
        }
        let page = report.htmlPage()
        #expect(page.contains("Degraded probes (seed 11)"))
        #expect(page.contains("<svg"))
    }
}
