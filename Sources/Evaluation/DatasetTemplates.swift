import FaceEngine
import Foundation

/// One image of a dataset and what the engine made of it.
public struct DatasetSample: Sendable, Equatable {
    /// What the engine made of the image.
    public enum Outcome: Sendable, Equatable {
        /// The template of the largest face found.
        case template(FaceTemplate)
        /// No template: the reason, one sentence (no face found, unreadable file, not an image).
        case failure(String)
    }

    /// Index of the person in ``LabelledDataset/people``.
    public var personIndex: Int
    /// Index of the image in that person's ``LabelledDataset/Person/images``.
    public var imageIndex: Int
    /// The image's path below the dataset folder ("s1/1.pgm").
    public var file: String
    /// The template or the reason there is none.
    public var outcome: Outcome

    /// A sample from its parts.
    public init(personIndex: Int, imageIndex: Int, file: String, outcome: Outcome) {
        self.personIndex = personIndex
        self.imageIndex = imageIndex
        self.file = file
        self.outcome = outcome
    }

    /// The template, or `nil` when the image failed to enrol.
    public var template: FaceTemplate? {
        if case let .template(template) = outcome { template } else { nil }
    }
}

/// The engine that produced a set of templates, as reports name it.
public struct EngineDescription: Sendable, Equatable, Codable {
    /// The engine's identifier ("sface", "dlib", or "fusion" for a fused comparison).
    public var engine: String
    /// The detector's model identifier.
    public var detectorModel: String
    /// The recogniser's model identifier (templates of other models are not comparable).
    public var templateModel: String
    /// ONNX Runtime's version.
    public var runtimeVersion: String
    /// How the engine's native scores compare; figures are computed on similarities (a distance
    /// negated), so thresholds of a distance engine appear negated.
    public var comparison: TemplateComparison

    /// A description from its parts.
    public init(
        engine: String = "sface", detectorModel: String, templateModel: String, runtimeVersion: String,
        comparison: TemplateComparison = .cosineSimilarity
    ) {
        self.engine = engine
        self.detectorModel = detectorModel
        self.templateModel = templateModel
        self.runtimeVersion = runtimeVersion
        self.comparison = comparison
    }

    /// Describes `engine` (its SFace recogniser).
    public init(_ engine: FaceEngine) {
        self.init(
            detectorModel: engine.detectorModelIdentifier, templateModel: engine.templateModelIdentifier,
            runtimeVersion: engine.runtimeVersion)
    }

    /// Describes a recognition engine running on `detector`'s detections.
    public init(_ engine: any RecognitionEngine, detector: FaceEngine) {
        let profile = engine.profile
        self.init(
            engine: profile.identifier, detectorModel: detector.detectorModelIdentifier,
            templateModel: profile.templateModel, runtimeVersion: detector.runtimeVersion, comparison: profile.comparison)
    }

    private enum CodingKeys: String, CodingKey {
        case engine, detectorModel, templateModel, runtimeVersion, comparison
    }

    /// Decodes a description; reports written before engines were pluggable name SFace only.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        engine = try container.decodeIfPresent(String.self, forKey: .engine) ?? "sface"
        detectorModel = try container.decode(String.self, forKey: .detectorModel)
        templateModel = try container.decode(String.self, forKey: .templateModel)
        runtimeVersion = try container.decode(String.self, forKey: .runtimeVersion)
        comparison = try container.decodeIfPresent(TemplateComparison.self, forKey: .comparison) ?? .cosineSimilarity
    }
}

/// One template per image of a labelled dataset: the largest face of each image, through the
/// real ``FaceEngine``. An image with no face, or that cannot be read or decoded, is a failure
/// to enrol; it is recorded, not fatal.
public struct DatasetTemplates: Sendable, Equatable {
    /// The dataset the templates come from.
    public let dataset: LabelledDataset
    /// Every image, in dataset order (people in order, each person's images in order).
    public let samples: [DatasetSample]
    /// The engine that made the templates.
    public let engine: EngineDescription
    /// How two templates score: the engine's own comparison, or a fusion of several engines'.
    public let scoring: TemplateScoring

    /// Templates from already computed samples, scored by `scoring` (the engine's own comparison
    /// when nil).
    public init(
        dataset: LabelledDataset, samples: [DatasetSample], engine: EngineDescription, scoring: TemplateScoring? = nil
    ) {
        self.dataset = dataset
        self.samples = samples
        self.engine = engine
        self.scoring = scoring ?? .engine(engine.comparison)
    }

    /// Analyses every image of `dataset` with `engine`, `concurrency` images at a time.
    ///
    /// The engine computes on the calling tasks' threads, so with its default single-threaded
    /// model runs, one image per core keeps every core busy without oversubscribing.
    /// - Parameter progress: Called after each image with the number done and the total.
    public static func extract(
        from dataset: LabelledDataset,
        engine: FaceEngine,
        concurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async -> DatasetTemplates {
        let jobs = dataset.people.enumerated().flatMap { personIndex, person in
            person.images.enumerated().map { imageIndex, file in
                (personIndex: personIndex, imageIndex: imageIndex, file: file)
            }
        }
        var outcomes = [DatasetSample.Outcome?](repeating: nil, count: jobs.count)
        await withTaskGroup(of: (Int, DatasetSample.Outcome).self) { group in
            var next = 0
            func submit() {
                let index = next
                let file = jobs[index].file
                next += 1
                group.addTask { (index, await analyze(file, with: engine)) }
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
        let samples = jobs.indices.map { index in
            DatasetSample(
                personIndex: jobs[index].personIndex, imageIndex: jobs[index].imageIndex,
                file: dataset.relativePath(of: jobs[index].file),
                outcome: outcomes[index] ?? .failure("not analysed"))
        }
        return DatasetTemplates(dataset: dataset, samples: samples, engine: EngineDescription(engine))
    }

    /// The samples that yielded no template.
    public var failures: [DatasetSample] { samples.filter { $0.template == nil } }

    /// Each sample's template, grouped by person index (people with none get an empty list).
    public var templatesByPerson: [[FaceTemplate]] {
        var result = [[FaceTemplate]](repeating: [], count: dataset.people.count)
        for sample in samples {
            if let template = sample.template { result[sample.personIndex].append(template) }
        }
        return result
    }

    private static func analyze(_ file: URL, with engine: FaceEngine) async -> DatasetSample.Outcome {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: file))
        } catch {
            return .failure("unreadable file: \((error as NSError).localizedDescription)")
        }
        do {
            let faces = try await engine.analyze(imageBytes: bytes)
            // The largest face is the subject; others are background people.
            guard let largest = faces.max(by: { $0.detection.box.area < $1.detection.box.area }) else {
                return .failure("no face found")
            }
            return .template(largest.template)
        } catch {
            return .failure(error.description)
        }
    }
}
