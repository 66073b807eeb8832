/// FMR and FNMR of one group at the operating threshold.
public struct GroupRates: Sendable, Equatable, Codable {
    /// The group's label.
    public var name: String
    /// People labelled with the group.
    public var people: Int
    /// Genuine comparisons of the group's people, and impostor comparisons between two
    /// different people both of the group.
    public var rates: ErrorRates

    /// Group figures from their parts.
    public init(name: String, people: Int, rates: ErrorRates) {
        self.name = name
        self.people = people
        self.rates = rates
    }
}

/// The largest-to-smallest ratio of one error rate across groups, as NISTIR 8280 reports
/// demographic differentials.
///
/// Zero rates: a group with no error observed has rate 0, and dividing by it is meaningless,
/// so ``ratio`` is then `nil`. ``ratioWithZeroAsOneError`` replaces that group's zero by
/// one error in its comparisons (1/N, the smallest rate its comparisons could show; among
/// several such groups, the one with the fewest comparisons), which gives the smallest
/// ratio the data can claim. When no group has any error both are `nil`.
public struct RateRatio: Sendable, Equatable, Codable {
    /// The group with the highest rate.
    public var highestGroup: String?
    /// Its rate.
    public var highest: Double?
    /// The group with the lowest rate.
    public var lowestGroup: String?
    /// Its rate.
    public var lowest: Double?
    /// highest / lowest, `nil` when the lowest is 0 or fewer than two groups have a rate.
    public var ratio: Double?
    /// highest / (1 / N of the lowest group), when the lowest rate is 0 and the highest is not.
    public var ratioWithZeroAsOneError: Double?

    /// How zero rates are handled, for reports.
    public static let zeroHandling = "A group with no observed error has rate 0 and the ratio is then undefined; "
        + "the report instead gives the ratio with that group's zero replaced by one error in its "
        + "comparisons (1/N), the smallest ratio the data can claim (shown as '>= x')."

    /// A ratio from its parts.
    public init(
        highestGroup: String?, highest: Double?, lowestGroup: String?, lowest: Double?, ratio: Double?,
        ratioWithZeroAsOneError: Double?
    ) {
        self.highestGroup = highestGroup
        self.highest = highest
        self.lowestGroup = lowestGroup
        self.lowest = lowest
        self.ratio = ratio
        self.ratioWithZeroAsOneError = ratioWithZeroAsOneError
    }

    /// The ratio of the rates `rate` picks from `groups`; groups without comparisons for it
    /// (rate `nil`) are left out.
    /// - Parameter comparisons: The denominator behind a group's rate.
    public init(
        groups: [GroupRates], rate: (ErrorRates) -> Double?, comparisons: (ErrorRates) -> Int
    ) {
        let measured = groups.compactMap { group in rate(group.rates).map { (group, $0) } }
        guard measured.count >= 2,
              let highest = measured.max(by: { $0.1 < $1.1 }),
              let lowest = measured.min(by: { ($0.1, comparisons($0.0.rates)) < ($1.1, comparisons($1.0.rates)) })
        else {
            self.init(highestGroup: nil, highest: nil, lowestGroup: nil, lowest: nil, ratio: nil, ratioWithZeroAsOneError: nil)
            return
        }
        let ratio = lowest.1 > 0 ? highest.1 / lowest.1 : nil
        let zeroRatio = lowest.1 == 0 && highest.1 > 0 ? highest.1 * Double(comparisons(lowest.0.rates)) : nil
        self.init(
            highestGroup: highest.0.name, highest: highest.1, lowestGroup: lowest.0.name, lowest: lowest.1,
            ratio: ratio, ratioWithZeroAsOneError: zeroRatio)
    }
}

/// Error rates per group at the operating threshold, and how far apart they lie.
public struct GroupFigures: Sendable, Equatable, Codable {
    /// How impostor comparisons are assigned to groups, for reports.
    public static let pairing = "Per-group FMR counts impostor comparisons between two different people of the "
        + "same group (comparisons across groups are left out, as in NISTIR 8280's same-group figures); "
        + "per-group FNMR counts the genuine comparisons of the group's people."

    /// The threshold the rates are taken at.
    public var threshold: Float
    /// Each group, in natural order of name.
    public var groups: [GroupRates]
    /// Largest-to-smallest FMR.
    public var falseMatchRateRatio: RateRatio
    /// Largest-to-smallest FNMR.
    public var falseNonMatchRateRatio: RateRatio
    /// People the groups file does not label (left out of every group).
    public var unlabelledPeople: [String]

    /// Figures from per-group rates; the ratios follow from them.
    public init(threshold: Float, groups: [GroupRates], unlabelledPeople: [String]) {
        self.threshold = threshold
        self.groups = groups
        self.unlabelledPeople = unlabelledPeople
        falseMatchRateRatio = RateRatio(groups: groups, rate: \.falseMatchRate, comparisons: \.impostorComparisons)
        falseNonMatchRateRatio = RateRatio(
            groups: groups, rate: \.falseNonMatchRate, comparisons: \.genuineComparisons)
    }
}
