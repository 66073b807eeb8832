import FaceEngine
import Foundation

/// What an evaluation computes beyond the data: operating threshold and the targets of the
/// tables.
public struct EvaluationSettings: Sendable, Equatable {
    /// The threshold the per-group figures and the headline FMR/FNMR are taken at (OpenCV's
    /// operating point for SFace by default).
    public var operatingThreshold: Float
    /// FMR targets of the verification operating-point table.
    public var falseMatchRateTargets: [Double]
    /// FPIR targets of the identification table.
    public var falsePositiveIdentificationRateTargets: [Double]
    /// Candidate-list ranks of the hit-rate table (ranks beyond the gallery size are dropped).
    public var ranks: [Int]
    /// How far, in decades, the DET curve moves between kept points.
    public var detLogResolution: Double
    /// Width of the score histogram bins.
    public var histogramBinWidth: Float

    /// Settings from their values.
    public init(
        operatingThreshold: Float = 0.363,
        falseMatchRateTargets: [Double] = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5],
        falsePositiveIdentificationRateTargets: [Double] = [0.1, 0.01],
        ranks: [Int] = [1, 5, 10],
        detLogResolution: Double = 0.01,
        histogramBinWidth: Float = 0.02
    ) {
        self.operatingThreshold = operatingThreshold
        self.falseMatchRateTargets = falseMatchRateTargets
        self.falsePositiveIdentificationRateTargets = falsePositiveIdentificationRateTargets
        self.ranks = ranks
        self.detLogResolution = detLogResolution
        self.histogramBinWidth = histogramBinWidth
    }

    /// Checks the values.
    /// - Throws: ``EvaluationError/invalidThreshold(_:)`` or ``EvaluationError/invalidTargetRate(name:value:)``.
    public func validate() throws(EvaluationError) {
        guard operatingThreshold.isFinite else { throw .invalidThreshold(operatingThreshold) }
        for target in falseMatchRateTargets where !(target > 0 && target < 1) {
            throw .invalidTargetRate(name: "FMR", value: target)
        }
        for target in falsePositiveIdentificationRateTargets where !(target > 0 && target < 1) {
            throw .invalidTargetRate(name: "FPIR", value: target)
        }
    }
}

/// Every figure of one evaluation of the face engine on a labelled dataset: 1:1 verification
/// (score sets of all pairs, DET, EER, FMR/FNMR at the operating threshold and at target
/// FMRs), 1:N identification (rank hit rates, FNIR at target FPIRs) and, with group labels,
/// per-group FMR and FNMR with their largest-to-smallest ratios.
///
/// It encodes to `report.json` and renders to `report.html` (``write(to:)``); decoding the
/// JSON gives back an equal report.
public struct EvaluationReport: Sendable, Equatable, Codable {
    /// Version of the JSON layout.
    public static let currentFormatVersion = 1

    /// Version of the JSON layout this report has.
    public var formatVersion: Int
    /// When the report was made, ISO 8601.
    public var generatedAt: String
    /// The dataset evaluated.
    public var dataset: DatasetSummary
    /// The engine evaluated.
    public var engine: EngineDescription
    /// Which images yielded templates.
    public var enrolment: EnrolmentSummary
    /// 1:1 figures over all pairs of templates.
    public var verification: VerificationFigures
    /// 1:N figures.
    public var identification: IdentificationFigures
    /// Per-group figures, when group labels were given.
    public var groups: GroupFigures?

