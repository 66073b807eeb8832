import Foundation

/// Genuine scores (same person) and impostor scores (different people) of 1:1 comparisons,
/// each kept in ascending order.
///
/// A comparison is a match when its score is at or above the threshold, as everywhere in
/// BioMatch: FMR(t) is the fraction of impostor scores >= t, FNMR(t) the fraction of genuine
/// scores < t. Counting is exact (binary search on the sorted scores).
public struct ScoreSets: Sendable, Equatable {
    /// Same-person scores, ascending.
    public let genuine: [Float]
    /// Different-person scores, ascending.
    public let impostor: [Float]

    /// Score sets from unsorted scores.
    public init(genuine: [Float], impostor: [Float]) {
        self.genuine = genuine.sorted()
        self.impostor = impostor.sorted()
    }

    /// Impostor scores at or above `threshold`.
    public func falseMatches(atThreshold threshold: Float) -> Int {
        impostor.count - Self.countBelow(threshold, in: impostor)
    }

    /// Genuine scores below `threshold`.
    public func falseNonMatches(atThreshold threshold: Float) -> Int {
        Self.countBelow(threshold, in: genuine)
    }

    /// FMR and FNMR at `threshold`, with their counts.
    public func rates(atThreshold threshold: Float) -> ErrorRates {
        ErrorRates(
            threshold: threshold,
            falseMatches: falseMatches(atThreshold: threshold), impostorComparisons: impostor.count,
            falseNonMatches: falseNonMatches(atThreshold: threshold), genuineComparisons: genuine.count)
    }

    /// The smallest threshold whose FMR is at most `targetFalseMatchRate`, with the FMR/FNMR
    /// trade-off at thresholds around it.
    ///
    /// With N impostor scores, at most k = floor(target x N) of them may reach the threshold,
    /// so the threshold is the next float above the (k+1)-th highest impostor score. The
    /// result says whether the data can support the target at all: an FMR of 1e-4 means one
    /// false match in 10,000, so fewer impostor comparisons than 1/target cannot show it.
    /// - Parameter offsets: Threshold offsets of the trade-off rows (0 is always included).
    /// - Throws: ``EvaluationError/invalidTargetRate(name:value:)`` for a target outside (0, 1),
    ///   ``EvaluationError/noImpostorComparisons`` when there is no impostor score.
    public func calibrate(
        targetFalseMatchRate target: Double,
        offsets: [Float] = ThresholdCalibration.defaultOffsets
    ) throws(EvaluationError) -> ThresholdCalibration {
        guard target > 0, target < 1 else { throw .invalidTargetRate(name: "FMR", value: target) }
        guard !impostor.isEmpty else { throw .noImpostorComparisons }
        let threshold = Self.smallestThreshold(scores: impostor, searches: impostor.count, maximumRate: target)
        let rows = Set(offsets + [0]).sorted().map { offset in rates(atThreshold: threshold + offset) }
        return ThresholdCalibration(
            targetFalseMatchRate: target, threshold: threshold, rates: rates(atThreshold: threshold),
            minimumImpostorComparisons: Self.minimumComparisons(for: target), tradeOff: rows)
    }

    /// FMR against FNMR at every distinct score, from the lowest threshold (FNMR 0) to one
    /// above the highest score (FMR 0), thinned for plotting.
    ///
    /// FMR never rises and FNMR never falls along the curve. A point is kept when it moves
    /// either rate by at least `logResolution` decades from the last kept point, or to or
    /// from zero; the first and last points are always kept. Pass 0 to keep every point.
    public func detCurve(logResolution: Double = 0.01) -> [DETPoint] {
        guard !genuine.isEmpty, !impostor.isEmpty else { return [] }
        var points: [DETPoint] = []
        var lastKept: DETPoint?
        let thresholds = Self.distinctMerged(genuine, impostor)
        let beyondAll = thresholds[thresholds.count - 1].nextUp
        var impostorsBelow = 0
        var genuineBelow = 0
        for (position, threshold) in (thresholds + [beyondAll]).enumerated() {
            while impostorsBelow < impostor.count, impostor[impostorsBelow] < threshold { impostorsBelow += 1 }
            while genuineBelow < genuine.count, genuine[genuineBelow] < threshold { genuineBelow += 1 }
            let point = DETPoint(
                threshold: threshold,
                falseMatchRate: Double(impostor.count - impostorsBelow) / Double(impostor.count),
                falseNonMatchRate: Double(genuineBelow) / Double(genuine.count))
            let isEnd = position == 0 || position == thresholds.count
            if isEnd || lastKept.map({ Self.movesEnough(from: $0, to: point, by: logResolution) }) ?? true {
                points.append(point)
                lastKept = point
            }
        }
        return points
    }

