import Foundation
import Gallery
import Governance
import Testing
import Transparency

/// `tools/verify_audit_log.py`, written from docs/audit-log.md alone in another language, agrees
/// with BioMatch on a real log of 10,000 entries: the root, the checkpoints and an inclusion proof.
@Suite struct IndependentVerifierTests {
    static let repository = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Debian's Python, which has Debian's python3-cryptography (scripts/setup installs both).
    static let python = "/usr/bin/python3"

    struct Report: Decodable {
        var entries: Int
        var root: String
        var checkpoints_matched: [Int]
        var inclusion_verified: Bool?
        var problems: [String]
    }

    static func runVerifier(_ arguments: [String]) async throws -> (status: Int32, report: Report) {
        let run = try await runChild(
            URL(filePath: python), [repository.appending(path: "tools/verify_audit_log.py").path] + arguments)
        return (run.status, try JSONDecoder().decode(Report.self, from: Data(run.output.utf8)))
    }

    @Test func thePythonVerifierAgreesWithBioMatchOnTenThousandEntries() async throws {
        try await withGovernedStore { governed in
            let store = governed.store
            let log = AuditLog(store: store)
            let signer = try NoteSigner.generate(name: "biomatch.test/audit")
            _ = try await SampleChain.build(in: store)
            var checkpoints: [StoredCheckpoint] = []
            let digests = try (0..<4).map(Fixtures.photoDigest)
            var written = SampleChain.length
            while written < 10_000 {
                let batch = min(500, 10_000 - written)
                var records: [CompanionRecord] = []
                for index in 0..<batch {
                    let event: AuditEvent = index % 2 == 0
                        ? .detection(by: Fixtures.admin, probeSHA256: digests[index % 4], faceCount: index % 4)
                        : .comparison(
                            by: Fixtures.searcher, justification: Fixtures.justification,
                            probeSHA256: digests[index % 4], otherImageSHA256: digests[(index + 1) % 4],
                            score: Float(index % 100) / 100, threshold: 0.36)
                    records.append(try log.companion(for: event))
                }
                try await store.appendRecords(records)
                written += batch
                if written == 5_009 || written == 10_000 {
                    checkpoints.append(try #require(try await log.makeCheckpoint(signer: signer)))
                }
            }
            #expect(checkpoints.map(\.checkpoint.size) == [5_009, 10_000])
            let folder = governed.directory
            var lines: [String] = []
            try await log.export { lines += $0 }
            let export = folder.appending(path: "log.jsonl")
            try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: export)
            var checkpointArguments: [String] = []
            for (index, checkpoint) in checkpoints.enumerated() {
                let file = folder.appending(path: "checkpoint-\(index).txt")
                try Data(checkpoint.note.utf8).write(to: file)
                checkpointArguments += ["--checkpoint", file.path]
            }
            let leafIndex: Int64 = 4_321
            let proof = try await log.inclusionProof(leafIndex: leafIndex, treeSize: 10_000)
            #expect(proof.count <= 14)
            let proofFile = folder.appending(path: "proof.json")
            try JSONEncoder().encode(["hashes": proof.map { $0.base64EncodedString() }]).write(to: proofFile)

            let (status, report) = try await Self.runVerifier(
                ["--export", export.path, "--public-key", signer.verifier.encoded, "--inclusion", String(leafIndex), "10000", proofFile.path]
                    + checkpointArguments)
            #expect(status == 0)
            #expect(report.problems.isEmpty, "\(report.problems)")
            #expect(report.entries == 10_000)
            #expect(report.root == (try await log.treeHead().rootHash.hexEncoded))
            #expect(report.checkpoints_matched == [5_009, 10_000])
            #expect(report.inclusion_verified == true)

            // One changed time in entry 7,000: both verifiers say so.
            var tampered = lines
            tampered[6_999] = tampered[6_999].replacingOccurrences(of: "\"recorded_at_ms\":1", with: "\"recorded_at_ms\":2")
            #expect(tampered[6_999] != lines[6_999])
            let tamperedFile = folder.appending(path: "tampered.jsonl")
            try Data(tampered.map { $0 + "\n" }.joined().utf8).write(to: tamperedFile)
            let (badStatus, badReport) = try await Self.runVerifier(
                ["--export", tamperedFile.path, "--public-key", signer.verifier.encoded] + checkpointArguments)
            #expect(badStatus == 1)
            #expect(badReport.problems.contains("entry 7000: entry_hash is not the hash of its fields"))
            #expect(badReport.problems.contains("checkpoint 10000: the root of the first 10000 entries differs"))
            #expect(badReport.checkpoints_matched == [5_009])
            let ours = try AuditCheckpointVerifier.verify(
                exportLines: tampered, checkpoints: checkpoints.map(\.note), key: signer.verifier)
            #expect(ours.matched == [5_009])
            #expect(ours.failure?.contains("between entries 5010 and 10000") == true)
        }
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
