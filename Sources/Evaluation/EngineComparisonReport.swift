import FaceEngine
import Foundation

/// One engine's figures on the degraded-probe protocol: each person's first clean image is
/// enrolled, every other image degraded once per ``ProbeDegradation`` is a probe, compared 1:1
/// with every enrolled image (its own person's: genuine; the others': impostor) and searched 1:N.
/// A probe that yields no template is a false non-match at every threshold and a rank-1 miss.
public struct DegradedFigures: Sendable, Equatable, Codable {
    /// FNMR at one target FMR on the degraded probes.
    public struct OperatingPoint: Sendable, Equatable, Codable {
        /// The target FMR.
        public var targetFalseMatchRate: Double
        /// The smallest similarity threshold whose FMR is at most the target.
        public var threshold: Float
        /// FMR at that threshold.
        public var falseMatchRate: Double?
        /// FNMR at that threshold, probes without a template counted as non-matches.
        public var falseNonMatchRate: Double?
        /// Whether the impostor comparisons are enough to support the target.
        public var isSupported: Bool
    }

    /// Figures for the probes of one degradation, at the overall thresholds.
    public struct ByDegradation: Sendable, Equatable, Codable {
        /// The degradation.
        public var degradation: ProbeDegradation
        /// Its probes of enrolled people.
        public var probes: Int
        /// Those that yielded no template.
        public var failures: Int
        /// FNMR at the overall threshold for each target, in ``DegradedFigures/operatingPoints`` order.
        public var falseNonMatchRates: [Double?]
        /// The rank-1 hit rate of its mated searches.
        public var rankOneHitRate: Double?
    }

    /// The engine ("sface", "dlib", "fusion").
    public var engine: String
    /// Genuine comparisons (probes of enrolled people, failures included).
    public var genuineComparisons: Int
    /// Probes of enrolled people that yielded no template.
    public var failedProbes: Int
    /// Impostor comparisons.
    public var impostorComparisons: Int
    /// FNMR at each target FMR.
    public var operatingPoints: [OperatingPoint]
    /// The same per degradation.
    public var byDegradation: [ByDegradation]
    /// Rank-1 hit rate of all mated searches.
    public var rankOneHitRate: Double?
    /// The DET curve over probes that yielded a template.
    public var det: [DETPoint]

    /// Computes the figures from an enrolled image per person and the degraded probes.
    /// - Parameters:
    ///   - gallery: Each enrolled person's clean template.
    ///   - probes: Each probe's person, degradation and template (nil: no template).
    init(
        engine: String, gallery: [(person: Int, template: FaceTemplate)],
        probes: [(person: Int, degradation: ProbeDegradation, template: FaceTemplate?)],
        scoring: TemplateScoring, targets: [Double]
    ) {
        self.engine = engine
        let usable = probes.compactMap(\.template)
        let matrix = TemplateMatrix(gallery.map(\.template) + usable, scoring: scoring)
        let enrolled = Set(gallery.map(\.person))
        var genuine: [Float] = []
        var impostor: [Float] = []
        // Per probe of an enrolled person: its degradation, its mate score (nil: failed) and rank-1 hit.
        var mated: [(degradation: ProbeDegradation, score: Float?, rankOne: Bool)] = []
        var row = gallery.count
        for probe in probes {
            guard probe.template != nil else {
                if enrolled.contains(probe.person) { mated.append((probe.degradation, nil, false)) }
                continue
            }
            var mate: Float?
            var bestOther = -Float.greatestFiniteMagnitude
            for (galleryRow, entry) in gallery.enumerated() {
                let score = matrix.score(row, galleryRow)
                if entry.person == probe.person {
                    mate = score
                    genuine.append(score)
                } else {
                    impostor.append(score)
                    bestOther = max(bestOther, score)
                }
            }
            if let mate { mated.append((probe.degradation, mate, mate > bestOther)) }
            row += 1
        }
        let sets = ScoreSets(genuine: genuine, impostor: impostor)
        genuineComparisons = mated.count
        failedProbes = mated.count { $0.score == nil }
        impostorComparisons = impostor.count
        let sortedImpostor = impostor.sorted()
        let thresholds = targets.map {
            ScoreSets.smallestThreshold(scores: sortedImpostor, searches: impostor.count, maximumRate: $0)
        }
        func fnmr(_ group: [(degradation: ProbeDegradation, score: Float?, rankOne: Bool)], at threshold: Float) -> Double? {
            group.isEmpty ? nil : Double(group.count { ($0.score ?? -.infinity) < threshold }) / Double(group.count)
        }
        func rankOne(_ group: [(degradation: ProbeDegradation, score: Float?, rankOne: Bool)]) -> Double? {
            group.isEmpty ? nil : Double(group.count { $0.rankOne }) / Double(group.count)
        }
        operatingPoints = zip(targets, thresholds).map { target, threshold in
            OperatingPoint(
                targetFalseMatchRate: target, threshold: threshold,
                falseMatchRate: impostor.isEmpty ? nil : Double(sets.falseMatches(atThreshold: threshold)) / Double(impostor.count),
                falseNonMatchRate: fnmr(mated, at: threshold),
                isSupported: impostor.count >= ScoreSets.minimumComparisons(for: target))
        }
        byDegradation = ProbeDegradation.allCases.compactMap { kind in
            let group = mated.filter { $0.degradation == kind }
            guard !group.isEmpty else { return nil }
            return ByDegradation(
                degradation: kind, probes: group.count, failures: group.count { $0.score == nil },
                falseNonMatchRates: thresholds.map { fnmr(group, at: $0) }, rankOneHitRate: rankOne(group))
        }
        rankOneHitRate = rankOne(mated)
        det = genuine.isEmpty || impostor.isEmpty ? [] : sets.detCurve()
    }

