import Foundation
import Gallery
import Transparency

/// How a transparency report groups time: UTC days, ISO weeks (Monday to Sunday) or calendar
/// months.
public enum StatisticsPeriod: String, Sendable, Hashable, CaseIterable, Codable {
    /// 00:00 to 24:00 UTC.
    case day
    /// Monday 00:00 UTC to the next Monday (ISO 8601 weeks).
    case week
    /// The calendar month in UTC.
    case month

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// The start of the period that holds `date`.
    public func start(of date: Date) -> Date {
        let calendar = Self.calendar
        switch self {
        case .day: return calendar.startOfDay(for: date)
        case .week:
            let components = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return calendar.date(from: components) ?? calendar.startOfDay(for: date)
        case .month:
            return calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? calendar.startOfDay(for: date)
        }
    }

    /// The start of the period after the one starting at `start`.
    public func next(after start: Date) -> Date {
        let component: Calendar.Component = switch self {
        case .day: .day
        case .week: .weekOfYear
        case .month: .month
        }
        return Self.calendar.date(byAdding: component, value: 1, to: start) ?? start.addingTimeInterval(86_400)
    }
}

/// The searches, verifications and review outcomes of one gallery and purpose in one period.
public struct ActivityFigures: Sendable, Hashable, Codable {
    /// `search` entries.
    public var searches = 0
    /// `search` entries whose `result.candidates` is not empty: candidate lists returned.
    public var searchesWithCandidates = 0
    /// Candidates listed by those entries, in total: the leads handed out.
    public var candidatesReturned = 0
    /// `verify` entries (1:1 against an enrolled subject).
    public var verifications = 0
    /// `compare` entries (1:1 of two images, no gallery).
    public var comparisons = 0
    /// `reviewDecision` entries whose `result.decision` is `confirmed`.
    public var confirmed = 0
    /// … `rejected`.
    public var rejected = 0
    /// … `inconclusive`.
    public var inconclusive = 0

    /// Every review decision.
    public var reviewDecisions: Int { confirmed + rejected + inconclusive }
    /// Rejected decisions over all decisions; nil without decisions.
    public var rejectedShare: Double? { reviewDecisions == 0 ? nil : Double(rejected) / Double(reviewDecisions) }

    /// No figures yet.
    public init() {}

    var isEmpty: Bool { self == ActivityFigures() }

    mutating func add(_ other: ActivityFigures) {
        searches += other.searches
        searchesWithCandidates += other.searchesWithCandidates
        candidatesReturned += other.candidatesReturned
        verifications += other.verifications
        comparisons += other.comparisons
        confirmed += other.confirmed
        rejected += other.rejected
        inconclusive += other.inconclusive
    }

    private enum CodingKeys: String, CodingKey {
        case searches, searchesWithCandidates, candidatesReturned, verifications, comparisons, confirmed, rejected
        case inconclusive, reviewDecisions, rejectedShare
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        searches = try container.decode(Int.self, forKey: .searches)
        searchesWithCandidates = try container.decode(Int.self, forKey: .searchesWithCandidates)
        candidatesReturned = try container.decode(Int.self, forKey: .candidatesReturned)
        verifications = try container.decode(Int.self, forKey: .verifications)
        comparisons = try container.decode(Int.self, forKey: .comparisons)
        confirmed = try container.decode(Int.self, forKey: .confirmed)
        rejected = try container.decode(Int.self, forKey: .rejected)
        inconclusive = try container.decode(Int.self, forKey: .inconclusive)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(searches, forKey: .searches)
        try container.encode(searchesWithCandidates, forKey: .searchesWithCandidates)
        try container.encode(candidatesReturned, forKey: .candidatesReturned)
        try container.encode(verifications, forKey: .verifications)
        try container.encode(comparisons, forKey: .comparisons)
        try container.encode(confirmed, forKey: .confirmed)
        try container.encode(rejected, forKey: .rejected)
        try container.encode(inconclusive, forKey: .inconclusive)
        try container.encode(reviewDecisions, forKey: .reviewDecisions)
        try container.encode(rejectedShare, forKey: .rejectedShare)
    }
}