    /// Computes every figure from extracted templates.
    /// - Parameters:
    ///   - templates: One outcome per dataset image.
    ///   - groups: Group labels, if any.
    ///   - groupsFile: Names the labels' file in the report.
    ///   - settings: Threshold and table targets.
    ///   - generatedAt: The report's date.
    /// - Throws: ``EvaluationError/tooFewPeople(withTemplates:)``,
    ///   ``EvaluationError/noGenuineComparisons``, or a settings error.
    public init(
        templates: DatasetTemplates, groups: GroupLabels? = nil, groupsFile: String? = nil,
        settings: EvaluationSettings = EvaluationSettings(), generatedAt date: Date = Date()
    ) throws(EvaluationError) {
        try settings.validate()
        let dataset = templates.dataset
        let peopleWithTemplates = templates.templatesByPerson.count { !$0.isEmpty }
        guard peopleWithTemplates >= 2 else { throw .tooFewPeople(withTemplates: peopleWithTemplates) }

        let groupNames = groups?.groups ?? []
        let groupOfPerson: [Int?] = dataset.people.map { person in
            groups?.groupOfPerson[person.name].flatMap { groupNames.firstIndex(of: $0) }
        }
        let pairs = PairwiseScores(templates: templates, groupOfPerson: groupOfPerson, groupCount: groupNames.count)
        guard !pairs.overall.genuine.isEmpty else { throw .noGenuineComparisons }

        formatVersion = Self.currentFormatVersion
        generatedAt = date.formatted(.iso8601)
        self.dataset = DatasetSummary(
            path: dataset.root.relativePath, people: dataset.people.count, images: dataset.imageCount, groupsFile: groupsFile)
        engine = templates.engine
        enrolment = EnrolmentSummary(templates: templates)
        verification = try VerificationFigures(scores: pairs.overall, settings: settings)
        identification = try IdentificationFigures(templates: templates, settings: settings)
        if let groups {
            let people = Dictionary(grouping: groupOfPerson.compactMap { $0 }, by: { $0 }).mapValues(\.count)
            let rates = groupNames.indices.map { index in
                GroupRates(
                    name: groupNames[index], people: people[index] ?? 0,
                    rates: pairs.byGroup[index].rates(atThreshold: settings.operatingThreshold))
            }
            self.groups = GroupFigures(
                threshold: settings.operatingThreshold, groups: rates,
                unlabelledPeople: groups.unlabelled(among: dataset.personNames))
        } else {
            self.groups = nil
        }
    }

    /// Reads the dataset (and groups file), extracts templates with `engine` and computes
    /// the report.
    /// - Parameter progress: Called after each image with the number done and the total.
    /// - Throws: Any dataset, groups-file, settings or data-sufficiency error.
    public static func evaluate(
        datasetAt root: URL, groupsFile: URL? = nil, engine: FaceEngine,
        settings: EvaluationSettings = EvaluationSettings(),
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async throws(EvaluationError) -> EvaluationReport {
        try settings.validate()
        let dataset = try LabelledDataset.load(from: root)
        // Read the labels before the long extraction so that a bad file fails at once.
        let groups = try groupsFile.map { file throws(EvaluationError) in try GroupLabels.load(from: file, for: dataset) }
        let templates = await DatasetTemplates.extract(from: dataset, engine: engine, progress: progress)
        return try EvaluationReport(
            templates: templates, groups: groups, groupsFile: groupsFile?.relativePath, settings: settings)
    }
}

/// The dataset as the report names it.
public struct DatasetSummary: Sendable, Equatable, Codable {
    /// The dataset folder, as it was given.
    public var path: String
    /// Number of person folders.
    public var people: Int
    /// Number of image files.
    public var images: Int
    /// The groups file, if any.
    public var groupsFile: String?
}

/// An image that yielded no template.
public struct EnrolmentFailure: Sendable, Equatable, Codable {
    /// The image's path below the dataset folder.
    public var file: String
    /// Why: no face found, unreadable, not an image.
    public var reason: String
}

/// Which images yielded templates.
public struct EnrolmentSummary: Sendable, Equatable, Codable {
    /// Images analysed.
    public var images: Int
    /// Images that yielded a template.
    public var templates: Int
    /// The others, with reasons.
    public var failures: [EnrolmentFailure]

    /// Summarises the outcomes of `templates`.
    init(templates: DatasetTemplates) {
        images = templates.samples.count
        failures = templates.samples.compactMap { sample in
            if case let .failure(reason) = sample.outcome { EnrolmentFailure(file: sample.file, reason: reason) } else { nil }
        }
        self.templates = images - failures.count
    }

    /// Fraction of images that yielded no template.
    public var failureToEnrolRate: Double { images > 0 ? Double(failures.count) / Double(images) : 0 }
}

/// 1:1 figures over all pairs of templates.
public struct VerificationFigures: Sendable, Equatable, Codable {
    /// Count, range, mean and median of genuine and impostor scores.
    public var scores: ScoreSummary
    /// FMR and FNMR at the operating threshold.
    public var operatingPoint: ErrorRates
    /// Where FMR equals FNMR.
    public var equalErrorRate: EqualErrorRate?
    /// The smallest threshold for each target FMR, with FNMR there.
    public var thresholdsForTargets: [ThresholdCalibration]
    /// The DET curve, thinned for plotting.
    public var det: [DETPoint]
    /// Score distributions on shared bins.
    public var histogram: ScoreHistogram

