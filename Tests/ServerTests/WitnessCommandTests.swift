import Foundation
import Gallery
import Governance
import Operations
import Testing
import Transparency
@testable import Server

/// `biomatch witness --once` against a real server on a loopback port: it accepts and cosigns a
/// checkpoint that grows consistently, and alarms (exit 2, the metric, an ALARM line) when the
/// node serves a signed checkpoint it cannot prove consistent.
@Suite struct WitnessCommandTests {
    static let executable =
        URL(filePath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appending(path: "biomatch")

    static func witness(_ arguments: [String], apiKey: String) async throws -> (status: Int32, output: String, errors: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["BIOMATCH_API_KEY"] = apiKey
        return try await runChild(executable, ["witness", "--once"] + arguments, environment: environment)
    }

    @Test(.timeLimit(.minutes(3))) func theWitnessCosignsGrowthAndAlarmsOnACheckpointTheNodeCannotProve() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "witness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "gallery.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let operations = try await TestServer.openOperations(store: store, metrics: ServerMetrics())
        let admin = try #require(try await operations.keys.bootstrapAdminKey())
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        let (group, port) = try await TestServer.startGroup(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), operations: operations, metrics: ServerMetrics(),
            closeStore: {})
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let node = "http://127.0.0.1:\(try await port.value)"
        let logKey = signer.verifier.encoded
        let arguments = [
            "--node", node, "--log-key", logKey, "--key", folder.appending(path: "witness.key").path, "--state",
            folder.appending(path: "state").path, "--metrics-file", folder.appending(path: "witness.prom").path,
        ]
        func record(_ count: Int) async throws {
            for index in 0..<count {
                try await operations.auditLog.record(
                    .detection(by: Caller.localOperator(name: "test"), probeSHA256: String(repeating: "b", count: 64), faceCount: index))
            }
        }
        func metrics() throws -> String {
            try String(contentsOf: folder.appending(path: "witness.prom"), encoding: .utf8)
        }

        try await record(3)
        _ = try await operations.makeAuditCheckpoint(signer: signer)
        let first = try await Self.witness(arguments, apiKey: admin.secret)
        #expect(first.status == 0, "\(first.errors)")
        let cosigned = try SignedNote(parsing: first.output)
        try signer.verifier.verify(cosigned)
        #expect(cosigned.signatures.count == 2)
        #expect(try Checkpoint(text: cosigned.text).size == 4)
        #expect(try metrics().contains("biomatch_witness_accepted_tree_size 4"))

        try await record(5)
        _ = try await operations.makeAuditCheckpoint(signer: signer)
        let second = try await Self.witness(arguments, apiKey: admin.secret)
        #expect(second.status == 0, "\(second.errors)")
        #expect(try Checkpoint(text: try SignedNote(parsing: second.output).text).size == 9)
        #expect(try metrics().contains("biomatch_witness_alarms_total 0"))

        // The operator signs a checkpoint for a history the store does not hold: the node serves
        // it, but cannot prove it extends what the witness accepted.
        let forged = Checkpoint(origin: signer.verifier.name, size: 12, rootHash: MerkleHash.leaf(Data("forged".utf8)))
        let note = SignedNote(text: forged.text, signatures: [try signer.signature(for: forged.text)]).serialised
        try await store.appendRecords([
            CompanionRecord(table: GovernanceSchema.checkpointsTable, sequenceColumn: "tree_size") { _ in
                [
                    "tree_size": .integer(12), "root_hash": .text(forged.rootHash.hexEncoded), "note": .text(note),
                    "created_at_ms": .integer(Int64(Date().timeIntervalSince1970 * 1000)),
                ]
            }
        ])
        let alarmed = try await Self.witness(arguments, apiKey: admin.secret)
        #expect(alarmed.status == 2)
        #expect(alarmed.errors.contains("ALARM FORK"), "\(alarmed.errors)")
        #expect(try metrics().contains("biomatch_witness_alarms_total 1"))

        // A checkpoint signed by another key is refused as well.
        let stranger = try NoteSigner.generate(name: "biomatch.test/audit")
        let refused = try await Self.witness(
            ["--node", node, "--log-key", stranger.verifier.encoded, "--key", folder.appending(path: "other.key").path,
             "--state", folder.appending(path: "other-state").path], apiKey: admin.secret)
        #expect(refused.status == 2)
        #expect(refused.errors.contains("ALARM BAD CHECKPOINT"), "\(refused.errors)")
        await group.triggerGracefulShutdown()
    }
}

/// Runs a child process without blocking a thread of the cooperative pool: its output goes to
/// files and its end is awaited, so the tests and servers in this process keep running meanwhile
/// (a blocking wait on two cores can stall every other test, or the server the child talks to).
func runChild(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil
) async throws -> (status: Int32, output: String, errors: String) {
    let folder = FileManager.default.temporaryDirectory.appending(path: "child-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let outputFile = folder.appending(path: "stdout")
    let errorFile = folder.appending(path: "stderr")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = try FileHandle(forWritingTo: outputFile)
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        process.terminationHandler = { _ in continuation.resume() }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    return (
        process.terminationStatus, try String(contentsOf: outputFile, encoding: .utf8),
        try String(contentsOf: errorFile, encoding: .utf8)
    )
}