/// One gallery's (or no gallery's) activity under one purpose.
public struct ActivityRow: Sendable, Hashable, Codable {
    /// The gallery's name; nil for comparisons of two images.
    public var gallery: String?
    /// The stated purpose; for review decisions, the purpose of the search reviewed (nil when
    /// that search is not in the entries read).
    public var purpose: String?
    /// The figures.
    public var figures: ActivityFigures
}

/// A recorded change of an operating threshold.
public struct ThresholdChange: Sendable, Hashable, Codable {
    /// The entry's sequence number.
    public var sequence: Int64
    /// When it was recorded.
    public var recordedAt: Date
    /// `gallery-threshold` (the default engine's, `thresholdChanged`), `engine-threshold` or
    /// `fusion-calibration` (`galleryReconfigured`).
    public var kind: String
    /// The engine whose threshold changed (nil for the gallery's own).
    public var engine: String?
    /// The threshold before, where the entry records it.
    public var previous: Double?
    /// The threshold after (nil: back to the engine's published one).
    public var threshold: Double?
    /// The reason given.
    public var reason: String
}

/// One gallery's configuration changes and erasures in one period.
public struct GalleryFigures: Sendable, Hashable, Codable {
    /// Threshold changes, in log order.
    public var thresholdChanges: [ThresholdChange] = []
    /// `subjectErased` entries.
    public var erasuresOnRequest = 0
    /// `retentionErasure` entries.
    public var erasuresByRetention = 0
    /// The `result.subjectsErased` of `galleryDeleted` entries, summed.
    public var subjectsErasedWithGallery = 0
    /// `subjectAccessed` entries.
    public var subjectAccesses = 0

    /// No figures yet.
    public init() {}

    var isEmpty: Bool { self == GalleryFigures() }

    mutating func add(_ other: GalleryFigures) {
        thresholdChanges += other.thresholdChanges
        erasuresOnRequest += other.erasuresOnRequest
        erasuresByRetention += other.erasuresByRetention
        subjectsErasedWithGallery += other.subjectsErasedWithGallery
        subjectAccesses += other.subjectAccesses
    }
}

/// One gallery's changes and erasures.
public struct GalleryRow: Sendable, Hashable, Codable {
    /// The gallery's name.
    public var gallery: String
    /// The figures.
    public var figures: GalleryFigures
}

/// The figures of one period.
public struct PeriodStatistics: Sendable, Hashable, Codable {
    /// The period's first instant (UTC).
    public var start: Date
    /// The instant after its last (the next period's start, or the report's end).
    public var end: Date
    /// Activity by gallery and purpose, in gallery then purpose order.
    public var activity: [ActivityRow]
    /// Changes and erasures by gallery, in gallery order.
    public var galleries: [GalleryRow]
}

/// Which entries the figures were computed from.
public struct StatisticsBasis: Sendable, Hashable, Codable {
    /// The entries at positions 1...treeSize were read.
    public var treeSize: Int64
    /// The RFC 9162 root hash of those entries, base64, computed while reading them (leaf =
    /// SHA-256(0x00 || export line)): equal to a checkpoint's root when they are the entries the
    /// checkpoint covers.
    public var rootHash: String
    /// The `entry_hash` of the entry at `treeSize`.
    public var lastEntryHash: String?
    /// The signed checkpoint whose root the entries were found to give, when one was used.
    public var checkpoint: String?

    /// Describes a basis.
    public init(treeSize: Int64, rootHash: String, lastEntryHash: String?, checkpoint: String? = nil) {
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.lastEntryHash = lastEntryHash
        self.checkpoint = checkpoint
    }
}

/// Published statistics of the matcher's use, computed from audit entries alone, so anyone
/// holding the log (or an export of it) can compute them again; docs/audit-log.md
/// ("Transparency statistics") defines each figure.
public struct TransparencyReport: Sendable, Hashable, Codable {
    /// The first instant counted (UTC, inclusive).
    public var from: Date
    /// The first instant not counted (UTC, exclusive).
    public var to: Date
    /// How the periods are cut.
    public var period: StatisticsPeriod
    /// The entries read.
    public var basis: StatisticsBasis
    /// Entries inside the window that were counted.
    public var entriesInWindow: Int
    /// Each period of the window, in order, empty ones included.
    public var periods: [PeriodStatistics]
    /// The whole window's activity by gallery and purpose.
    public var totalActivity: [ActivityRow]
    /// The whole window's changes and erasures by gallery.
    public var totalGalleries: [GalleryRow]
}

