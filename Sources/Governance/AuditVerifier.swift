import Gallery

/// Where an audit chain first breaks. Each case names the sequence number of the first entry
/// that is not as it was written.
public enum AuditBreak: Sendable, Hashable, CustomStringConvertible {
    /// The entry's fields no longer give its stored hash: someone edited it.
    case altered(sequence: Int64)
    /// No entry has this sequence number, though later ones exist: it was deleted.
    case removed(sequence: Int64)
    /// The entry with this sequence number is stored out of place (after a later entry, or twice).
    case reordered(sequence: Int64)
    /// The entry is intact but does not link to the entry stored before it: that entry was
    /// replaced, or entries were removed and the later ones renumbered.
    case unlinked(sequence: Int64)
    /// The entry at this storage position (the expected sequence number) cannot be read at all.
    case unreadable(sequence: Int64, reason: String)
    /// The chain ends before an anchored entry, or holds a different entry at its sequence
    /// number: entries at the end were dropped or the chain was rewritten.
    case headMismatch(expected: AuditHead, found: AuditHead?)

    /// The sequence number of the first broken entry.
    public var sequence: Int64 {
        switch self {
        case .altered(let sequence), .removed(let sequence), .reordered(let sequence), .unlinked(let sequence),
            .unreadable(let sequence, _):
            sequence
        case .headMismatch(let expected, let found):
            found.map { min($0.sequence + 1, expected.sequence) } ?? 1
        }
    }

    public var description: String {
        switch self {
        case .altered(let sequence):
            "entry \(sequence) was altered: its hash does not match its contents"
        case .removed(let sequence):
            "entry \(sequence) was removed: the chain skips from \(sequence - 1) to a later entry"
        case .reordered(let sequence):
            "entry \(sequence) is out of order: it is stored after a later entry or more than once"
        case .unlinked(let sequence):
            "entry \(sequence) does not link to entry \(sequence - 1): an earlier entry was replaced or removed"
        case .unreadable(let sequence, let reason):
            "entry \(sequence) cannot be read: \(reason)"
        case .headMismatch(let expected, let found?) where found.sequence < expected.sequence:
            "the chain ends at entry \(found.sequence) but entry \(expected.sequence) was anchored: entries were removed from the end"
        case .headMismatch(let expected, let found?):
            "anchored entry \(expected.sequence) has hash \(found.hash), not \(expected.hash): the chain was rewritten"
        case .headMismatch(let expected, nil):
            "the chain is empty but entry \(expected.sequence) was anchored"
        }
    }
}

/// The outcome of verifying an audit chain.
public enum AuditVerification: Sendable, Hashable, CustomStringConvertible {
    /// Every entry is intact and in order; `head` is the last one (nil for an empty log).
    case intact(entryCount: Int, head: AuditHead?)
    /// The chain breaks; `intactEntries` entries before the break verified.
    case broken(AuditBreak, intactEntries: Int)

    /// Whether the chain verified.
    public var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .intact(let count, let head?):
            "audit chain intact: \(count) entries, head \(head)"
        case .intact(let count, nil):
            "audit chain intact: \(count) entries"
        case .broken(let reason, let intact):
            "audit chain broken after \(intact) intact entries: \(reason)"
        }
    }
}

/// Checks an audit chain: each entry's hash against its fields, sequence numbers 1, 2, 3, …
/// in storage order, and each `previous_hash` against the entry before.
///
/// It reads the chain once, a page at a time, and reports the first break. A gap in the
/// numbering is `removed` unless the missing entry turns up later (then `reordered`), so after
/// a gap it reads on to the end. Rewriting the whole chain, or dropping its newest entries,
/// leaves a consistent chain; an ``AuditHead`` written down elsewhere catches both.
public struct AuditVerifier: Sendable {
    /// Verifies the chain in `log`; `anchor`, if given, must be in it with the same hash.
    public static func verify(_ log: AuditLog, anchor: AuditHead? = nil) async throws(GovernanceError) -> AuditVerification {
        var state = ChainState(anchor: anchor)
        var cursor: Int64?
        while true {
            let page: [StoreRow]
            do {
                page = try await log.store.records(
                    in: GovernanceSchema.auditTable, orderedBy: "position", after: cursor, limit: AuditLog.pageSize)
            } catch {
                throw .store(error)
            }
            for stored in page {
                state.consume(Result { () throws(GovernanceError) in try AuditRow(stored) })
            }
            guard page.count == AuditLog.pageSize, let last = page.last, case .integer(let position)? = last["position"]
            else { break }
            if state.isSettled { break }
            cursor = position
        }
        return state.outcome
    }

