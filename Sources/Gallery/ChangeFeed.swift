import Foundation

/// A place in a store's change feed: the number of changes committed up to and including an
/// entry. Positions are given in commit order and without gaps (1, 2, 3, …), so a follower that
/// has applied every entry up to `p` has seen every change committed before the one at `p + 1`.
public struct ChangeFeedPosition: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// Before the first change.
    public static let origin = ChangeFeedPosition(0)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "feed position \(rawValue)" }
}

/// What a change-feed entry records.
public enum ChangeKind: String, Sendable, Hashable, CaseIterable {
    /// A gallery was created.
    case galleryCreated = "gallery-created"
    /// A gallery's settings changed: its operating threshold, engines or calibration (the
    /// stored name is that of its first use, which the feed table's check constraint lists).
    case thresholdChanged = "threshold-changed"
    /// A gallery and everything in it was erased.
    case galleryDeleted = "gallery-deleted"
    /// A subject was enrolled with its templates.
    case subjectEnrolled = "subject-enrolled"
    /// Templates were added to an existing subject.
    case templatesAdded = "templates-added"
    /// A subject and its templates were erased.
    case subjectErased = "subject-erased"
}

/// One committed change, as the feed records it: which gallery, subject and templates it
/// touched (identifiers only; a follower reads vectors from the store).
public struct ChangeFeedEntry: Sendable, Hashable {
    /// The table entries are kept in (columns `position`, `committed_at_ms`, ...).
    public static let table = "gallery_changes"

    /// Where the change sits in commit order.
    public var position: ChangeFeedPosition
    /// The gallery changed.
    public var gallery: GalleryRecord.ID
    /// What happened.
    public var kind: ChangeKind
    /// The subject enrolled, extended or erased; nil for gallery-level changes.
    public var subject: SubjectRecord.ID?
    /// The templates stored (enrolment, added templates) or erased (subject erasure).
    public var templates: [TemplateRecord.ID]
    /// The gallery's revision once the change committed (see ``GalleryStore/revision(of:)``);
    /// nil for a deleted gallery. Entries of one transaction share it.
    public var galleryRevision: Int64?
    /// When the change committed (the store's clock).
    public var committedAt: Date

    /// Describes an entry.
    public init(
        position: ChangeFeedPosition, gallery: GalleryRecord.ID, kind: ChangeKind, subject: SubjectRecord.ID?,
        templates: [TemplateRecord.ID], galleryRevision: Int64?, committedAt: Date
    ) {
        self.position = position
        self.gallery = gallery
        self.kind = kind
        self.subject = subject
        self.templates = templates
        self.galleryRevision = galleryRevision
        self.committedAt = committedAt
    }
}

/// A store that can wake a follower of its change feed as soon as a change commits (PostgreSQL's
/// LISTEN/NOTIFY). A wake-up says only "the feed may have grown": notifications are not kept for
/// a disconnected listener, so the follower re-reads the feed after every wake-up, including the
/// one given each time listening (re)starts.
public protocol ChangeNotifyingStore: GalleryStore {
    /// Listens on a connection of its own: calls `wake` once listening has started and again on
    /// every notification, until the task is cancelled (returns) or the connection fails (throws;
    /// call again to listen anew).
    func listenForChanges(_ wake: @escaping @Sendable () -> Void) async throws(GalleryError)
}

/// A change to append to the feed, before it has a position (built inside the change's transaction).
struct PendingChange: Sendable {
    var gallery: GalleryRecord.ID
    var kind: ChangeKind
    var subject: SubjectRecord.ID?
    var templates: [TemplateRecord.ID]

    init(_ change: GalleryChange) {
        switch change {
        case let .galleryCreated(record):
            self.init(gallery: record.id, kind: .galleryCreated)
        case let .thresholdChanged(record, _):
            self.init(gallery: record.id, kind: .thresholdChanged)
        case let .galleryReconfigured(receipt):
            self.init(gallery: receipt.gallery.id, kind: .thresholdChanged)
        case let .galleryDeleted(erasure):
            self.init(gallery: erasure.gallery.id, kind: .galleryDeleted)
        case let .subjectEnrolled(enrolled):
            self.init(
                gallery: enrolled.subject.galleryID, kind: .subjectEnrolled, subject: enrolled.subject.id,
                templates: enrolled.templates.map(\.id))
        case let .templatesAdded(subject, templates):
            self.init(gallery: subject.galleryID, kind: .templatesAdded, subject: subject.id, templates: templates.map(\.id))
        case let .subjectDeleted(erasure):
            self.init(
                gallery: erasure.subject.galleryID, kind: .subjectErased, subject: erasure.subject.id,
                templates: erasure.templateIDs)
        }
    }

    init(gallery: GalleryRecord.ID, kind: ChangeKind, subject: SubjectRecord.ID? = nil, templates: [TemplateRecord.ID] = []) {
        self.gallery = gallery
        self.kind = kind
        self.subject = subject
        self.templates = templates
    }

    /// Template identifiers as stored: decimal, comma-separated (the same text in both databases).
    var templateList: String { templates.map { String($0.rawValue) }.joined(separator: ",") }

    static func templates(fromList list: String) throws -> [TemplateRecord.ID] {
        try list.split(separator: ",").map { part in
            guard let value = Int64(part) else { throw StoredDataError.malformedColumn(column: "template_ids", value: list) }
            return TemplateRecord.ID(value)
        }
    }
}

extension ChangeFeedEntry {
    /// An entry read back from the feed table.
    static func decoded(
        position: Int64, gallery: Int64, kind: String, subject: Int64?, templateList: String, revision: Int64?,
        committedAt: Int64
    ) throws -> ChangeFeedEntry {
        guard let kind = ChangeKind(rawValue: kind) else { throw StoredDataError.malformedColumn(column: "kind", value: kind) }
        return ChangeFeedEntry(
            position: ChangeFeedPosition(position), gallery: GalleryRecord.ID(gallery), kind: kind,
            subject: subject.map(SubjectRecord.ID.init(rawValue:)),
            templates: try PendingChange.templates(fromList: templateList), galleryRevision: revision,
            committedAt: StorageEncoding.date(milliseconds: committedAt))
    }
}

/// The feed's tables, the same in both databases (types spelled per dialect).
enum ChangeFeedSchema {
    /// The PostgreSQL notification channel; its payload is only a hint (the head position).
    static let channel = "biomatch_gallery_changes"

    static let columns = "position, gallery_id, kind, subject_id, template_ids, gallery_revision, committed_at_ms"

    /// `integer` is the dialect's 64-bit integer type, `strict` SQLite's table option.
    static func statements(integer: String, strict: String) -> [String] {
        [
            // No foreign keys: the entry of an erased gallery or subject outlives it.
            """
            CREATE TABLE gallery_changes (
                position \(integer) PRIMARY KEY CHECK (position > 0),
                gallery_id \(integer) NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN (\(ChangeKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")))),
                subject_id \(integer),
                template_ids TEXT NOT NULL,
                gallery_revision \(integer),
                committed_at_ms \(integer) NOT NULL
            )\(strict)
            """,
            // One row, updated by every writer in its transaction: its lock orders the writers,
            // so positions are handed out in commit order and a rollback returns its numbers.
            """
            CREATE TABLE gallery_change_head (
                singleton \(integer) PRIMARY KEY CHECK (singleton = 1),
                position \(integer) NOT NULL CHECK (position >= 0)
            )\(strict)
            """,
            "INSERT INTO gallery_change_head (singleton, position) VALUES (1, 0)",
        ]
    }
}