    /// FNMR at `target` FMR, if that target was computed.
    public func falseNonMatchRate(atFalseMatchRate target: Double) -> Double? {
        operatingPoints.first { $0.targetFalseMatchRate == target }?.falseNonMatchRate
    }
}

/// Several engines, and their fusion, evaluated on one dataset side by side: every engine's
/// full report on the clean images, one DET plot for all, and the degraded-probe protocol.
public struct EngineComparisonReport: Sendable, Equatable, Codable {
    /// The degraded-probe protocol's settings and each engine's figures on it.
    public struct DegradedProtocol: Sendable, Equatable, Codable {
        /// The seed every degradation's strength was drawn from.
        public var seed: UInt64
        /// The degradations, each with its description.
        public var degradations: [String: String]
        /// One entry per engine, fusion included.
        public var engines: [DegradedFigures]
    }

    /// Version of the JSON layout.
    public static let currentFormatVersion = 1
    /// Version of the JSON layout this report has.
    public var formatVersion: Int
    /// When the report was made, ISO 8601.
    public var generatedAt: String
    /// One full report per engine on the clean images, in the order asked, fusion last.
    public var engines: [EvaluationReport]
    /// The fusion's normalisation, fitted on the clean images' impostor pairs, when fused.
    public var fusion: FusionModel?
    /// The degraded-probe protocol, when run.
    public var degraded: DegradedProtocol?

    /// The FMR targets of the degraded protocol's tables.
    public static let degradedTargets: [Double] = [1e-2, 1e-3]

    /// Computes every figure from one extraction.
    /// - Parameters:
    ///   - extraction: The engines' templates (and degraded probes) of one dataset.
    ///   - fuse: Whether to add the fusion of all the extraction's engines.
    ///   - operatingThresholds: Each engine's operating threshold as a similarity (a distance
    ///     negated); fusion's, when absent, is its clean threshold at FMR 1e-3.
    /// - Throws: Any error of ``EvaluationReport``, or ``EvaluationError/fusionNeedsTwoEngines``.
    public init(
        extraction: EngineExtraction, fuse: Bool, operatingThresholds: [String: Float],
        groups: GroupLabels? = nil, groupsFile: String? = nil, generatedAt date: Date = Date()
    ) throws(EvaluationError) {
        var sets = extraction.clean
        let model = fuse ? try FusionModel.fit(on: extraction.clean) : nil
        if let model { sets.append(model.fuse(extraction.clean)) }
        var reports: [EvaluationReport] = []
        for set in sets {
            var threshold = operatingThresholds[set.engine.engine]
            if threshold == nil {
                // Fusion has no published operating point: take the clean data's FMR 1e-3 threshold.
                let probe = try EvaluationReport(
                    templates: set, groups: nil, settings: EvaluationSettings(operatingThreshold: 0), generatedAt: date)
                threshold = probe.verification.thresholdsForTargets.first { $0.targetFalseMatchRate == 1e-3 }?.threshold ?? 0
            }
            reports.append(try EvaluationReport(
                templates: set, groups: groups, groupsFile: groupsFile,
                settings: EvaluationSettings(operatingThreshold: threshold ?? 0), generatedAt: date))
        }
        formatVersion = Self.currentFormatVersion
        generatedAt = date.formatted(.iso8601)
        engines = reports
        fusion = model
        if extraction.degraded.isEmpty {
            degraded = nil
        } else {
            var figures: [DegradedFigures] = []
            for (engineIndex, set) in sets.enumerated() {
                let gallery = set.samples.compactMap { sample in
                    sample.imageIndex == 0 ? sample.template.map { (person: sample.personIndex, template: $0) } : nil
                }
                let probes = extraction.degraded.map { probe in
                    (person: probe.personIndex, degradation: probe.degradation,
                     template: Self.template(of: probe, engine: engineIndex, engineCount: extraction.clean.count, fusion: model))
                }
                figures.append(DegradedFigures(
                    engine: set.engine.engine, gallery: gallery, probes: probes, scoring: set.scoring,
                    targets: Self.degradedTargets))
            }
            let kinds = Set(extraction.degraded.map(\.degradation))
            degraded = DegradedProtocol(
                seed: extraction.seed,
                degradations: Dictionary(uniqueKeysWithValues: kinds.map { ($0.rawValue, $0.protocolDescription) }),
                engines: figures)
        }
    }

    /// A degraded probe's template for engine `engine`, or (past the single engines) the fused one.
    private static func template(
        of probe: DegradedProbe, engine: Int, engineCount: Int, fusion: FusionModel?
    ) -> FaceTemplate? {
        if engine < engineCount {
            if case let .template(template) = probe.outcomes[engine] { return template }
            return nil
        }
        guard let fusion else { return nil }
        var values: [Float] = []
        for outcome in probe.outcomes {
            guard case let .template(template) = outcome else { return nil }
            values.append(contentsOf: template.values)
        }
        return try? FaceTemplate(raw: values, modelIdentifier: fusion.templateModel)
    }

    /// The report of engine `identifier`.
    public func report(of identifier: String) -> EvaluationReport? {
        engines.first { $0.engine.engine == identifier }
    }
}