/// Computes a ``TransparencyReport`` from audit entries read in log order (from position 1).
///
/// Entries before `from` are read too: they name galleries and the searches later review
/// decisions refer to. Entries after `upTo` (a checkpoint's tree size) are not counted.
public struct TransparencyStatistics: Sendable {
    /// The first instant counted.
    public let from: Date
    /// The first instant not counted.
    public let to: Date
    /// How the window is cut.
    public let period: StatisticsPeriod
    /// The last position counted (nil: every entry given).
    public let upTo: Int64?

    private struct ActivityKey: Hashable { var period: Date; var gallery: String?; var purpose: String? }
    private struct GalleryKey: Hashable { var period: Date; var gallery: String }

    private var activity: [ActivityKey: ActivityFigures] = [:]
    private var galleries: [GalleryKey: GalleryFigures] = [:]
    private var galleryNames: [GalleryRecord.ID: String] = [:]
    /// Purposes of searches whose candidates await review, by sequence number.
    private var reviewedSearchPurposes: [Int64: String] = [:]
    private var lastPosition: Int64 = 0
    private var tree = MerkleFrontier()
    private var lastEntryHash: String?
    private var inWindow = 0

    /// Statistics of `[from, to)` by `period`, counting entries up to position `upTo`.
    public init(from: Date, to: Date, period: StatisticsPeriod, upTo: Int64? = nil) {
        self.from = from
        self.to = to
        self.period = period
        self.upTo = upTo
    }

    /// Reads the next entry. Returns false once past `upTo` (the caller may stop).
    @discardableResult
    public mutating func consider(_ entry: AuditEntry, position: Int64) -> Bool {
        if let upTo, position > upTo { return false }
        lastPosition = position
        lastEntryHash = entry.entryHash
        tree.append(leafHash: AuditTree.leafHash(of: entry))
        if let id = entry.galleryID, let name = entry.galleryName { galleryNames[id] = name }
        // Only these actions' parameters and results are read: parsing every entry's would
        // double the cost of a report.
        let facts: Facts
        switch entry.action {
        case .search, .reviewDecision, .thresholdChanged, .galleryReconfigured, .galleryDeleted:
            facts = Facts.read(parameters: entry.parameters, result: entry.result)
        default:
            facts = Facts()
        }
        if entry.action == .search, facts.reviewRequired == true, let purpose = entry.purpose {
            reviewedSearchPurposes[entry.sequence] = purpose
        }
        let time = entry.recordedAt
        guard time >= from, time < to else { return true }
        inWindow += 1
        let start = period.start(of: time)
        let gallery = entry.galleryName ?? entry.galleryID.flatMap { galleryNames[$0] } ?? entry.galleryID.map { "gallery \($0.rawValue)" }
        func count(purpose: String?, _ update: (inout ActivityFigures) -> Void) {
            update(&activity[ActivityKey(period: start, gallery: gallery, purpose: purpose), default: ActivityFigures()])
        }
        func change(_ update: (inout GalleryFigures) -> Void) {
            update(&galleries[GalleryKey(period: start, gallery: gallery ?? "-"), default: GalleryFigures()])
        }
        switch entry.action {
        case .search:
            let candidates = facts.candidates?.count ?? 0
            count(purpose: entry.purpose) {
                $0.searches += 1
                $0.candidatesReturned += candidates
                if candidates > 0 { $0.searchesWithCandidates += 1 }
            }
        case .verify: count(purpose: entry.purpose) { $0.verifications += 1 }
        case .compare: count(purpose: entry.purpose) { $0.comparisons += 1 }
        case .reviewDecision:
            let purpose = facts.searchSequence.flatMap { reviewedSearchPurposes[$0] }
            switch facts.decision {
            case "confirmed": count(purpose: purpose) { $0.confirmed += 1 }
            case "rejected": count(purpose: purpose) { $0.rejected += 1 }
            case "inconclusive": count(purpose: purpose) { $0.inconclusive += 1 }
            default: break
            }
        case .thresholdChanged:
            change {
                $0.thresholdChanges.append(
                    ThresholdChange(
                        sequence: entry.sequence, recordedAt: time, kind: "gallery-threshold", engine: nil,
                        previous: facts.previousThreshold, threshold: facts.operatingThreshold, reason: facts.reason ?? ""))
            }
        case .galleryReconfigured where facts.change == "engine-threshold" || facts.change == "fusion-calibration":
            let isFusion = facts.change == "fusion-calibration"
            change {
                $0.thresholdChanges.append(
                    ThresholdChange(
                        sequence: entry.sequence, recordedAt: time, kind: facts.change ?? "", engine: isFusion ? "fusion" : facts.engine,
                        previous: nil, threshold: isFusion ? facts.fusionThreshold : facts.threshold, reason: facts.reason ?? ""))
            }
        case .subjectErased: change { $0.erasuresOnRequest += 1 }
        case .retentionErasure: change { $0.erasuresByRetention += 1 }
        case .galleryDeleted: change { $0.subjectsErasedWithGallery += facts.subjectsErased ?? 0 }
        case .subjectAccessed: change { $0.subjectAccesses += 1 }
        case .galleryCreated, .subjectEnrolled, .templatesAdded, .detect, .keyCreated, .keyRevoked, .galleryReconfigured:
            break
        }
        return true
    }

