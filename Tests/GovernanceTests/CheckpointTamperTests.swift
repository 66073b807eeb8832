import Foundation
import GRDB
import Gallery
import Governance
import Testing
import Transparency

/// Someone who controls the database tampers with the audit log after checkpoints were signed
/// (and published): each kind of tampering is caught by verifying against an older checkpoint,
/// or by a witness, with a message that says what broke.
@Suite struct CheckpointTamperTests {
    static let signer = Result { try NoteSigner.generate(name: "biomatch.test/audit") }

    /// A log of 15 entries with checkpoints signed at sizes 4, 12 and 15, on a real SQLite file.
    struct SignedLog {
        let governed: GovernedStore
        let log: AuditLog
        let checkpoints: [StoredCheckpoint]
        let database: DatabaseQueue
    }

    static func signedLog(in governed: GovernedStore) async throws -> SignedLog {
        let log = AuditLog(store: governed.store)
        let signer = try signer.get()
        try await AuditTreeTests.appendEntries(4, to: log)
        var checkpoints = [try #require(try await log.makeCheckpoint(signer: signer))]
        _ = try await SampleChain.build(in: governed.store)
        checkpoints.append(try #require(try await log.makeCheckpoint(signer: signer)))
        try await AuditTreeTests.appendEntries(2, to: log)
        checkpoints.append(try #require(try await log.makeCheckpoint(signer: signer)))
        #expect(checkpoints.map(\.checkpoint.size) == [4, 13, 15])
        let database = try DatabaseQueue(path: governed.location.path)
        try await database.write { db in
            for trigger in ["audit_log_refuse_update", "audit_log_refuse_delete", "audit_tree_refuse_delete"] {
                try db.execute(sql: "DROP TRIGGER \(trigger)")
            }
        }
        return SignedLog(governed: governed, log: log, checkpoints: checkpoints, database: database)
    }

    static func verifyAgainstCheckpoints(_ signed: SignedLog) async throws -> CheckpointVerification {
        try AuditCheckpointVerifier.verify(
            exportLines: try await AuditTreeTests.exportLines(signed.log), checkpoints: signed.checkpoints.map(\.note),
            key: try signer.get().verifier)
    }

    @Test func untouchedTheLogMatchesEveryCheckpoint() async throws {
        try await withGovernedStore { governed in
            let signed = try await Self.signedLog(in: governed)
            let outcome = try await Self.verifyAgainstCheckpoints(signed)
            #expect(outcome.isIntact)
            #expect(outcome.matched == [4, 13, 15])
        }
    }

    @Test("(a) oneEditedEntryIsNamedByTheChainAndItsRangeByTheCheckpoints") func oneEditedEntryIsNamedByTheChainAndItsRangeByTheCheckpoints() async throws {
        try await withGovernedStore { governed in
            let signed = try await Self.signedLog(in: governed)
            try await signed.database.write { db in
                try db.execute(sql: "UPDATE audit_log SET purpose = 'fishing' WHERE position = 8")
            }
            let chain = try await AuditVerifier.verify(signed.log)
            guard case .broken(let reason, let intact) = chain else {
                Issue.record("the chain missed the edit")
                return
            }
            #expect(reason.sequence == 8)
            #expect(intact == 7)
            let outcome = try await Self.verifyAgainstCheckpoints(signed)
            #expect(outcome.matched == [4])
            #expect(outcome.failure?.contains("between entries 5 and 13 was changed") == true, "\(outcome)")
        }
    }

    @Test("(b) aHistoryRewrittenAndRehashedPassesTheChainButNotTheCheckpoints") func aHistoryRewrittenAndRehashedPassesTheChainButNotTheCheckpoints() async throws {
        try await withGovernedStore { governed in
            let signed = try await Self.signedLog(in: governed)
            // Change entry 8, then recompute every hash and link after it with the published
            // definition, and rebuild the tree: the log is self-consistent again.
            var entries = try await signed.log.entries(limit: 100)
            entries[7].purpose = "fishing"
            for index in 7..<entries.count {
                if index > 0 { entries[index].previousHash = entries[index - 1].entryHash }
                entries[index].entryHash = entries[index].computedHash()
            }
            let rewritten = entries
            try await signed.database.write { db in
                for entry in rewritten[7...] {
                    try db.execute(
                        sql: "UPDATE audit_log SET purpose = ?, previous_hash = ?, entry_hash = ? WHERE position = ?",
                        arguments: [entry.purpose, entry.previousHash, entry.entryHash, entry.sequence])
                }
                try db.execute(sql: "DELETE FROM audit_tree")
            }
            try await signed.log.completeTree()
            guard case .intact = try await AuditVerifier.verify(signed.log) else {
                Issue.record("the rewritten chain should verify on its own")
                return
            }
            let outcome = try await Self.verifyAgainstCheckpoints(signed)
            #expect(!outcome.isIntact)
            #expect(outcome.failure?.contains("between entries 5 and 13 was changed or rewritten") == true, "\(outcome)")
            // A witness that accepted size 15 refuses the rewritten log's checkpoint of 15.
            let witness = try WitnessPolicy(
                logKey: Self.signer.get().verifier, witnessKey: NoteSigner.generate(name: "witness.test/a", type: .cosignatureV1))
            let accepted = try await witness.check(signed.checkpoints[2].note, from: "log", accepted: nil) { _, _ in [] }
            let resigned = try await AuditLog(store: governed.store).treeHead().rootHash
            let forged = Checkpoint(origin: "biomatch.test/audit", size: 15, rootHash: resigned)
            let forgedNote = SignedNote(
                text: forged.text, signatures: [try Self.signer.get().signature(for: forged.text)]
            ).serialised
            await #expect(throws: WitnessAlarm.fork(source: "log", accepted: 15, shown: 15, reason: "a second root for the same size")) {
                _ = try await witness.check(forgedNote, from: "log", accepted: accepted) { _, _ in [] }
            }
        }
    }

    @Test("(c) droppedNewestEntriesAreCaughtByTheNewestCheckpoint") func droppedNewestEntriesAreCaughtByTheNewestCheckpoint() async throws {
        try await withGovernedStore { governed in
            let signed = try await Self.signedLog(in: governed)
            try await signed.database.write { db in
                try db.execute(sql: "DELETE FROM audit_log WHERE position > 13")
                try db.execute(sql: "DELETE FROM audit_tree WHERE position > 13")
            }
            guard case .intact = try await AuditVerifier.verify(signed.log) else {
                Issue.record("a truncated chain verifies on its own")
                return
            }
            let outcome = try await Self.verifyAgainstCheckpoints(signed)
            #expect(outcome.matched == [4, 13])
            #expect(
                outcome.failure == "the log holds 13 entries but the log signed a checkpoint of 15: "
                    + "the newest 2 or more entries were dropped")
        }
    }

    @Test("(d) twoHistoriesShownToTwoWitnessesAreCaughtWhenTheyCompare") func twoHistoriesShownToTwoWitnessesAreCaughtWhenTheyCompare() async throws {
        try await withGovernedStore { governed in
            let signer = try Self.signer.get()
            let log = AuditLog(store: governed.store)
            try await AuditTreeTests.appendEntries(6, to: log)
            // The operator copies the database and from now on shows each copy to someone else.
            let forkPath = governed.directory.appending(path: "fork.sqlite")
            try await DatabaseQueue(path: governed.location.path).writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [forkPath.path])
            }
            let forkStore = try SQLiteGalleryStore(
                location: forkPath, additionalMigrations: GovernanceSchema.migrations(for: .sqlite))
            let fork = AuditLog(store: forkStore)
            try await AuditTreeTests.appendEntries(3, to: log)
            try await fork.record(.detection(by: Fixtures.searcher, probeSHA256: try Fixtures.photoDigest(3), faceCount: 9))
            try await AuditTreeTests.appendEntries(4, to: fork)
            let shownToA = try #require(try await log.makeCheckpoint(signer: signer))
            let shownToB = try #require(try await fork.makeCheckpoint(signer: signer))
            #expect(shownToA.checkpoint.size == 9)
            #expect(shownToB.checkpoint.size == 11)

            let witnessA = WitnessPolicy(logKey: signer.verifier, witnessKey: try NoteSigner.generate(name: "witness.test/a", type: .cosignatureV1))
            let witnessB = WitnessPolicy(logKey: signer.verifier, witnessKey: try NoteSigner.generate(name: "witness.test/b", type: .cosignatureV1))
            let acceptedA = try await witnessA.check(shownToA.note, from: "node-a", accepted: nil) { _, _ in [] }
            let acceptedB = try await witnessB.check(shownToB.note, from: "node-b", accepted: nil) { _, _ in [] }
            // Each witness alone saw one consistent history; comparing cosigned checkpoints, with
            // proofs from the node that showed the other, exposes the fork.
            do {
                try await witnessA.crossCheck(acceptedB.cosignedNote, from: "witness b", accepted: acceptedA) { from, to in
                    try await fork.consistencyProof(from: from, to: to)
                }
                Issue.record("witness A missed the fork")
            } catch {
                guard let alarm = error as? WitnessAlarm, case .fork(let source, let accepted, let shown, _) = alarm else {
                    Issue.record("expected a fork, got \(error)")
                    return
                }
                #expect(source == "witness b" && accepted == 9 && shown == 11)
            }
            // The node showing A's history cannot prove B's checkpoint either.
            await #expect(throws: WitnessAlarm.self) {
                try await witnessB.crossCheck(acceptedA.cosignedNote, from: "witness a", accepted: acceptedB) { from, to in
                    try await log.consistencyProof(from: from, to: to)
                }
            }
            // A witness shown both histories directly alarms at the second.
            await #expect(throws: WitnessAlarm.self) {
                _ = try await witnessA.check(shownToB.note, from: "node-b", accepted: acceptedA) { from, to in
                    try await fork.consistencyProof(from: from, to: to)
                }
            }
            // And an honest extension is accepted and cosigned.
            try await AuditTreeTests.appendEntries(2, to: log)
            let grown = try #require(try await log.makeCheckpoint(signer: signer))
            let next = try await witnessA.check(grown.note, from: "node-a", accepted: acceptedA) { from, to in
                try await log.consistencyProof(from: from, to: to)
            }
            #expect(next.size == 11)
            let cosigned = try SignedNote(parsing: next.cosignedNote)
            try witnessA.witnessKey.verifier.verify(cosigned)
            try signer.verifier.verify(cosigned)
            // Shown the older checkpoint again: a rollback.
            await #expect(throws: WitnessAlarm.rollback(source: "node-a", accepted: 11, shown: 9)) {
                _ = try await witnessA.check(shownToA.note, from: "node-a", accepted: next) { _, _ in [] }
            }
        }
    }
}