    /// The rate where FMR and FNMR cross, interpolated linearly between the two adjacent
    /// thresholds that bracket the crossing (exact when they meet at a threshold), or `nil`
    /// without both kinds of score.
    public func equalErrorRate() -> EqualErrorRate? {
        let curve = detCurve(logResolution: 0)
        guard let crossing = curve.firstIndex(where: { $0.falseNonMatchRate >= $0.falseMatchRate }) else {
            return nil
        }
        let after = curve[crossing]
        guard crossing > 0 else {
            return EqualErrorRate(rate: after.falseMatchRate, threshold: after.threshold)
        }
        let before = curve[crossing - 1]
        let gapBefore = before.falseMatchRate - before.falseNonMatchRate
        let gapAfter = after.falseMatchRate - after.falseNonMatchRate
        let fraction = gapBefore / (gapBefore - gapAfter)
        let rate = before.falseMatchRate + fraction * (after.falseMatchRate - before.falseMatchRate)
        let threshold = before.threshold + Float(fraction) * (after.threshold - before.threshold)
        return EqualErrorRate(rate: rate, threshold: threshold)
    }

    /// Genuine and impostor counts in `binCount` equal bins spanning both sets, on bin edges
    /// that are multiples of `binWidth`.
    public func histogram(binWidth: Float = 0.02) -> ScoreHistogram {
        let all = genuine + impostor
        guard let low = all.min(), let high = all.max(), binWidth > 0 else {
            return ScoreHistogram(lowerBound: 0, binWidth: binWidth, genuine: [], impostor: [])
        }
        let first = (low / binWidth).rounded(.down)
        let last = (high / binWidth).rounded(.down)
        let binCount = Int(last - first) + 1
        let lowerBound = first * binWidth
        func counts(_ scores: [Float]) -> [Int] {
            var counts = [Int](repeating: 0, count: binCount)
            for score in scores {
                let bin = Int((score / binWidth).rounded(.down) - first)
                counts[min(max(bin, 0), binCount - 1)] += 1
            }
            return counts
        }
        return ScoreHistogram(
            lowerBound: lowerBound, binWidth: binWidth, genuine: counts(genuine), impostor: counts(impostor))
    }

    /// Summary statistics of both sets.
    public var summary: ScoreSummary {
        ScoreSummary(genuine: ScoreStatistics(genuine), impostor: ScoreStatistics(impostor))
    }

    // MARK: - Shared arithmetic

    /// The smallest threshold at which at most `maximumRate` of `searches` trials produce a
    /// score at or above it, given the trials' non-empty ascending `scores` (trials that produced
    /// no score never reach a threshold): the next float above the (k+1)-th highest score,
    /// k = floor(rate x searches), or the lowest score when k allows them all.
    static func smallestThreshold(scores: [Float], searches: Int, maximumRate: Double) -> Float {
        let allowed = allowedCount(rate: maximumRate, of: searches)
        guard allowed < scores.count else { return scores[0] }
        return scores[scores.count - 1 - allowed].nextUp
    }

    /// floor(rate x count), robust to the rate not being exact in binary (0.05 x 100 is 5).
    static func allowedCount(rate: Double, of count: Int) -> Int {
        Int((rate * Double(count) * (1 + 1e-9)).rounded(.down))
    }

    /// How many comparisons it takes for one error to be within `rate`: ceil(1 / rate).
    static func minimumComparisons(for rate: Double) -> Int {
        Int((1 / rate * (1 - 1e-9)).rounded(.up))
    }

