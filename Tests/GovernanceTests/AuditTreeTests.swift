import Foundation
import GRDB
import Gallery
import Governance
import PostgresTestSupport
import Testing
import Transparency

/// The Merkle tree the store keeps beside the audit log, on real SQLite files and a real
/// PostgreSQL server: its root is the RFC 9162 root of the export lines, its proofs verify,
/// entries from before the tree get their rows, and checkpoints catch what the chain cannot.
@Suite struct AuditTreeTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgresql
        var testDescription: String { rawValue }

        func withStore<T: Sendable>(_ body: (any GalleryStore) async throws -> T) async throws -> T {
            switch self {
            case .sqlite:
                return try await withGovernedStore { try await body($0.store) }
            case .postgresql:
                return try await TestPostgresServer.withDatabase { configuration in
                    try await PostgresGalleryStore.withStore(
                        configuration: configuration, additionalMigrations: GovernanceSchema.migrations(for: .postgresql)
                    ) { store in try await body(store) }
                }
            }
        }
    }

    /// The export lines of the whole log.
    static func exportLines(_ log: AuditLog) async throws -> [String] {
        var lines: [String] = []
        try await log.export { lines += $0 }
        return lines
    }

    /// Appends `count` search-free entries (key-less actions) quickly.
    static func appendEntries(_ count: Int, to log: AuditLog, label: String = "x") async throws {
        for index in 0..<count {
            try await log.record(.detection(by: Fixtures.admin, probeSHA256: try Fixtures.photoDigest(index), faceCount: index % 3))
        }
        _ = label
    }

    @Test(arguments: Backend.allCases)
    func theStoredTreeHasTheRootOfTheExportAndEveryProofVerifies(backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await SampleChain.build(in: store)
            let log = AuditLog(store: store)
            try await Self.appendEntries(12, to: log)
            let lines = try await Self.exportLines(log)
            #expect(lines.count == SampleChain.length + 12)
            #expect(try await log.treeSize() == Int64(lines.count))
            var frontier = MerkleFrontier()
            var roots: [Data] = []
            for line in lines {
                frontier.append(leafHash: MerkleHash.leaf(Data(line.utf8)))
                roots.append(frontier.root)
            }
            for size in 1...lines.count {
                #expect(try await log.treeHead(size: Int64(size)).rootHash == roots[size - 1], "root at \(size)")
            }
            let size = Int64(lines.count)
            for (index, line) in lines.enumerated() {
                let proof = try await log.inclusionProof(leafIndex: Int64(index), treeSize: size)
                try MerkleVerification.verifyInclusion(
                    proof: proof, leafHash: MerkleHash.leaf(Data(line.utf8)), index: Int64(index), size: size,
                    root: roots.last!)
            }
            for first in 1...lines.count {
                let proof = try await log.consistencyProof(from: Int64(first), to: size)
                try MerkleVerification.verifyConsistency(
                    proof: proof, firstSize: Int64(first), firstRoot: roots[first - 1], secondSize: size, secondRoot: roots.last!)
            }
            await expectFailure(.invalidProofRequest(reason: "tree size \(size + 1) is not between 1 and the log's \(size)")) {
                try await log.inclusionProof(leafIndex: 0, treeSize: size + 1)
            }
            await #expect(throws: GovernanceError.self) { try await log.consistencyProof(from: 5, to: 4) }
        }
    }

    @Test func appendsFromTwoStoresOnOnePostgreSQLDatabaseFormOneTree() async throws {
        try await TestPostgresServer.withDatabase { configuration in
            try await PostgresGalleryStore.withStore(
                configuration: configuration, additionalMigrations: GovernanceSchema.migrations(for: .postgresql)
            ) { first in
                try await PostgresGalleryStore.withStore(
                    configuration: configuration, additionalMigrations: GovernanceSchema.migrations(for: .postgresql)
                ) { second in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for store in [first, second] {
                            group.addTask { try await Self.appendEntries(15, to: AuditLog(store: store)) }
                        }
                        try await group.waitForAll()
                    }
                    let log = AuditLog(store: first)
                    let lines = try await Self.exportLines(log)
                    #expect(lines.count == 30)
                    var frontier = MerkleFrontier()
                    for line in lines { frontier.append(leafHash: MerkleHash.leaf(Data(line.utf8))) }
                    #expect(try await AuditLog(store: second).treeHead().rootHash == frontier.root)
                }
            }
        }
    }

    @Test func entriesWithoutTreeRowsGetThemAndTheRootIsTheExportsRoot() async throws {
        try await withGovernedStore { governed in
            _ = try await SampleChain.build(in: governed.store)
            let log = AuditLog(store: governed.store)
            // As if the log had been written before the tree existed.
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_tree_refuse_delete")
                try db.execute(sql: "DELETE FROM audit_tree")
            }
            #expect(try await log.treeSize() == 0)
            // Appending now refuses: the tree would not cover the log.
            await #expect(throws: GovernanceError.self) {
                try await log.record(.detection(by: Fixtures.admin, probeSHA256: try Fixtures.photoDigest(0), faceCount: 1))
            }
            #expect(try await log.completeTree(batchSize: 4) == SampleChain.length)
            #expect(try await log.completeTree() == 0)
            try await Self.appendEntries(3, to: log)
            let lines = try await Self.exportLines(log)
            var frontier = MerkleFrontier()
            for line in lines { frontier.append(leafHash: MerkleHash.leaf(Data(line.utf8))) }
            #expect(try await log.treeHead().rootHash == frontier.root)
            #expect(try await log.treeSize() == Int64(SampleChain.length + 3))
        }
    }

    @Test func checkpointsAreSignedOnlyWhenTheLogGrewAndVerifyWithThePublicKey() async throws {
        try await withGovernedStore { governed in
            let log = AuditLog(store: governed.store)
            let signer = try NoteSigner.generate(name: "biomatch.test/audit")
            #expect(try await log.makeCheckpoint(signer: signer) == nil)
            _ = try await SampleChain.build(in: governed.store)
            let first = try #require(try await log.makeCheckpoint(signer: signer))
            #expect(first.checkpoint.size == Int64(SampleChain.length))
            #expect(try await log.makeCheckpoint(signer: signer) == first)
            try await Self.appendEntries(2, to: log)
            let second = try #require(try await log.makeCheckpoint(signer: signer))
            #expect(second.checkpoint.size == Int64(SampleChain.length + 2))
            #expect(try await log.latestCheckpoint() == second)
            #expect(try await log.checkpoints().map(\.checkpoint.size) == [first.checkpoint.size, second.checkpoint.size])
            let (read, _) = try Checkpoint.verified(second.note, by: signer.verifier)
            #expect(read.rootHash == (try await log.treeHead().rootHash))
            let outcome = try AuditCheckpointVerifier.verify(
                exportLines: try await Self.exportLines(log), checkpoints: [first.note, second.note], key: signer.verifier)
            #expect(outcome.isIntact, "\(outcome)")
            #expect(outcome.matched == [first.checkpoint.size, second.checkpoint.size])
        }
    }

    @Test func theSigningKeyComesFromTheEnvironmentOrAnOwnerOnlyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "audit-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appending(path: "audit-signing.key")
        let created = try AuditSigningKey.loadOrCreate(file: file, origin: "biomatch.test/audit", environment: [:])
        let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try AuditSigningKey.load(file: file, environment: [:]).verifier == created.verifier)
        let other = try NoteSigner.generate(name: "elsewhere")
        #expect(
            try AuditSigningKey.load(file: file, environment: [AuditSigningKey.environmentVariable: other.encoded]).verifier
                == other.verifier)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        #expect(throws: GovernanceError.self) { try AuditSigningKey.load(file: file, environment: [:]) }
    }
}
