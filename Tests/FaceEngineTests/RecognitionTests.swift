import FaceEngine
import Foundation
import Installation
import Testing

/// Same-person and different-person scores on the public test photos.
@Suite("Recognition on the test photos")
struct RecognitionTests {
    /// The best face of each photo.
    static func templates() async throws -> [String: FaceTemplate] {
        let engine = try TestSupport.engine.get()
        var templates: [String: FaceTemplate] = [:]
        for name in ["obama", "obama2", "obama3", "biden", "astronaut"] {
            let extensionName = name == "astronaut" ? "png" : "jpg"
            let faces = try await engine.analyze(imageBytes: TestSupport.bytes("photos/\(name).\(extensionName)"))
            templates[name] = try #require(faces.first, "no face in \(name)").template
        }
        return templates
    }

    @Test("photos of the same man score at least 0.6; everyone else at most 0.3")
    func genuineAndImpostorScores() async throws {
        let templates = try await Self.templates()
        let obamas = ["obama", "obama2", "obama3"]
        for (first, second) in [("obama", "obama2"), ("obama", "obama3"), ("obama2", "obama3")] {
            let score = try templates[first]!.cosineSimilarity(to: templates[second]!)
            #expect(score >= 0.6, "\(first) vs \(second): \(score)")
        }
        for other in ["biden", "astronaut"] {
            for obama in obamas {
                let score = try templates[other]!.cosineSimilarity(to: templates[obama]!)
                #expect(score <= 0.3, "\(other) vs \(obama): \(score)")
            }
        }
        let score = try templates["biden"]!.cosineSimilarity(to: templates["astronaut"]!)
        #expect(score <= 0.3, "biden vs astronaut: \(score)")
    }

    @Test("every photo's template carries the SFace model identifier")
    func modelIdentifier() async throws {
        let templates = try await Self.templates()
        #expect(templates.values.allSatisfy { $0.modelIdentifier == "sface-2021dec" && $0.values.count == 128 })
    }

    @Test("the good photos pass the standard quality thresholds")
    func goodPhotosPass() async throws {
        let engine = try TestSupport.engine.get()
        for path in ["photos/obama.jpg", "photos/obama2.jpg", "photos/obama3.jpg", "photos/biden.jpg", "photos/astronaut.png"] {
            let faces = try await engine.analyze(imageBytes: TestSupport.bytes(path))
            let face = try #require(faces.first)
            #expect(face.verdict.isAcceptable, "\(path): \(face.verdict.failures.map(\.description))")
        }
    }

    @Test("blurring or darkening a real face crop makes it fail quality")
    func degradedRealCrop() async throws {
        let engine = try TestSupport.engine.get()
        let faces = try await engine.analyze(imageBytes: TestSupport.bytes("photos/obama.jpg"))
        let face = try #require(faces.first)
        let crop = try #require(face.alignedCrop)
        let good = FaceQuality(face: face.detection, alignedCrop: crop)
        #expect(good.verdict(under: .standard).isAcceptable)

        // Shrink to a quarter and back: what an upscaled thumbnail looks like.
        let soft = crop.resizedBilinear(width: 28, height: 28).resizedBilinear(width: 112, height: 112)
        let blurred = FaceQuality(face: face.detection, alignedCrop: soft).verdict(under: .standard)
        #expect(blurred.failures.contains { if case .blurred = $0 { true } else { false } }, "\(blurred.failures)")

        var dark = crop
        dark.pixels = crop.pixels.map { $0 / 6 }
        let darkened = FaceQuality(face: face.detection, alignedCrop: dark).verdict(under: .standard)
        #expect(darkened.failures.contains { if case .tooDark = $0 { true } else { false } }, "\(darkened.failures)")
    }

    @Test("concurrent calls on one engine give the same faces as one call")
    func concurrentCallsAgree() async throws {
        let engine = try TestSupport.engine.get()
        let bytes = try TestSupport.bytes("photos/obama2.jpg")
        let alone = try await engine.analyze(imageBytes: bytes)
        let together = try await withThrowingTaskGroup(of: [AnalyzedFace].self) { group in
            for _ in 0..<4 { group.addTask { try await engine.analyze(imageBytes: bytes) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(together.count == 4)
        #expect(together.allSatisfy { $0 == alone })
    }

    @Test("bytes that are not an image give a typed decoding error")
    func undecodableBytes() async throws {
        let engine = try TestSupport.engine.get()
        await #expect(throws: FaceEngineError.self) {
            try await engine.analyze(imageBytes: Array("not an image".utf8))
        }
        do {
            _ = try await engine.analyze(imageBytes: [UInt8]())
            Issue.record("empty bytes were accepted")
        } catch {
            guard case .decoding = error else {
                Issue.record("expected a decoding error, got \(error)")
                return
            }
        }
    }

    @Test("a missing model is reported with the command that prepares it")
    func missingModel() throws {
        let empty = FileManager.default.temporaryDirectory.appending(path: "biomatch-no-models-\(UUID().uuidString)")
        let installation = Installation(home: empty, onnxRuntimeLibrary: TestSupport.installation.onnxRuntimeLibrary)
        do {
            _ = try FaceEngine(installation: installation)
            Issue.record("an engine started without models")
        } catch {
            guard case .modelMissing(let model, let path) = error else {
                Issue.record("expected modelMissing, got \(error)")
                return
            }
            #expect(model == .yunet && path.hasSuffix(PinnedModel.yunet.preparedFileName))
            #expect(error.description.contains("biomatch models prepare"))
        }
    }
}