    /// How many of `sorted` (ascending) lie below `threshold`.
    static func countBelow(_ threshold: Float, in sorted: [Float]) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < threshold { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private static func distinctMerged(_ left: [Float], _ right: [Float]) -> [Float] {
        var merged: [Float] = []
        merged.reserveCapacity(left.count + right.count)
        var leftIndex = 0
        var rightIndex = 0
        while leftIndex < left.count || rightIndex < right.count {
            let takeLeft = rightIndex == right.count || (leftIndex < left.count && left[leftIndex] <= right[rightIndex])
            let value = takeLeft ? left[leftIndex] : right[rightIndex]
            if takeLeft { leftIndex += 1 } else { rightIndex += 1 }
            if merged.last != value { merged.append(value) }
        }
        return merged
    }

    private static func movesEnough(from old: DETPoint, to new: DETPoint, by decades: Double) -> Bool {
        func moved(_ a: Double, _ b: Double) -> Bool {
            if a == b { return false }
            if a == 0 || b == 0 { return true }
            return abs(log10(a) - log10(b)) >= decades
        }
        return moved(old.falseMatchRate, new.falseMatchRate) || moved(old.falseNonMatchRate, new.falseNonMatchRate)
    }
}

/// FMR and FNMR at one threshold, with the counts behind them.
public struct ErrorRates: Sendable, Equatable, Codable {
    /// The threshold: scores at or above it match.
    public var threshold: Float
    /// Impostor comparisons at or above the threshold.
    public var falseMatches: Int
    /// All impostor comparisons.
    public var impostorComparisons: Int
    /// Genuine comparisons below the threshold.
    public var falseNonMatches: Int
    /// All genuine comparisons.
    public var genuineComparisons: Int

    /// Rates from their counts.
    public init(threshold: Float, falseMatches: Int, impostorComparisons: Int, falseNonMatches: Int, genuineComparisons: Int) {
        self.threshold = threshold
        self.falseMatches = falseMatches
        self.impostorComparisons = impostorComparisons
        self.falseNonMatches = falseNonMatches
        self.genuineComparisons = genuineComparisons
    }

    /// False match rate, or `nil` without impostor comparisons.
    public var falseMatchRate: Double? {
        impostorComparisons > 0 ? Double(falseMatches) / Double(impostorComparisons) : nil
    }

    /// False non-match rate, or `nil` without genuine comparisons.
    public var falseNonMatchRate: Double? {
        genuineComparisons > 0 ? Double(falseNonMatches) / Double(genuineComparisons) : nil
    }

    // The JSON carries the rates too, for readers; decoding derives them from the counts again.
    private enum CodingKeys: String, CodingKey {
        case threshold, falseMatches, impostorComparisons, falseNonMatches, genuineComparisons
        case falseMatchRate, falseNonMatchRate
    }

    /// Decodes the threshold and counts.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            threshold: container.decode(Float.self, forKey: .threshold),
            falseMatches: container.decode(Int.self, forKey: .falseMatches),
            impostorComparisons: container.decode(Int.self, forKey: .impostorComparisons),
            falseNonMatches: container.decode(Int.self, forKey: .falseNonMatches),
            genuineComparisons: container.decode(Int.self, forKey: .genuineComparisons))
    }

    /// Encodes the threshold, the counts and the rates.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(falseMatches, forKey: .falseMatches)
        try container.encode(impostorComparisons, forKey: .impostorComparisons)
        try container.encode(falseNonMatches, forKey: .falseNonMatches)
        try container.encode(genuineComparisons, forKey: .genuineComparisons)
        try container.encodeIfPresent(falseMatchRate, forKey: .falseMatchRate)
        try container.encodeIfPresent(falseNonMatchRate, forKey: .falseNonMatchRate)
    }
}

/// The outcome of ``ScoreSets/calibrate(targetFalseMatchRate:offsets:)``.
public struct ThresholdCalibration: Sendable, Equatable, Codable {
    /// Offsets of the default trade-off rows around the calibrated threshold.
    public static let defaultOffsets: [Float] = [-0.1, -0.05, -0.02, -0.01, 0, 0.01, 0.02, 0.05, 0.1]

    /// The FMR asked for.
    public var targetFalseMatchRate: Double
    /// The smallest threshold whose FMR is at most the target.
    public var threshold: Float
    /// FMR and FNMR at ``threshold``.
    public var rates: ErrorRates
    /// Impostor comparisons needed for the target to be measurable: ceil(1 / target).
    public var minimumImpostorComparisons: Int
    /// FMR and FNMR at thresholds around ``threshold``, ascending; one row is ``threshold``.
    public var tradeOff: [ErrorRates]

    /// A calibration from its parts.
    public init(
        targetFalseMatchRate: Double, threshold: Float, rates: ErrorRates, minimumImpostorComparisons: Int,
        tradeOff: [ErrorRates]
    ) {
        self.targetFalseMatchRate = targetFalseMatchRate
        self.threshold = threshold
        self.rates = rates
        self.minimumImpostorComparisons = minimumImpostorComparisons
        self.tradeOff = tradeOff
    }

    /// Whether there are enough impostor comparisons for the target FMR to mean anything.
    public var isSupported: Bool { rates.impostorComparisons >= minimumImpostorComparisons }

