import FaceEngine

/// A fused comparison of several engines: each engine's similarity is normalised against that
/// engine's own impostor distribution (z-score: how many standard deviations above a typical
/// impostor the pair lies), and the normalised scores are averaged.
///
/// Z-normalisation puts engines whose native scales differ (a cosine near 0.1 for impostors, a
/// distance near 0.8) on one scale without labels beyond impostor pairs, so the fused score needs
/// only impostor statistics to fit. Its threshold is calibrated like any engine's
/// (`biomatch calibrate`), never assumed.
public struct FusionModel: Sendable, Equatable, Codable {
    /// One engine's part of a fused template and its normalisation.
    public struct Part: Sendable, Equatable, Codable {
        /// The engine's identifier.
        public var engine: String
        /// The engine's template model.
        public var templateModel: String
        /// Number of values of the engine's template.
        public var templateLength: Int
        /// How the engine's templates compare.
        public var comparison: TemplateComparison
        /// Mean of the engine's impostor similarities in the data the model was fitted on.
        public var impostorMean: Float
        /// Standard deviation of those similarities (positive).
        public var impostorDeviation: Float

        /// A part from its values.
        public init(
            engine: String, templateModel: String, templateLength: Int, comparison: TemplateComparison,
            impostorMean: Float, impostorDeviation: Float
        ) {
            self.engine = engine
            self.templateModel = templateModel
            self.templateLength = templateLength
            self.comparison = comparison
            self.impostorMean = impostorMean
            self.impostorDeviation = impostorDeviation
        }
    }

    /// The engines fused, in template order.
    public var parts: [Part]

    /// A model from its parts.
    public init(parts: [Part]) {
        self.parts = parts
    }

    /// The fused similarity of one pair from each engine's similarity, in ``parts`` order.
    public func fuse(_ similarities: [Float]) -> Float {
        var total: Float = 0
        for (part, similarity) in zip(parts, similarities) {
            total += (similarity - part.impostorMean) / part.impostorDeviation
        }
        return total / Float(parts.count)
    }

    /// Fits the normalisation of each engine on the impostor pairs (templates of different
    /// people) of its own templates of one dataset.
    /// - Throws: ``EvaluationError/fusionNeedsTwoEngines`` for fewer than two engines, and
    ///   ``EvaluationError/tooFewPeople(withTemplates:)`` when a set has no impostor pair.
    public static func fit(on engines: [DatasetTemplates]) throws(EvaluationError) -> FusionModel {
        guard engines.count >= 2 else { throw .fusionNeedsTwoEngines }
        return try FusionModel(parts: engines.map { templates throws(EvaluationError) in
            let usable = templates.samples.compactMap { sample in sample.template.map { (sample.personIndex, $0) } }
            let matrix = TemplateMatrix(usable.map(\.1), scoring: .engine(templates.engine.comparison))
            var count = 0.0
            var sum = 0.0
            var squares = 0.0
            for first in usable.indices {
                for second in (first + 1)..<usable.count where usable[first].0 != usable[second].0 {
                    let score = Double(matrix.score(first, second))
                    count += 1
                    sum += score
                    squares += score * score
                }
            }
            guard count >= 2 else { throw .tooFewPeople(withTemplates: Set(usable.map(\.0)).count) }
            let mean = sum / count
            let deviation = max((squares / count - mean * mean).squareRoot(), 1e-6)
            return Part(
                engine: templates.engine.engine, templateModel: templates.engine.templateModel,
                templateLength: usable.first?.1.values.count ?? 0, comparison: templates.engine.comparison,
                impostorMean: Float(mean), impostorDeviation: Float(deviation))
        })
    }

    /// The fused templates of `engines` (each the same dataset images in the same order): a
    /// sample's fused template is its engines' templates laid end to end, and it fails when any
    /// engine failed on it.
    /// - Precondition: the sets come from one extraction (same samples in the same order), in
    ///   ``parts`` order.
    public func fuse(_ engines: [DatasetTemplates]) -> DatasetTemplates {
        let first = engines[0]
        let samples = first.samples.indices.map { index in
            let sample = first.samples[index]
            var values: [Float] = []
            var failure: String?
            for set in engines {
                if let template = set.samples[index].template {
                    values.append(contentsOf: template.values)
                } else if case let .failure(reason) = set.samples[index].outcome {
                    failure = "\(set.engine.engine): \(reason)"
                    break
                }
            }
            let outcome: DatasetSample.Outcome
            if let failure {
                outcome = .failure(failure)
            } else if let template = try? FaceTemplate(raw: values, modelIdentifier: templateModel) {
                outcome = .template(template)
            } else {
                outcome = .failure("no fused template")
            }
            return DatasetSample(
                personIndex: sample.personIndex, imageIndex: sample.imageIndex, file: sample.file, outcome: outcome)
        }
        let description = EngineDescription(
            engine: "fusion", detectorModel: first.engine.detectorModel, templateModel: templateModel,
            runtimeVersion: first.engine.runtimeVersion, comparison: .cosineSimilarity)
        return DatasetTemplates(dataset: first.dataset, samples: samples, engine: description, scoring: .fusion(self))
    }

    /// The fused "model" name: the engines' template models joined.
    public var templateModel: String { "fusion(" + parts.map(\.templateModel).joined(separator: "+") + ")" }
}
