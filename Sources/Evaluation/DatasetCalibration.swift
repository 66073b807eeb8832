import FaceEngine
import Foundation

extension ScoreSets {
    /// The genuine and impostor scores of every pair of templates in `templates` (images
    /// that yielded no template take part in no pair).
    public init(allPairsOf templates: DatasetTemplates) {
        self = PairwiseScores(
            templates: templates, groupOfPerson: templates.dataset.people.map { _ in nil }, groupCount: 0
        ).overall
    }
}

/// The threshold for a target FMR measured on a labelled dataset, with the data behind it:
/// what `biomatch calibrate` prints.
public struct DatasetCalibration: Sendable, Equatable, Codable {
    /// The dataset measured.
    public var dataset: DatasetSummary
    /// The engine measured.
    public var engine: EngineDescription
    /// Which images yielded templates.
    public var enrolment: EnrolmentSummary
    /// The threshold, its rates and the trade-off around it.
    public var calibration: ThresholdCalibration
    /// The fusion's normalisation, when the calibrated comparison is a fusion of engines.
    public var fusion: FusionModel?

    /// Calibrates on already extracted templates.
    /// - Throws: ``EvaluationError/tooFewPeople(withTemplates:)``, ``EvaluationError/noGenuineComparisons``
    ///   or ``EvaluationError/invalidTargetRate(name:value:)``.
    public init(
        templates: DatasetTemplates, targetFalseMatchRate: Double,
        offsets: [Float] = ThresholdCalibration.defaultOffsets, fusion: FusionModel? = nil
    ) throws(EvaluationError) {
        self.fusion = fusion
        guard targetFalseMatchRate > 0, targetFalseMatchRate < 1 else {
            throw .invalidTargetRate(name: "FMR", value: targetFalseMatchRate)
        }
        let peopleWithTemplates = templates.templatesByPerson.count { !$0.isEmpty }
        guard peopleWithTemplates >= 2 else { throw .tooFewPeople(withTemplates: peopleWithTemplates) }
        let scores = ScoreSets(allPairsOf: templates)
        guard !scores.genuine.isEmpty else { throw .noGenuineComparisons }
        dataset = DatasetSummary(
            path: templates.dataset.root.relativePath, people: templates.dataset.people.count,
            images: templates.dataset.imageCount, groupsFile: nil)
        engine = templates.engine
        enrolment = EnrolmentSummary(templates: templates)
        calibration = try scores.calibrate(targetFalseMatchRate: targetFalseMatchRate, offsets: offsets)
    }

    /// Reads the dataset at `root`, extracts its templates with `engine` and calibrates.
    /// - Parameter progress: Called after each image with the number done and the total.
    /// - Throws: Any dataset error, or an error of ``init(templates:targetFalseMatchRate:offsets:)``.
    public static func measure(
        datasetAt root: URL, engine: FaceEngine, targetFalseMatchRate: Double,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async throws(EvaluationError) -> DatasetCalibration {
        guard targetFalseMatchRate > 0, targetFalseMatchRate < 1 else {
            throw .invalidTargetRate(name: "FMR", value: targetFalseMatchRate)
        }
        let dataset = try LabelledDataset.load(from: root)
        let templates = await DatasetTemplates.extract(from: dataset, engine: engine, progress: progress)
        return try DatasetCalibration(templates: templates, targetFalseMatchRate: targetFalseMatchRate)
    }
}
