import Foundation
import GRDB
import Gallery
import Governance
import Testing

/// Someone with write access to the database file edits the audit log behind the server's back:
/// first dropping the append-only triggers, then changing rows with plain SQL. The verifier must
/// name the first entry that is not as written, and an export of the tampered log must verify
/// the same way.
@Suite struct TamperTests {
    enum Tamper: String, CaseIterable, CustomTestStringConvertible {
        /// Raise the score of the first candidate of the search at sequence 6.
        case editScore
        /// Delete entry 6.
        case deleteEntry
        /// Swap entries 6 and 7 in storage order.
        case swapEntries
        /// Delete entry 6, then renumber and rehash the later entries so each is self-consistent.
        case deleteAndRenumber
        /// Delete the newest entry: undetectable by the chain alone, caught by an anchored head.
        case dropNewest

        var testDescription: String { rawValue }
    }

    static let target: Int64 = 6

    @Test(arguments: Tamper.allCases)
    func theVerifierNamesTheFirstBrokenEntry(tamper: Tamper) async throws {
        try await withGovernedStore { governed in
            let chain = try await SampleChain.build(in: governed.store)
            let log = AuditLog(store: governed.store)
            let head = try #require(chain.entries.last?.head)
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_update")
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_delete")
            }
            let target = Self.target
            switch tamper {
            case .editScore:
                let entry = chain.entries[Int(target) - 1]
                let score = try #require(chain.searchCandidates[1].first?.score)
                let original = "\"score\":" + JSONValue.number(score).canonicalText
                #expect(entry.result.contains(original))
                let edited = entry.result.replacingOccurrences(of: original, with: "\"score\":0.99")
                try await database.write { db in
                    try db.execute(sql: "UPDATE audit_log SET result = ? WHERE position = ?", arguments: [edited, target])
                }
            case .deleteEntry:
                try await database.write { db in
                    try db.execute(sql: "DELETE FROM audit_log WHERE position = ?", arguments: [target])
                }
            case .swapEntries:
                try await database.write { db in
                    try db.execute(sql: "UPDATE audit_log SET position = -1 WHERE position = ?", arguments: [target])
                    try db.execute(sql: "UPDATE audit_log SET position = ? WHERE position = ?", arguments: [target, target + 1])
                    try db.execute(sql: "UPDATE audit_log SET position = ? WHERE position = -1", arguments: [target + 1])
                }
            case .deleteAndRenumber:
                // Each later entry gets the sequence and position one lower and a hash recomputed
                // with the published definition; only the links give the deletion away.
                let later = chain.entries.filter { $0.sequence > target }
                try await database.write { db in
                    try db.execute(sql: "DELETE FROM audit_log WHERE position = ?", arguments: [target])
                    for var entry in later {
                        entry.sequence -= 1
                        entry.entryHash = entry.computedHash()
                        try db.execute(
                            sql: "UPDATE audit_log SET position = ?, sequence = ?, entry_hash = ? WHERE position = ?",
                            arguments: [entry.sequence, entry.sequence, entry.entryHash, entry.sequence + 1])
                    }
                }
            case .dropNewest:
                try await database.write { db in
                    try db.execute(sql: "DELETE FROM audit_log WHERE position = ?", arguments: [head.sequence])
                }
            }

            let expected: AuditVerification = switch tamper {
            case .editScore: .broken(.altered(sequence: target), intactEntries: Int(target) - 1)
            case .deleteEntry: .broken(.removed(sequence: target), intactEntries: Int(target) - 1)
            case .swapEntries: .broken(.reordered(sequence: target), intactEntries: Int(target) - 1)
            case .deleteAndRenumber: .broken(.unlinked(sequence: target), intactEntries: Int(target) - 1)
            case .dropNewest: .intact(entryCount: SampleChain.length - 1, head: chain.entries[SampleChain.length - 2].head)
            }
            let verification = try await AuditVerifier.verify(log)
            #expect(verification == expected)
            #expect(!verification.description.isEmpty)

            // Anyone holding an export reaches the same verdict.
            var lines: [String] = []
            try await log.export { lines += $0 }
            #expect(AuditVerifier.verify(exportLines: lines) == expected)

            // Against the head written down before the tampering, every tampering shows.
            let anchored = try await AuditVerifier.verify(log, anchor: head)
            #expect(!anchored.isIntact)
            if tamper == .dropNewest {
                #expect(anchored == .broken(
                    .headMismatch(expected: head, found: chain.entries[SampleChain.length - 2].head),
                    intactEntries: SampleChain.length - 1))
                if case .broken(let reason, _) = anchored { #expect(reason.sequence == head.sequence) }
            }
        }
    }

    @Test func aRemovedEntryAtTheStartIsNamed() async throws {
        try await withGovernedStore { governed in
            _ = try await SampleChain.build(in: governed.store)
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_delete")
                try db.execute(sql: "DELETE FROM audit_log WHERE position = 1")
            }
            #expect(try await AuditVerifier.verify(AuditLog(store: governed.store))
                == .broken(.removed(sequence: 1), intactEntries: 0))
        }
    }

    @Test func anEntryMovedFarLaterIsReorderedNotRemoved() async throws {
        try await withGovernedStore { governed in
            _ = try await SampleChain.build(in: governed.store)
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_update")
                try db.execute(sql: "UPDATE audit_log SET position = 100 WHERE position = 3")
            }
            #expect(try await AuditVerifier.verify(AuditLog(store: governed.store))
                == .broken(.reordered(sequence: 3), intactEntries: 2))
        }
    }

    @Test func anUnreadableRowIsReported() async throws {
        try await withGovernedStore { governed in
            _ = try await SampleChain.build(in: governed.store)
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_update")
                try db.execute(sql: "UPDATE audit_log SET entry_hash = X'00' WHERE position = 4")
            }
            let verification = try await AuditVerifier.verify(AuditLog(store: governed.store))
            guard case .broken(.unreadable(let sequence, let reason), let intact) = verification else {
                Issue.record("expected an unreadable entry, got \(verification)")
                return
            }
            #expect(sequence == 4)
            #expect(intact == 3)
            #expect(reason.contains("entry_hash"))
        }
    }
}