    /// The report of the entries read.
    public func report() -> TransparencyReport {
        var periods: [PeriodStatistics] = []
        var start = period.start(of: from)
        var totalActivity: [ActivityKey: ActivityFigures] = [:]
        var totalGalleries: [String: GalleryFigures] = [:]
        while start < to {
            let end = min(period.next(after: start), to)
            let rows = activity.filter { $0.key.period == start }
                .map { ActivityRow(gallery: $0.key.gallery, purpose: $0.key.purpose, figures: $0.value) }
                .sorted(by: Self.rowOrder)
            let galleryRows = galleries.filter { $0.key.period == start }
                .map { GalleryRow(gallery: $0.key.gallery, figures: $0.value) }
                .sorted { $0.gallery < $1.gallery }
            for row in rows {
                totalActivity[ActivityKey(period: from, gallery: row.gallery, purpose: row.purpose), default: ActivityFigures()]
                    .add(row.figures)
            }
            for row in galleryRows { totalGalleries[row.gallery, default: GalleryFigures()].add(row.figures) }
            periods.append(PeriodStatistics(start: max(start, from), end: end, activity: rows, galleries: galleryRows))
            start = period.next(after: start)
        }
        return TransparencyReport(
            from: from, to: to, period: period,
            basis: StatisticsBasis(
                treeSize: lastPosition, rootHash: tree.root.base64EncodedString(), lastEntryHash: lastEntryHash),
            entriesInWindow: inWindow, periods: periods,
            totalActivity: totalActivity.map { ActivityRow(gallery: $0.key.gallery, purpose: $0.key.purpose, figures: $0.value) }
                .sorted(by: Self.rowOrder),
            totalGalleries: totalGalleries.map { GalleryRow(gallery: $0.key, figures: $0.value) }.sorted { $0.gallery < $1.gallery })
    }

    /// Gallery then purpose, nil last.
    private static func rowOrder(_ left: ActivityRow, _ right: ActivityRow) -> Bool {
        let leftKey = (left.gallery ?? "\u{10FFFF}", left.purpose ?? "\u{10FFFF}")
        let rightKey = (right.gallery ?? "\u{10FFFF}", right.purpose ?? "\u{10FFFF}")
        return leftKey < rightKey
    }

    /// The statistics of export lines (``AuditExport``) of the whole log: line N is position N.
    public static func report(
        exportLines: some Sequence<some StringProtocol>, from: Date, to: Date, period: StatisticsPeriod, upTo: Int64? = nil
    ) throws(GovernanceError) -> TransparencyReport {
        var statistics = TransparencyStatistics(from: from, to: to, period: period, upTo: upTo)
        for (index, entry) in try AuditExport.entries(fromLines: exportLines).enumerated() {
            guard statistics.consider(entry, position: Int64(index + 1)) else { break }
        }
        return statistics.report()
    }
}

