import Foundation
import Gallery
import Synchronization

/// A value set inside a store transaction and read after it, across the closure boundary.
final class LockedValue<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)
    var value: Value? { stored.withLock { $0 } }
    func set(_ value: Value) { stored.withLock { $0 = value } }
}

/// The append-only, hash-chained audit log, kept in the gallery store's `audit_log` table.
///
/// Entries that accompany a gallery change are written by the store in the change's own
/// transaction (``companion(for:)``): both commit or neither does. Actions without a gallery
/// change (searches, verifications, detections, review decisions) are appended on their own
/// (``record(_:)``). The store serialises appenders, so each entry links to the one before it.
public struct AuditLog: Sendable {
    /// The store holding the log (opened with ``GovernanceSchema/migrations(for:)``).
    public let store: any GalleryStore

    /// Rows read per query when walking the log.
    static let pageSize = 5_000

    /// A log on `store`.
    public init(store: any GalleryStore) {
        self.store = store
    }

    /// The companion record that writes `event`'s entry in the same transaction as the gallery
    /// change it is passed with. If the change is not the one the action records (say, a
    /// `search` event passed to `enrol`), the change rolls back.
    public func companion(for event: AuditEvent) throws(GovernanceError) -> CompanionRecord {
        try companion(for: event, receipt: nil)
    }

    /// Appends an entry for an action that changes no gallery, and returns it.
    @discardableResult
    public func record(_ event: AuditEvent) async throws(GovernanceError) -> AuditEntry {
        let receipt = Receipt()
        let record = try companion(for: event, receipt: receipt)
        do {
            try await store.appendRecord(record)
        } catch {
            throw Self.unwrap(error)
        }
        guard let entry = receipt.value else {
            throw .invalidAuditEvent(reason: "the store appended no entry")
        }
        return entry
    }

    /// Up to `limit` entries after the given position (in an intact chain, the sequence number),
    /// in chain order. Throws ``GovernanceError/malformedRow(table:reason:)`` on a row that does
    /// not decode; ``AuditVerifier`` reports such rows instead.
    public func entries(after position: Int64? = nil, limit: Int = 1_000) async throws(GovernanceError) -> [AuditEntry] {
        var entries: [AuditEntry] = []
        for row in try await rows(after: position, limit: limit) {
            entries.append(try row.entry())
        }
        return entries
    }

    /// Every entry after `position`, as export lines (see ``AuditExport``), handed to `write` one
    /// page at a time so the whole log is never in memory. Returns the number of lines.
    @discardableResult
    public func export(
        after position: Int64? = nil, to write: (_ lines: [String]) throws -> Void
    ) async throws -> Int {
        var count = 0
        try await walk(after: position) { rows in
            try write(rows.map(\.exportLine))
            count += rows.count
        }
        return count
    }

    // MARK: - Internals

    /// Collects the entry a companion record built, so ``record(_:)`` can return it.
    typealias Receipt = LockedValue<AuditEntry>

    func companion(for event: AuditEvent, receipt: Receipt?) throws(GovernanceError) -> CompanionRecord {
        try event.validate()
        return Self.companion(receipt: receipt) { event }
    }

    /// A companion record whose event is only known inside the transaction (a key's identifier,
    /// say, assigned by a record appended just before); `makeEvent` runs there.
    static func companion(
        receipt: Receipt? = nil, makeEvent: @escaping @Sendable () throws -> AuditEvent
    ) -> CompanionRecord {
        let leaf = AuditTree.Leaf()
        var record = CompanionRecord(table: GovernanceSchema.auditTable, sequenceColumn: "position") { context in
            let event = try makeEvent()
            try event.validate()
            let row = try Self.nextRow(for: event.completed(with: context.change), after: context.previousRow)
            receipt?.set(try row.entry())
            leaf.set(AuditTree.TreeLeaf(position: row.position, hash: AuditTree.leafHash(of: row)))
            return row.storeRow
        }
        // The entry's tree row comes first among the followers, so it commits with the entry.
        record.followers = [AuditTree.companion(for: leaf)]
        return record
    }

    /// The row that follows `previous` (nil: the first) and records `event` now.
    static func nextRow(for event: AuditEvent, after previous: StoreRow?) throws(GovernanceError) -> AuditRow {
        var position: Int64 = 1
        var sequence: Int64 = 1
        var previousHash = AuditEntry.genesisHash
        if let previous {
            let last = try AuditRow(previous)
            position = last.position + 1
            sequence = last.sequence + 1
            previousHash = last.entryHash
        }
        var keyID: Int64?
        var role: String?
        var systemActor: String?
        switch event.actor {
        case .key(let id, let keyRole):
            keyID = id.rawValue
            role = keyRole.rawValue
        case .system(let component):
            systemActor = component
        }
        var row = AuditRow(
            position: position, sequence: sequence, recordedAtMilliseconds: Self.milliseconds(Date()), keyID: keyID,
            role: role, systemActor: systemActor, action: event.action.rawValue, galleryID: event.galleryID?.rawValue,
            galleryName: event.galleryName, purpose: event.justification?.purpose,
            caseReference: event.justification?.caseReference, probeSHA256: event.probeSHA256,
            parameters: JSONValue.object(event.parameters).canonicalText,
            result: JSONValue.object(event.result).canonicalText, previousHash: previousHash, entryHash: "")
        row.entryHash = row.computedHash()
        return row
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// Raw rows after `position`, in storage order.
    func rows(after position: Int64?, limit: Int) async throws(GovernanceError) -> [AuditRow] {
        let stored: [StoreRow]
        do {
            stored = try await store.records(
                in: GovernanceSchema.auditTable, orderedBy: "position", after: position, limit: limit)
        } catch {
            throw .store(error)
        }
        var rows: [AuditRow] = []
        rows.reserveCapacity(stored.count)
        for row in stored {
            rows.append(try AuditRow(row))
        }
        return rows
    }

    /// Hands every row after `position` to `body`, a page at a time, in storage order.
    func walk(after position: Int64?, _ body: ([AuditRow]) throws -> Void) async throws {
        var cursor = position
        while true {
            let page = try await rows(after: cursor, limit: Self.pageSize)
            if page.isEmpty { return }
            try body(page)
            if page.count < Self.pageSize { return }
            cursor = page.last?.position
        }
    }

    /// The governance error inside a store error, when a companion record's builder threw one.
    static func unwrap(_ error: GalleryError) -> GovernanceError {
        if case .companionRecordFailed(_, let underlying) = error, let governance = underlying as? GovernanceError {
            return governance
        }
        return .store(error)
    }
}
