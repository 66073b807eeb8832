import FaceEngine
import Foundation
import Gallery
import Governance
import Logging
import Operations
import Review
import ServiceLifecycle
import Testing
import Transparency
@testable import Server

/// The checkpoint service signs after N entries, after T seconds when anything was added, and
/// once more at shutdown, on a real SQLite store.
@Suite struct AuditCheckpointServiceTests {
    static func operations(folder: URL) async throws -> MatcherOperations {
        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "gallery.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        return try await TestServer.openOperations(store: store, metrics: ServerMetrics())
    }

    static func record(_ count: Int, in operations: MatcherOperations) async throws {
        for index in 0..<count {
            try await operations.auditLog.record(
                .detection(by: Caller.localOperator(name: "test"), probeSHA256: String(repeating: "a", count: 64), faceCount: index))
        }
    }

    /// Waits up to `seconds` for a checkpoint covering `size` entries.
    static func waitForCheckpoint(of size: Int64, in operations: MatcherOperations, seconds: Int = 20) async throws -> Bool {
        for _ in 0..<(seconds * 10) {
            if let latest = try await operations.auditLog.latestCheckpoint(), latest.checkpoint.size >= size { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test(.timeLimit(.minutes(2))) func checkpointsComeAfterNEntriesAfterTSecondsAndAtShutdown() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "checkpoint-service-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let operations = try await Self.operations(folder: folder)
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        var logger = Logger(label: "checkpoint-tests")
        logger.logLevel = .warning

        // By count: 5 entries with an hour's interval.
        do {
            let service = AuditCheckpointService(
                operations: operations, signer: signer, entries: 5, interval: .seconds(3_600), logger: logger)
            let group = ServiceGroup(services: [service], logger: logger)
            let running = Task { try await group.run() }
            try await Self.record(4, in: operations)
            try await Task.sleep(for: .seconds(2))
            #expect(try await operations.auditLog.latestCheckpoint() == nil, "signed before 5 entries")
            try await Self.record(1, in: operations)
            #expect(try await Self.waitForCheckpoint(of: 5, in: operations))
            // At shutdown: the entries since are covered too.
            try await Self.record(2, in: operations)
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await operations.auditLog.latestCheckpoint()?.checkpoint.size == 7)
        }
        // By time: one entry, a 1-second interval.
        do {
            let service = AuditCheckpointService(
                operations: operations, signer: signer, entries: 1_000, interval: .seconds(1), logger: logger)
            let group = ServiceGroup(services: [service], logger: logger)
            let running = Task { try await group.run() }
            try await Self.record(1, in: operations)
            #expect(try await Self.waitForCheckpoint(of: 8, in: operations))
            await group.triggerGracefulShutdown()
            try await running.value
        }
        let notes = try await operations.auditLog.checkpoints().map(\.note)
        var lines: [String] = []
        try await operations.auditLog.export { lines += $0 }
        let outcome = try AuditCheckpointVerifier.verify(exportLines: lines, checkpoints: notes, key: signer.verifier)
        #expect(outcome.isIntact)
        #expect(outcome.matched.last == 8)
    }
}