/// The members of `parameters` and `result` the statistics read.
private struct Facts {
    var reviewRequired: Bool?
    var candidates: [Candidate]?
    var searchSequence: Int64?
    var decision: String?
    var reason: String?
    var previousThreshold: Double?
    var operatingThreshold: Double?
    var change: String?
    var engine: String?
    var threshold: Double?
    var fusionThreshold: Double?
    var subjectsErased: Int?

    struct Candidate: Decodable {}

    private struct Parameters: Decodable {
        var reviewRequired: Bool?
        var searchSequence: Int64?
        var reason: String?
        var previousThreshold: Double?
        var operatingThreshold: Double?
        var change: String?
        var engine: String?
        var threshold: Double?
        var fusionThreshold: Double?
    }

    private struct Result: Decodable {
        var candidates: [Candidate]?
        var decision: String?
        var subjectsErased: Int?
    }

    static func read(parameters: String, result: String) -> Facts {
        let decoder = JSONDecoder()
        let stated = try? decoder.decode(Parameters.self, from: Data(parameters.utf8))
        let outcome = try? decoder.decode(Result.self, from: Data(result.utf8))
        return Facts(
            reviewRequired: stated?.reviewRequired, candidates: outcome?.candidates, searchSequence: stated?.searchSequence,
            decision: outcome?.decision, reason: stated?.reason, previousThreshold: stated?.previousThreshold,
            operatingThreshold: stated?.operatingThreshold, change: stated?.change, engine: stated?.engine,
            threshold: stated?.threshold, fusionThreshold: stated?.fusionThreshold, subjectsErased: outcome?.subjectsErased)
    }
}

extension AuditLog {
    /// The transparency statistics of `[from, to)` by `period`, computed from the log's entries
    /// at positions 1...`upTo` (every entry when nil), read a page at a time.
    public func transparencyReport(
        from: Date, to: Date, period: StatisticsPeriod, upTo: Int64? = nil
    ) async throws(GovernanceError) -> TransparencyReport {
        var statistics = TransparencyStatistics(from: from, to: to, period: period, upTo: upTo)
        do {
            try await walk(after: nil) { rows in
                for row in rows {
                    statistics.consider(try row.entry(), position: row.position)
                }
            }
        } catch let error as GovernanceError {
            throw error
        } catch {
            throw .malformedRow(table: GovernanceSchema.auditTable, reason: "\(error)")
        }
        return statistics.report()
    }

    /// The transparency statistics of the entries the latest signed checkpoint covers (every
    /// entry when there is none yet), with that checkpoint in the basis once the root the entries
    /// give was found equal to its root.
    public func transparencyReportAtLatestCheckpoint(
        from: Date, to: Date, period: StatisticsPeriod
    ) async throws(GovernanceError) -> TransparencyReport {
        guard let latest = try await latestCheckpoint() else {
            return try await transparencyReport(from: from, to: to, period: period)
        }
        var report = try await transparencyReport(from: from, to: to, period: period, upTo: latest.checkpoint.size)
        try report.attach(latest.note, checkpoint: latest.checkpoint)
        return report
    }
}

extension TransparencyReport {
    /// Records `note` (the signed `checkpoint`) as the report's basis, after checking the entries
    /// read are exactly those it covers: the same count and the same root. Throws
    /// ``GovernanceError/auditTreeInconsistent(reason:)`` otherwise.
    public mutating func attach(_ note: String, checkpoint: Checkpoint) throws(GovernanceError) {
        guard basis.treeSize == checkpoint.size, basis.rootHash == checkpoint.rootHash.base64EncodedString() else {
            throw .auditTreeInconsistent(
                reason: "the checkpoint covers \(checkpoint.size) entries with root \(checkpoint.rootHash.base64EncodedString()); "
                    + "the entries read were \(basis.treeSize) with root \(basis.rootHash)")
        }
        basis.checkpoint = note
    }
}