    init(scores: ScoreSets, settings: EvaluationSettings) throws(EvaluationError) {
        self.scores = scores.summary
        operatingPoint = scores.rates(atThreshold: settings.operatingThreshold)
        equalErrorRate = scores.equalErrorRate()
        thresholdsForTargets = try settings.falseMatchRateTargets.map { target throws(EvaluationError) in
            try scores.calibrate(targetFalseMatchRate: target, offsets: [])
        }
        det = scores.detCurve(logResolution: settings.detLogResolution)
        histogram = scores.histogram(binWidth: settings.histogramBinWidth)
    }
}

/// 1:N figures: the first image of each person (natural file order) that yields a template
/// is enrolled; the person's later images are probes.
public struct IdentificationFigures: Sendable, Equatable, Codable {
    /// The enrolled image of each enrolled person.
    public var galleryImages: [String]
    /// Rank hit rates of the mated searches.
    public var rankHitRates: [RankHitRate]
    /// FPIR and FNIR at the operating threshold.
    public var operatingPoint: IdentificationRates
    /// FNIR at each target FPIR.
    public var fnirAtFPIR: [FNIRAtFPIR]

    init(templates: DatasetTemplates, settings: EvaluationSettings) throws(EvaluationError) {
        var gallery: [(person: Int, template: FaceTemplate)] = []
        var galleryImages: [String] = []
        var probes: [(person: Int, template: FaceTemplate?)] = []
        var enrolled = Set<Int>()
        for sample in templates.samples {
            if enrolled.contains(sample.personIndex) {
                probes.append((sample.personIndex, sample.template))
            } else if let template = sample.template {
                // Images before this one failed to enrol: they are neither gallery nor probe.
                enrolled.insert(sample.personIndex)
                gallery.append((sample.personIndex, template))
                galleryImages.append(sample.file)
            }
        }
        let searches = IdentificationScores(gallery: gallery, probes: probes, scoring: templates.scoring)
        self.galleryImages = galleryImages
        let ranks = Set(settings.ranks.filter { $0 >= 1 && $0 <= gallery.count } + [1]).sorted()
        rankHitRates = ranks.map { searches.hitRate(atRank: $0) }
        operatingPoint = searches.rates(atThreshold: settings.operatingThreshold)
        fnirAtFPIR = try settings.falsePositiveIdentificationRateTargets.sorted(by: >).map { target throws(EvaluationError) in
            try searches.falseNegativeRate(atFalsePositiveRate: target)
        }
    }

    /// The rank-1 hit rate of mated searches.
    public var rankOneHitRate: Double? { rankHitRates.first { $0.rank == 1 }?.rate }
}

/// Scores of every pair of templates, overall and per group.
struct PairwiseScores {
    let overall: ScoreSets
    let byGroup: [ScoreSets]

    /// - Parameter groupOfPerson: Each person's group index, `nil` when unlabelled.
    init(templates: DatasetTemplates, groupOfPerson: [Int?], groupCount: Int) {
        let usable = templates.samples.compactMap { sample in sample.template.map { (sample.personIndex, $0) } }
        let matrix = TemplateMatrix(usable.map(\.1), scoring: templates.scoring)
        var genuine: [Float] = []
        var impostor: [Float] = []
        var groupGenuine = [[Float]](repeating: [], count: groupCount)
        var groupImpostor = [[Float]](repeating: [], count: groupCount)
        impostor.reserveCapacity(usable.count * usable.count / 2)
        for first in usable.indices {
            let firstPerson = usable[first].0
            let firstGroup = groupOfPerson[firstPerson]
            for second in (first + 1)..<usable.count {
                let secondPerson = usable[second].0
                let score = matrix.score(first, second)
                if firstPerson == secondPerson {
                    genuine.append(score)
                    if let firstGroup { groupGenuine[firstGroup].append(score) }
                } else {
                    impostor.append(score)
                    if let firstGroup, firstGroup == groupOfPerson[secondPerson] {
                        groupImpostor[firstGroup].append(score)
                    }
                }
            }
        }
        overall = ScoreSets(genuine: genuine, impostor: impostor)
        byGroup = (0..<groupCount).map { ScoreSets(genuine: groupGenuine[$0], impostor: groupImpostor[$0]) }
    }
}
