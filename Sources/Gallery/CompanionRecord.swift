import Foundation

/// One column value of a companion row, in the types both SQLite and PostgreSQL store natively.
public enum StoreValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// A 64-bit integer (SQLite INTEGER, PostgreSQL smallint/integer/bigint; booleans read as 0/1).
    case integer(Int64)
    /// A double (SQLite REAL, PostgreSQL real/double precision).
    case real(Double)
    /// Text.
    case text(String)
    /// Bytes (SQLite BLOB, PostgreSQL bytea).
    case blob(Data)
}

/// A row of a companion table, by column name.
public typealias StoreRow = [String: StoreValue]

/// A change a mutating store operation made, handed to a ``CompanionRecord`` so the record can
/// describe it.
public enum GalleryChange: Sendable, Hashable {
    /// A gallery was created.
    case galleryCreated(GalleryRecord)
    /// A gallery's operating threshold changed from `previousThreshold`.
    case thresholdChanged(GalleryRecord, previousThreshold: Float)
    /// A gallery and everything in it was erased.
    case galleryDeleted(GalleryErasure)
    /// A subject was enrolled with its templates.
    case subjectEnrolled(EnrolledSubject)
    /// Templates were added to an existing subject.
    case templatesAdded(subject: SubjectRecord, templates: [TemplateRecord])
    /// A subject and its templates were erased.
    case subjectDeleted(SubjectErasure)
    /// A gallery's engines or settings changed.
    case galleryReconfigured(GalleryReconfigurationReceipt)
}

/// What a ``CompanionRecord`` builder sees, inside the transaction.
public struct CompanionContext: Sendable {
    /// The change being made, or nil for a record appended on its own (``GalleryStore/appendRecords(_:)``).
    public let change: GalleryChange?
    /// The table's last row by the sequence column, or nil if the table is empty. Read under a
    /// lock that serialises appenders, so a hash chain can link to it safely.
    public let previousRow: StoreRow?
    /// The earlier rows the record asked for with ``CompanionRecord/lookback``, by their
    /// sequence value, read under the same lock (rows that do not exist are absent).
    public var earlierRows: [Int64: StoreRow] = [:]

    /// A context; `earlierRows` as read by the store.
    public init(change: GalleryChange?, previousRow: StoreRow?, earlierRows: [Int64: StoreRow] = [:]) {
        self.change = change
        self.previousRow = previousRow
        self.earlierRows = earlierRows
    }
}

/// A row another component (the audit log) appends in the same transaction as a gallery change:
/// both commit, or neither does.
///
/// The store locks the table against other appenders, reads its last row by `sequenceColumn`,
/// calls `makeRow` with that row and the change, and inserts the result. If `makeRow` throws or
/// the insert fails, the whole operation rolls back with ``GalleryError/companionRecordFailed(table:underlying:)``.
/// The table itself belongs to the caller: create it with a ``SchemaMigration`` passed when the
/// store opens. Table and column names must be plain lower-case identifiers (a-z, 0-9, _), so
/// they mean the same quoted or not in both databases.
public struct CompanionRecord: Sendable {
    /// The companion table.
    public var table: String
    /// An integer column that orders the table; the row with its largest value is `previousRow`.
    public var sequenceColumn: String
    /// Builds the row to insert; runs inside the transaction, so it must be quick and must not
    /// call back into the store.
    public var makeRow: @Sendable (CompanionContext) throws -> StoreRow
    /// Records appended right after this one, in order, in the same transaction and seeing the
    /// same change (an audit row followed by the stored outcome of an idempotent request, say).
    public var followers: [CompanionRecord] = []
    /// The sequence values of earlier rows `makeRow` needs besides the last one, given the last
    /// (a Merkle tree's frontier, say); the store reads them inside the transaction into
    /// ``CompanionContext/earlierRows``. Nil: none.
    public var lookback: (@Sendable (_ previousRow: StoreRow?) throws -> [Int64])?

    /// Describes a companion record.
    public init(
        table: String, sequenceColumn: String, makeRow: @escaping @Sendable (CompanionContext) throws -> StoreRow
    ) {
        self.table = table
        self.sequenceColumn = sequenceColumn
        self.makeRow = makeRow
    }

    /// This record and its followers, depth first: the order they are appended in.
    var appendOrder: [CompanionRecord] {
        [self] + followers.flatMap(\.appendOrder)
    }
}

/// A versioned schema change for a table another component owns (for example the audit log),
/// applied after the gallery's own migrations when a store opens. Like every migration it is
/// never edited once shipped: add a new one instead.
public struct SchemaMigration: Sendable, Hashable {
    /// Unique and stable; the prefix "gallery." is reserved for the store's own migrations.
    public var identifier: String
    /// SQL statements run in order in one transaction, written for the store's database.
    /// One statement each: PostgreSQL's extended protocol refuses several in one string.
    public var statements: [String]

    /// Describes a migration.
    public init(identifier: String, statements: [String]) {
        self.identifier = identifier
        self.statements = statements
    }
}

/// Checks names spliced into companion-record SQL; values always travel as bound parameters.
enum SQLIdentifier {
    static func validate(_ name: String, role: String) throws(GalleryError) {
        let bytes = Array(name.utf8)
        let isPlain = !bytes.isEmpty && bytes.count <= 63
            && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[0])
            && bytes.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_")
            }
        guard isPlain else {
            throw .invalidInput(field: role, reason: "'\(name)' is not a plain lower-case SQL identifier")
        }
    }

    static func validate(_ record: CompanionRecord) throws(GalleryError) {
        for each in record.appendOrder {
            try validate(each.table, role: "companion table")
            try validate(each.sequenceColumn, role: "companion sequence column")
        }
    }

    static func validate(row: StoreRow, table: String) throws(GalleryError) {
        if row.isEmpty {
            throw .invalidInput(field: "companion row", reason: "a row for '\(table)' needs at least one column")
        }
        for column in row.keys {
            try validate(column, role: "companion column")
        }
    }

    static func validate(_ migrations: [SchemaMigration]) throws(GalleryError) {
        var seen = Set<String>()
        for migration in migrations {
            if migration.identifier.isEmpty || migration.identifier.hasPrefix(SchemaMigration.reservedPrefix) {
                throw .invalidInput(
                    field: "migration identifier",
                    reason: "'\(migration.identifier)' is empty or uses the reserved prefix '\(SchemaMigration.reservedPrefix)'")
            }
            if !seen.insert(migration.identifier).inserted {
                throw .invalidInput(field: "migration identifier", reason: "'\(migration.identifier)' appears twice")
            }
        }
    }
}

extension SchemaMigration {
    /// The prefix of the store's own migration identifiers.
    static let reservedPrefix = "gallery."
}

/// The checks both stores make before reading or deleting companion rows: identifiers that are
/// safe to quote into SQL, and a page size within bounds.
enum CompanionQuery {
    static func validate(
        table: String, rangeColumn: String, rangeRole: String = "companion sequence column", matching: [String: StoreValue],
        limit: Int
    ) throws(GalleryError) {
        try SQLIdentifier.validate(table, role: "companion table")
        try SQLIdentifier.validate(rangeColumn, role: rangeRole)
        for column in matching.keys { try SQLIdentifier.validate(column, role: "companion column") }
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
    }
}
