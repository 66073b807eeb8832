import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Imaging
import Installation
import Operations
import Review

/// `bench enrol --engines A,B`: re-templating throughput against the added engine's own speed.
///
/// The 400 ORL faces are enrolled once, 40 subjects of 10 images, into a SQLite gallery of engine
/// A that keeps its images; each round then adds engine B (its templating job: open the sealed
/// image, decode it, make B's template from the face enrolment found, store it with the job's
/// progress, batch by batch) and drops it again. The anchor is B alone on the same decoded
/// images and detections (its alignment and model, `workers` at a time). Both alternate
/// `repeats` times; the best of each is kept.
struct RetemplatingBench {
    let workers: Int
    let repeats: Int
    let batchSize: Int

    struct Measurement: Encodable {
        var engine: String
        var templates: Int
        var engine_chips_per_s: Double
        var retemplating_templates_per_s: Double
        var ratio: Double
    }

    func run(engines names: [String], folder: URL) async throws -> [Measurement] {
        guard names.count >= 2 else {
            throw CommandFailure("--engines names the gallery's engine first, then at least one engine to add (for example sface,dlib)")
        }
        let installation = Installation.fromEnvironment()
        let detector = try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        let registry = try EngineOptions.registry(faceEngine: detector, installation: installation)
        let people = (1...40).map { "s\($0)" }
        var photos: [String: [[UInt8]]] = [:]
        for person in people {
            photos[person] = try (1...10).map {
                try readImageFile(installation.orlFacesDirectory.appending(path: "\(person)/\($0).pgm").path)
            }
        }
        let decoder = ImageDecoder(limits: detector.configuration.decodingLimits)
        var inputs: [(image: RGBImage, faces: [DetectedFace])] = []
        for person in people {
            for bytes in photos[person] ?? [] {
                let image = try decoder.decode(bytes)
                inputs.append((image, try await detector.detect(image: image)))
            }
        }
        let faces = inputs.reduce(0) { $0 + $1.faces.count }

        let store = try await GalleryStoreLocation.sqlite(folder.appending(path: "retemplating.sqlite")).openForOperations().store
        let operations = try await MatcherOperations.open(
            store: store, engine: detector, recognisers: registry, purposes: PurposePolicy(), reviewPolicy: ReviewPolicy(),
            cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: CropVault.generateKeyText()]))
        let caller = Caller.localOperator(name: "bench")
        _ = try await operations.createGallery(GalleryDraft(name: "retemplating", purpose: .other, engines: [names[0]]), by: caller)
        FileHandle.standardError.write(Data("  enrolling \(people.count) subjects of 10 ORL faces with \(names[0])\n".utf8))
        for person in people {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "retemplating", reference: person, images: photos[person] ?? []), by: caller)
        }

        var results: [Measurement] = []
        for name in names.dropFirst() {
            let engine = try registry.engine(named: name)
            let anchorInputs = inputs
            for input in anchorInputs.prefix(64) { _ = try await engine.templates(for: input.faces, in: input.image) }
            var anchorBest = Double.infinity
            var jobBest = Double.infinity
            var made = 0
            for round in 0..<repeats {
                anchorBest = min(
                    anchorBest,
                    try await secondsOnWorkers(workers, items: anchorInputs.count) { index in
                        _ = try await engine.templates(for: anchorInputs[index].faces, in: anchorInputs[index].image)
                    })
                let job = try await operations.addEngine(name, to: "retemplating", by: caller)
                let clock = ContinuousClock()
                let start = clock.now
                let finished = try await operations.runEngineJob(job.id, holder: "bench", batchSize: batchSize)
                let seconds = (clock.now - start).seconds
                guard finished.state == .completed, finished.templatesMade == faces else {
                    throw CommandFailure("the job made \(finished.templatesMade) templates of \(faces) (\(finished.state.rawValue))")
                }
                made = finished.templatesMade
                jobBest = min(jobBest, seconds)
                _ = try await operations.dropEngine(name, from: "retemplating", by: caller)
                FileHandle.standardError.write(Data(
                    "  round \(round + 1): \(name) alone \(format(Double(faces) / anchorBest)) chips/s (best so far), re-templating \(format(Double(made) / seconds)) templates/s\n".utf8))
            }
            let anchorRate = Double(faces) / anchorBest
            let jobRate = Double(made) / jobBest
            results.append(
                Measurement(
                    engine: name, templates: made, engine_chips_per_s: anchorRate, retemplating_templates_per_s: jobRate,
                    ratio: jobRate / anchorRate))
        }
        return results
    }
}
