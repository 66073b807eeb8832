import FaceEngine
import Foundation
import Imaging

/// One degraded probe and what each engine made of it.
public struct DegradedProbe: Sendable, Equatable {
    /// Index of the person in ``LabelledDataset/people``.
    public var personIndex: Int
    /// Index of the clean image in that person's images.
    public var imageIndex: Int
    /// The clean image's path below the dataset folder.
    public var file: String
    /// How it was degraded.
    public var degradation: ProbeDegradation
    /// One outcome per engine, in the extraction's engine order.
    public var outcomes: [DatasetSample.Outcome]
}

/// Templates of one dataset from several engines, each image decoded and its faces detected
/// once (the shared detector) and every engine's template made from that same detection.
public struct EngineExtraction: Sendable {
    /// One set per engine, in the order the engines were given.
    public var clean: [DatasetTemplates]
    /// The degraded probes, when a degradation protocol ran: every image but each person's
    /// first, once per degradation.
    public var degraded: [DegradedProbe]
    /// The protocol's seed.
    public var seed: UInt64

    /// Analyses every image of `dataset` with the shared `detector` and each of `engines`, and,
    /// with `degradations`, every image but each person's first again once per degradation.
    /// - Parameter progress: Called after each analysis with the number done and the total.
    public static func extract(
        from dataset: LabelledDataset, detector: FaceEngine, engines: [any RecognitionEngine],
        degradations: [ProbeDegradation] = [], seed: UInt64 = 20_261_207,
        concurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async -> EngineExtraction {
        struct Job: Sendable {
            var personIndex: Int
            var imageIndex: Int
            var file: URL
            var degradation: ProbeDegradation?
        }
        var jobs: [Job] = []
        for (personIndex, person) in dataset.people.enumerated() {
            for (imageIndex, file) in person.images.enumerated() {
                jobs.append(Job(personIndex: personIndex, imageIndex: imageIndex, file: file, degradation: nil))
            }
        }
        for (personIndex, person) in dataset.people.enumerated() {
            for (imageIndex, file) in person.images.enumerated() where imageIndex > 0 {
                for degradation in degradations {
                    jobs.append(Job(personIndex: personIndex, imageIndex: imageIndex, file: file, degradation: degradation))
                }
            }
        }
        var outcomes = [[DatasetSample.Outcome]?](repeating: nil, count: jobs.count)
        let engineCount = engines.count
        await withTaskGroup(of: (Int, [DatasetSample.Outcome]).self) { group in
            var next = 0
            func submit() {
                let index = next
                let job = jobs[index]
                next += 1
                group.addTask {
                    let result = await analyze(
                        job.file, degradation: job.degradation.map { degradation in
                            (degradation, degradation.seed(protocolSeed: seed, person: job.personIndex, image: job.imageIndex))
                        }, detector: detector, engines: engines)
                    switch result {
                    case let .success(templates): return (index, templates.map { .template($0) })
                    case let .failure(reason): return (index, Array(repeating: .failure(reason.text), count: engineCount))
                    }
                }
            }
            for _ in 0..<min(max(concurrency, 1), jobs.count) { submit() }
            var done = 0
            while let (index, outcome) = await group.next() {
                outcomes[index] = outcome
                done += 1
                progress?(done, jobs.count)
                if next < jobs.count { submit() }
            }
        }
        let notAnalysed = [DatasetSample.Outcome](repeating: .failure("not analysed"), count: engineCount)
        var clean: [DatasetTemplates] = []
        for (engineIndex, engine) in engines.enumerated() {
            let samples = jobs.indices.filter { jobs[$0].degradation == nil }.map { index in
                DatasetSample(
                    personIndex: jobs[index].personIndex, imageIndex: jobs[index].imageIndex,
                    file: dataset.relativePath(of: jobs[index].file), outcome: (outcomes[index] ?? notAnalysed)[engineIndex])
            }
            clean.append(DatasetTemplates(dataset: dataset, samples: samples, engine: EngineDescription(engine, detector: detector)))
        }
        let degraded = jobs.indices.compactMap { index -> DegradedProbe? in
            guard let degradation = jobs[index].degradation else { return nil }
            return DegradedProbe(
                personIndex: jobs[index].personIndex, imageIndex: jobs[index].imageIndex,
                file: dataset.relativePath(of: jobs[index].file), degradation: degradation,
                outcomes: outcomes[index] ?? notAnalysed)
        }
        return EngineExtraction(clean: clean, degraded: degraded, seed: seed)
    }

    /// Why an image yielded no template.
    private struct Failure: Error {
        var text: String
    }

    private static func analyze(
        _ file: URL, degradation: (ProbeDegradation, UInt64)?, detector: FaceEngine, engines: [any RecognitionEngine]
    ) async -> Result<[FaceTemplate], Failure> {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: file))
        } catch {
            return .failure(Failure(text: "unreadable file: \((error as NSError).localizedDescription)"))
        }
        do {
            var image = try ImageDecoder(limits: detector.configuration.decodingLimits).decode(bytes)
            if let degradation {
                let (kind, seed) = degradation
                guard let clean = try await largestFace(in: image, detector: detector) else {
                    return .failure(Failure(text: "no face found in the clean image"))
                }
                image = kind.apply(to: image, face: clean, seed: seed)
            }
            // The largest face is the subject; others are background people.
            guard let face = try await largestFace(in: image, detector: detector) else {
                return .failure(Failure(text: "no face found"))
            }
            var templates: [FaceTemplate] = []
            for engine in engines {
                guard let template = try await engine.templates(for: [face], in: image).first else {
                    return .failure(Failure(text: "\(engine.profile.identifier) made no template"))
                }
                templates.append(template)
            }
            return .success(templates)
        } catch let error as ImageDecodingError {
            return .failure(Failure(text: error.description))
        } catch {
            return .failure(Failure(text: "\(error)"))
        }
    }

    private static func largestFace(in image: RGBImage, detector: FaceEngine) async throws -> DetectedFace? {
        try await detector.detect(image: image).max { $0.box.area < $1.box.area }
    }
}
