import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Gallery

/// How an audit entry concerns a subject.
public enum SubjectAuditRelation: String, Sendable, Hashable, CaseIterable, Codable {
    /// `subjectEnrolled` whose `result.subjectID` is the subject.
    case enrolled
    /// `templatesAdded` whose `result.subjectID` is the subject.
    case templatesAdded
    /// `search` whose `result.candidates` lists the subject.
    case searchCandidate
    /// `verify` whose `parameters.subjectID` is the subject.
    case verifiedAgainst
    /// `reviewDecision` whose `parameters.subjectID` is the subject.
    case reviewDecision
    /// `subjectErased` whose `result.subjectID` is the subject.
    case erasedOnRequest
    /// `retentionErasure` whose `result.subjectID` is the subject.
    case erasedByRetention
    /// `galleryDeleted` of the gallery the subject was enrolled in (it names no subject, but
    /// erased them with everyone else in it).
    case galleryErased
    /// `subjectAccessed` whose `parameters.subjectID` is the subject (earlier disclosures).
    case accessed

    /// True for the relations that end the subject's record.
    public var isErasure: Bool {
        switch self {
        case .erasedOnRequest, .erasedByRetention, .galleryErased: true
        default: false
        }
    }
}

/// An audit entry that concerns a subject, with its place in the log.
public struct SubjectAuditEntry: Sendable, Hashable {
    /// The entry's storage position (from 1): its leaf is ``leafIndex`` in the log's tree.
    public var position: Int64
    /// The entry.
    public var entry: AuditEntry
    /// How it concerns the subject.
    public var relation: SubjectAuditRelation
    /// The audit path from the entry's leaf to a checkpoint's root (RFC 9162 §2.1.3), nil
    /// when no checkpoint covers the entry yet.
    public var inclusionProof: [Data]?

    /// The entry's leaf index in the log's Merkle tree: its position less one.
    public var leafIndex: Int64 { position - 1 }

    /// Describes an entry found for a subject.
    public init(position: Int64, entry: AuditEntry, relation: SubjectAuditRelation, inclusionProof: [Data]? = nil) {
        self.position = position
        self.entry = entry
        self.relation = relation
        self.inclusionProof = inclusionProof
    }
}

/// Collects, from audit entries read in log order, those that name one subject of one gallery.
///
/// Subject identifiers are unique in a store and never reused, so an entry naming the
/// identifier names the subject; the gallery is checked as well so that a key scoped to one
/// gallery never reads another's entries. A gallery is known by name in requests, and a name
/// may have had several galleries (one erased, another created under it): every identifier an
/// entry gave that name counts. Works the same on the store (``AuditLog/trail(of:galleryName:)``)
/// and on an export (feed it ``AuditExport/entries(fromLines:)`` with line numbers as positions).
public struct SubjectAuditTrail: Sendable {
    /// The subject.
    public let subjectID: SubjectRecord.ID
    /// The gallery's name.
    public let galleryName: String
    /// The entries found, in log order.
    public private(set) var entries: [SubjectAuditEntry] = []
    /// The identifiers the gallery name has had, as the entries read so far show them.
    public private(set) var galleryIDs: Set<GalleryRecord.ID> = []

    /// `"subjectID":<id>` as the log's canonical JSON writes it (see ``JSONValue``).
    private let mention: [UInt8]

    /// A trail for `subjectID` in the gallery named `galleryName`.
    public init(subjectID: SubjectRecord.ID, galleryName: String) {
        self.subjectID = subjectID
        self.galleryName = galleryName
        mention = Array("\"subjectID\":\(subjectID.rawValue)".utf8)
    }

    /// The gallery the subject was enrolled in, once its enrolment entry was read.
    public var enrolmentGalleryID: GalleryRecord.ID? {
        entries.first { $0.relation == .enrolled }?.entry.galleryID
    }

    /// The entry that erased the subject, if one was read.
    public var erasure: SubjectAuditEntry? { entries.first { $0.relation.isErasure } }

