import FaceEngine

/// One mated 1:N search: a probe whose person is enrolled.
public struct MatedSearch: Sendable, Equatable {
    /// Position of the probe's own person in the candidate list (1 = top), or `nil` when the
    /// probe yielded no template.
    public var mateRank: Int?
    /// The score against the probe's own person, or `nil` when the probe yielded no template.
    public var mateScore: Float?

    /// A search outcome from its parts.
    public init(mateRank: Int?, mateScore: Float?) {
        self.mateRank = mateRank
        self.mateScore = mateScore
    }

    /// A probe that yielded no template: a miss at every rank and threshold.
    public static let failedProbe = MatedSearch(mateRank: nil, mateScore: nil)
}

/// The raw outcomes of closed-set (mated) and open-set (non-mated) 1:N searches.
///
/// The gallery holds one template per person. A mated search counts as a hit at threshold t
/// only when the mate is ranked first and scores at least t (rank-1 identification; ties
/// with another person count against the mate). A non-mated search is a false positive at t
/// when its top score is at least t; a non-mated probe that yielded no template returns no
/// candidate and so is never one.
public struct IdentificationScores: Sendable, Equatable {
    /// Number of enrolled people.
    public var galleryCount: Int
    /// One entry per mated search.
    public var matedSearches: [MatedSearch]
    /// The top score of each non-mated search, `nil` for a probe that yielded no template.
    public var nonMatedTopScores: [Float?]

    /// Outcomes from their parts.
    public init(galleryCount: Int, matedSearches: [MatedSearch], nonMatedTopScores: [Float?]) {
        self.galleryCount = galleryCount
        self.matedSearches = matedSearches
        self.nonMatedTopScores = nonMatedTopScores
    }

    /// Searches every probe against the gallery twice: against all of it (mated) and against
    /// it without the probe's own person (non-mated, leave-one-person-out).
    /// - Parameters:
    ///   - gallery: One template per enrolled person, identified by any distinct integer.
    ///   - probes: Each probe's person and template, if any. A probe whose person is not in
    ///     `gallery` makes only a non-mated search.
    ///   - scoring: How two templates score (cosine by default).
    public init(
        gallery: [(person: Int, template: FaceTemplate)], probes: [(person: Int, template: FaceTemplate?)],
        scoring: TemplateScoring = .engine(.cosineSimilarity)
    ) {
        let probeTemplates = probes.compactMap(\.template)
        var searchRows: [FaceTemplate] = gallery.map(\.template)
        searchRows.append(contentsOf: probeTemplates)
        let matrix = TemplateMatrix(searchRows, scoring: scoring)
        var mated: [MatedSearch] = []
        var nonMated: [Float?] = []
        var probeRow = gallery.count
        for probe in probes {
            guard probe.template != nil else {
                mated.append(.failedProbe)
                nonMated.append(nil)
                continue
            }
            var mateScore: Float?
            var bestOther: Float?
            var others: [Float] = []
            others.reserveCapacity(gallery.count)
            for (row, entry) in gallery.enumerated() {
                let score = matrix.score(probeRow, row)
                if entry.person == probe.person {
                    mateScore = score
                } else {
                    others.append(score)
                    bestOther = max(bestOther ?? score, score)
                }
            }
            probeRow += 1
            if let mateScore {
                let rank = 1 + others.count { $0 >= mateScore }
                mated.append(MatedSearch(mateRank: rank, mateScore: mateScore))
            }
            nonMated.append(bestOther)
        }
        self.init(galleryCount: gallery.count, matedSearches: mated, nonMatedTopScores: nonMated)
    }

    /// Fraction of mated searches whose mate is within the first `rank` candidates.
    public func hitRate(atRank rank: Int) -> RankHitRate {
        let hits = matedSearches.count { ($0.mateRank ?? Int.max) <= rank }
        return RankHitRate(rank: rank, hits: hits, searches: matedSearches.count)
    }

    /// FPIR and FNIR at `threshold`.
    public func rates(atThreshold threshold: Float) -> IdentificationRates {
        IdentificationRates(
            threshold: threshold,
            falsePositives: nonMatedTopScores.count { ($0 ?? -.infinity) >= threshold },
            nonMatedSearches: nonMatedTopScores.count,
            misses: matedSearches.count { search in
                !(search.mateRank == 1 && (search.mateScore ?? -.infinity) >= threshold)
            },
            matedSearches: matedSearches.count)
    }

    /// FNIR at the smallest threshold whose FPIR is at most `target`.
    /// - Throws: ``EvaluationError/invalidTargetRate(name:value:)`` for a target outside (0, 1).
    public func falseNegativeRate(atFalsePositiveRate target: Double) throws(EvaluationError) -> FNIRAtFPIR {
        guard target > 0, target < 1 else { throw .invalidTargetRate(name: "FPIR", value: target) }
        let scores = nonMatedTopScores.compactMap { $0 }.sorted()
        // With no non-mated score every threshold gives FPIR 0; the lowest cosine is the smallest.
        let threshold = scores.isEmpty
            ? -1 : ScoreSets.smallestThreshold(scores: scores, searches: nonMatedTopScores.count, maximumRate: target)
        return FNIRAtFPIR(
            targetFalsePositiveRate: target, rates: rates(atThreshold: threshold),
            minimumNonMatedSearches: ScoreSets.minimumComparisons(for: target))
    }
}