    /// Verifies an exported chain (``AuditExport``), one line per entry. Empty lines are skipped.
    /// An export that starts after entry N verifies from there: pass entry N's head as
    /// `startingAfter` to check that the export continues it.
    public static func verify(
        exportLines lines: some Sequence<some StringProtocol>, startingAfter: AuditHead? = nil, anchor: AuditHead? = nil
    ) -> AuditVerification {
        var state = ChainState(anchor: anchor, startingAfter: startingAfter)
        var lineNumber = 0
        for line in lines {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            state.consume(Result { () throws(GovernanceError) in try AuditRow(exportLine: String(line), line: lineNumber) })
            if state.isSettled { break }
        }
        return state.outcome
    }
}

/// The verifier's walk through a chain, one row at a time.
struct ChainState {
    private let anchor: AuditHead?
    private var expectedSequence: Int64
    private var previousHash: String
    private var intactEntries = 0
    private var head: AuditHead?
    private var anchorSeen: AuditHead?
    /// The first break found; a gap stays provisional while the rest of the chain is searched.
    private var firstBreak: AuditBreak?
    private var missingSequence: Int64?

    init(anchor: AuditHead?, startingAfter: AuditHead? = nil) {
        self.anchor = anchor
        expectedSequence = (startingAfter?.sequence ?? 0) + 1
        previousHash = startingAfter?.hash ?? AuditEntry.genesisHash
    }

    /// True once the outcome cannot change.
    var isSettled: Bool { firstBreak != nil && missingSequence == nil }

    mutating func consume(_ decoded: Result<AuditRow, GovernanceError>) {
        if let missing = missingSequence {
            // After a gap, only look for the missing entry.
            if case .success(let row) = decoded, row.sequence == missing {
                firstBreak = .reordered(sequence: missing)
                missingSequence = nil
            }
            return
        }
        guard firstBreak == nil else { return }
        let row: AuditRow
        switch decoded {
        case .success(let decodedRow):
            row = decodedRow
        case .failure(let error):
            firstBreak = .unreadable(sequence: expectedSequence, reason: error.description)
            return
        }
        if row.computedHash() != row.entryHash {
            firstBreak = .altered(sequence: row.sequence)
            return
        }
        if row.sequence > expectedSequence {
            firstBreak = .removed(sequence: expectedSequence)
            missingSequence = expectedSequence
            return
        }
        if row.sequence < expectedSequence {
            firstBreak = .reordered(sequence: row.sequence)
            return
        }
        if row.previousHash != previousHash {
            firstBreak = .unlinked(sequence: row.sequence)
            return
        }
        if let anchor, anchor.sequence == row.sequence {
            anchorSeen = AuditHead(sequence: row.sequence, hash: row.entryHash)
        }
        intactEntries += 1
        expectedSequence += 1
        previousHash = row.entryHash
        head = AuditHead(sequence: row.sequence, hash: row.entryHash)
    }

    var outcome: AuditVerification {
        if let firstBreak {
            return .broken(firstBreak, intactEntries: intactEntries)
        }
        if let anchor {
            if let anchorSeen, anchorSeen != anchor {
                return .broken(.headMismatch(expected: anchor, found: anchorSeen), intactEntries: intactEntries)
            }
            if anchorSeen == nil {
                return .broken(.headMismatch(expected: anchor, found: head), intactEntries: intactEntries)
            }
        }
        return .intact(entryCount: intactEntries, head: head)
    }
}