    /// Why the figure cannot be trusted, or `nil` when the data supports it.
    public var warning: String? {
        guard !isSupported else { return nil }
        return "The dataset gives only \(rates.impostorComparisons) impostor comparisons; an FMR of "
            + "\(targetFalseMatchRate) needs at least \(minimumImpostorComparisons) (one false match in "
            + "\(minimumImpostorComparisons)). The threshold merely lies above every impostor score; "
            + "the data cannot show that it meets the target. Use a dataset with more people."
    }

    // The JSON says whether the target is supported, for readers; decoding derives it again.
    private enum CodingKeys: String, CodingKey {
        case targetFalseMatchRate, threshold, rates, minimumImpostorComparisons, tradeOff, isSupported, warning
    }

    /// Decodes the stored figures.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            targetFalseMatchRate: container.decode(Double.self, forKey: .targetFalseMatchRate),
            threshold: container.decode(Float.self, forKey: .threshold),
            rates: container.decode(ErrorRates.self, forKey: .rates),
            minimumImpostorComparisons: container.decode(Int.self, forKey: .minimumImpostorComparisons),
            tradeOff: container.decode([ErrorRates].self, forKey: .tradeOff))
    }

    /// Encodes the figures, whether the target is supported, and the warning if not.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(targetFalseMatchRate, forKey: .targetFalseMatchRate)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(rates, forKey: .rates)
        try container.encode(minimumImpostorComparisons, forKey: .minimumImpostorComparisons)
        try container.encode(tradeOff, forKey: .tradeOff)
        try container.encode(isSupported, forKey: .isSupported)
        try container.encodeIfPresent(warning, forKey: .warning)
    }
}

/// One point of a detection error trade-off curve.
public struct DETPoint: Sendable, Equatable, Codable {
    /// The threshold.
    public var threshold: Float
    /// FMR at the threshold.
    public var falseMatchRate: Double
    /// FNMR at the threshold.
    public var falseNonMatchRate: Double

    /// A point from its parts.
    public init(threshold: Float, falseMatchRate: Double, falseNonMatchRate: Double) {
        self.threshold = threshold
        self.falseMatchRate = falseMatchRate
        self.falseNonMatchRate = falseNonMatchRate
    }
}

/// Where FMR equals FNMR.
public struct EqualErrorRate: Sendable, Equatable, Codable {
    /// The common rate.
    public var rate: Double
    /// The threshold there (interpolated between the two bracketing scores).
    public var threshold: Float

    /// An equal error rate from its parts.
    public init(rate: Double, threshold: Float) {
        self.rate = rate
        self.threshold = threshold
    }
}

/// Genuine and impostor score counts on shared bins: bin i spans
/// [lowerBound + i x binWidth, lowerBound + (i+1) x binWidth).
public struct ScoreHistogram: Sendable, Equatable, Codable {
    /// Left edge of the first bin.
    public var lowerBound: Float
    /// Width of every bin.
    public var binWidth: Float
    /// Genuine counts per bin.
    public var genuine: [Int]
    /// Impostor counts per bin.
    public var impostor: [Int]

    /// A histogram from its parts.
    public init(lowerBound: Float, binWidth: Float, genuine: [Int], impostor: [Int]) {
        self.lowerBound = lowerBound
        self.binWidth = binWidth
        self.genuine = genuine
        self.impostor = impostor
    }
}

/// Count, range, mean and median of one score set.
public struct ScoreStatistics: Sendable, Equatable, Codable {
    /// Number of scores.
    public var count: Int
    /// Lowest score, `nil` when empty.
    public var minimum: Float?
    /// Highest score, `nil` when empty.
    public var maximum: Float?
    /// Arithmetic mean, `nil` when empty.
    public var mean: Double?
    /// Median, `nil` when empty.
    public var median: Double?

    /// Statistics of ascending `scores`.
    init(_ scores: [Float]) {
        count = scores.count
        minimum = scores.first
        maximum = scores.last
        mean = scores.isEmpty ? nil : scores.reduce(0) { $0 + Double($1) } / Double(scores.count)
        median = scores.isEmpty
            ? nil : (Double(scores[(scores.count - 1) / 2]) + Double(scores[scores.count / 2])) / 2
    }
}

/// Statistics of both score sets.
public struct ScoreSummary: Sendable, Equatable, Codable {
    /// Same-person scores.
    public var genuine: ScoreStatistics
    /// Different-person scores.
    public var impostor: ScoreStatistics
}