/// The rank-`rank` hit rate of mated searches.
public struct RankHitRate: Sendable, Equatable, Codable {
    /// Candidate list positions counted (1 = top only).
    public var rank: Int
    /// Mated searches whose mate was within ``rank``.
    public var hits: Int
    /// All mated searches.
    public var searches: Int

    /// A hit rate from its counts.
    public init(rank: Int, hits: Int, searches: Int) {
        self.rank = rank
        self.hits = hits
        self.searches = searches
    }

    /// hits / searches, or `nil` without searches.
    public var rate: Double? { searches > 0 ? Double(hits) / Double(searches) : nil }

    // The JSON carries the rate too, for readers; decoding derives it from the counts again.
    private enum CodingKeys: String, CodingKey {
        case rank, hits, searches, rate
    }

    /// Decodes the rank and counts.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            rank: container.decode(Int.self, forKey: .rank), hits: container.decode(Int.self, forKey: .hits),
            searches: container.decode(Int.self, forKey: .searches))
    }

    /// Encodes the rank, the counts and the rate.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rank, forKey: .rank)
        try container.encode(hits, forKey: .hits)
        try container.encode(searches, forKey: .searches)
        try container.encodeIfPresent(rate, forKey: .rate)
    }
}

/// Open-set identification error rates at one threshold.
public struct IdentificationRates: Sendable, Equatable, Codable {
    /// The threshold.
    public var threshold: Float
    /// Non-mated searches whose top candidate scored at or above the threshold.
    public var falsePositives: Int
    /// All non-mated searches.
    public var nonMatedSearches: Int
    /// Mated searches whose mate was not first at or above the threshold.
    public var misses: Int
    /// All mated searches.
    public var matedSearches: Int

    /// Rates from their counts.
    public init(threshold: Float, falsePositives: Int, nonMatedSearches: Int, misses: Int, matedSearches: Int) {
        self.threshold = threshold
        self.falsePositives = falsePositives
        self.nonMatedSearches = nonMatedSearches
        self.misses = misses
        self.matedSearches = matedSearches
    }

    /// False positive identification rate, `nil` without non-mated searches.
    public var falsePositiveRate: Double? {
        nonMatedSearches > 0 ? Double(falsePositives) / Double(nonMatedSearches) : nil
    }

    /// False negative identification rate, `nil` without mated searches.
    public var falseNegativeRate: Double? {
        matedSearches > 0 ? Double(misses) / Double(matedSearches) : nil
    }

    // The JSON carries the rates too, for readers; decoding derives them from the counts again.
    private enum CodingKeys: String, CodingKey {
        case threshold, falsePositives, nonMatedSearches, misses, matedSearches
        case falsePositiveRate, falseNegativeRate
    }

    /// Decodes the threshold and counts.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            threshold: container.decode(Float.self, forKey: .threshold),
            falsePositives: container.decode(Int.self, forKey: .falsePositives),
            nonMatedSearches: container.decode(Int.self, forKey: .nonMatedSearches),
            misses: container.decode(Int.self, forKey: .misses),
            matedSearches: container.decode(Int.self, forKey: .matedSearches))
    }

    /// Encodes the threshold, the counts and the rates.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(falsePositives, forKey: .falsePositives)
        try container.encode(nonMatedSearches, forKey: .nonMatedSearches)
        try container.encode(misses, forKey: .misses)
        try container.encode(matedSearches, forKey: .matedSearches)
        try container.encodeIfPresent(falsePositiveRate, forKey: .falsePositiveRate)
        try container.encodeIfPresent(falseNegativeRate, forKey: .falseNegativeRate)
    }
}

/// FNIR at the threshold that holds FPIR to a target.
public struct FNIRAtFPIR: Sendable, Equatable, Codable {
    /// The FPIR asked for.
    public var targetFalsePositiveRate: Double
    /// The rates at the smallest threshold whose FPIR is at most the target.
    public var rates: IdentificationRates
    /// Non-mated searches needed for the target to be measurable: ceil(1 / target).
    public var minimumNonMatedSearches: Int

    /// A figure from its parts.
    public init(targetFalsePositiveRate: Double, rates: IdentificationRates, minimumNonMatedSearches: Int) {
        self.targetFalsePositiveRate = targetFalsePositiveRate
        self.rates = rates
        self.minimumNonMatedSearches = minimumNonMatedSearches
    }

    /// Whether there are enough non-mated searches for the target to mean anything.
    public var isSupported: Bool { rates.nonMatedSearches >= minimumNonMatedSearches }

    // The JSON says whether the target is supported, for readers; decoding derives it again.
    private enum CodingKeys: String, CodingKey {
        case targetFalsePositiveRate, rates, minimumNonMatedSearches, isSupported
    }

    /// Decodes the stored figures.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            targetFalsePositiveRate: container.decode(Double.self, forKey: .targetFalsePositiveRate),
            rates: container.decode(IdentificationRates.self, forKey: .rates),
            minimumNonMatedSearches: container.decode(Int.self, forKey: .minimumNonMatedSearches))
    }

    /// Encodes the figures and whether the target is supported.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(targetFalsePositiveRate, forKey: .targetFalsePositiveRate)
        try container.encode(rates, forKey: .rates)
        try container.encode(minimumNonMatedSearches, forKey: .minimumNonMatedSearches)
        try container.encode(isSupported, forKey: .isSupported)
    }
}