    /// Reads the next entry of the log.
    public mutating func consider(_ entry: AuditEntry, position: Int64) {
        if entry.galleryName == galleryName, let id = entry.galleryID { galleryIDs.insert(id) }
        guard belongsToGallery(entry), let relation = relation(of: entry) else { return }
        entries.append(SubjectAuditEntry(position: position, entry: entry, relation: relation))
    }

    /// Whether `text`'s UTF-8 holds `needle` (bytewise, with libc's `memchr` and `memcmp`:
    /// Foundation's `contains` goes through UTF-16 and cost most of a scan).
    static func contains(_ text: String, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        var text = text
        return text.withUTF8 { bytes in
            needle.withUnsafeBytes { pattern in
                guard let base = bytes.baseAddress, let patternBase = pattern.baseAddress else { return false }
                var offset = 0
                while bytes.count - offset >= pattern.count {
                    guard let found = memchr(base + offset, Int32(first), bytes.count - offset - pattern.count + 1) else {
                        return false
                    }
                    let position = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
                    if memcmp(base + position, patternBase, pattern.count) == 0 { return true }
                    offset = position + 1
                }
                return false
            }
        }
    }

    private func belongsToGallery(_ entry: AuditEntry) -> Bool {
        if entry.galleryName == galleryName { return true }
        return entry.galleryID.map(galleryIDs.contains) ?? false
    }

    private func relation(of entry: AuditEntry) -> SubjectAuditRelation? {
        if entry.action == .galleryDeleted {
            guard let erased = entry.galleryID, erased == enrolmentGalleryID, erasure == nil else { return nil }
            return .galleryErased
        }
        // Most entries name other subjects or none: a substring test on the canonical text
        // spares parsing them (it also passes `"subjectID":42` for 4; parsing then decides).
        guard Self.contains(entry.result, mention) || Self.contains(entry.parameters, mention) else { return nil }
        let result = SubjectFacts.read(entry.result)
        let parameters = SubjectFacts.read(entry.parameters)
        switch entry.action {
        case .subjectEnrolled: return result.subjectID == subjectID.rawValue ? .enrolled : nil
        case .templatesAdded: return result.subjectID == subjectID.rawValue ? .templatesAdded : nil
        case .subjectErased: return result.subjectID == subjectID.rawValue ? .erasedOnRequest : nil
        case .retentionErasure: return result.subjectID == subjectID.rawValue ? .erasedByRetention : nil
        case .search:
            return (result.candidates ?? []).contains { $0.subjectID == subjectID.rawValue } ? .searchCandidate : nil
        case .verify: return parameters.subjectID == subjectID.rawValue ? .verifiedAgainst : nil
        case .reviewDecision: return parameters.subjectID == subjectID.rawValue ? .reviewDecision : nil
        case .subjectAccessed: return parameters.subjectID == subjectID.rawValue ? .accessed : nil
        case .galleryCreated, .thresholdChanged, .galleryDeleted, .compare, .detect, .keyCreated, .keyRevoked,
            .galleryReconfigured:
            return nil
        }
    }
}

/// The members of `parameters` or `result` that name subjects.
private struct SubjectFacts: Decodable {
    struct Candidate: Decodable {
        var subjectID: Int64
    }

    var subjectID: Int64?
    var candidates: [Candidate]?

    static func read(_ text: String) -> SubjectFacts {
        (try? JSONDecoder().decode(SubjectFacts.self, from: Data(text.utf8))) ?? SubjectFacts()
    }
}

extension AuditLog {
    /// The entries that name `subject` in the gallery named `galleryName`, reading the whole log
    /// a page at a time (O(log length): no index of subjects is kept beside the log).
    public func trail(of subject: SubjectRecord.ID, galleryName: String) async throws(GovernanceError) -> SubjectAuditTrail {
        var trail = SubjectAuditTrail(subjectID: subject, galleryName: galleryName)
        do {
            try await walk(after: nil) { rows in
                for row in rows {
                    trail.consider(try row.entry(), position: row.position)
                }
            }
        } catch let error as GovernanceError {
            throw error
        } catch {
            throw .malformedRow(table: GovernanceSchema.auditTable, reason: "\(error)")
        }
        return trail
    }
}
