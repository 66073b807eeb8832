import ArgumentParser
import Foundation
import Transparency

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `biomatch witness`: watches BioMatch nodes' audit checkpoints for forks and rollbacks.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Check that BioMatch nodes' audit checkpoints only ever grow, and cosign the ones that do.",
        discussion: """
            Polls each --node's GET /v1/audit/checkpoint, verifies the log's signature with --log-key, and \
            checks each new checkpoint extends the last one it accepted with a consistency proof from the \
            node. It cosigns what it accepts (C2SP tlog-cosignature) and keeps, in --state, one JSON file \
            per log with the accepted checkpoint and its cosigned note; others read that file to \
            cross-check (--gossip). A fork (two histories) or a rollback is an alarm: a log line starting \
            ALARM, a count in the --metrics-file (Prometheus text format) and, with --once, exit status 2. \
            The node's API key (role auditor) comes from BIOMATCH_API_KEY.
            """
    )

    @Option(name: .customLong("node"), help: "A node's base URL (http://host:port); repeatable.")
    var nodes: [String] = []

    @Option(help: "The log's public key (`biomatch audit public-key`), or a file holding it.")
    var logKey: String

    @Option(help: "This witness's signing key file; created (mode 0600) if missing.")
    var key: String

    @Option(help: "The folder for this witness's state.")
    var state: String

    @Option(help: "The witness's name, for a new key (default witness/<host name>).")
    var name: String?

    @Option(name: .customLong("gossip"), help: "Another witness's state file or cosigned checkpoint to cross-check; repeatable.")
    var gossip: [String] = []

    @Option(help: "Seconds between polls (default 60).")
    var interval: Int = 60

    @Option(help: "Write the witness's metrics here after every poll (Prometheus text format).")
    var metricsFile: String?

    @Flag(help: "Poll once and exit: 0 if all is well, 2 on an alarm, 1 if no node could be reached.")
    var once = false

    func validate() throws {
        if nodes.isEmpty { throw ValidationError("give at least one --node") }
        if interval < 1 { throw ValidationError("--interval must be at least 1 second") }
    }

    func run() async throws {
        let policy = WitnessPolicy(
            logKey: try NoteVerifier(encoded: AuditKeyOptions.text(ofKeyOrFile: logKey)),
            witnessKey: try Self.loadOrCreateKey(
                URL(filePath: key), name: name ?? "witness/\(ProcessInfo.processInfo.hostName)"))
        standardError("witness key: \(policy.witnessKey.verifier.encoded)")
        let stateFile = URL(filePath: state).appending(path: Self.fileName(for: policy.logKey.name))
        try FileManager.default.createDirectory(at: URL(filePath: state), withIntermediateDirectories: true)
        var alarms = 0
        var accepted = Self.loadRecord(stateFile)
        while true {
            var reached = 0
            for node in nodes {
                let client = NodeClient(base: node, apiKey: ProcessInfo.processInfo.environment["BIOMATCH_API_KEY"])
                let note: String
                do {
                    note = try await client.checkpoint()
                    reached += 1
                } catch {
                    standardError("witness: \(node) unreachable: \(error)")
                    continue
                }
                do {
                    let record = try await policy.check(note, from: node, accepted: accepted) { from, to in
                        try await client.consistencyProof(from: from, to: to)
                    }
                    if record != accepted {
                        try Self.save(record, to: stateFile)
                        standardError("witness: accepted \(record.origin) size \(record.size) from \(node)")
                        accepted = record
                    }
                } catch {
                    alarms += 1
                    standardError("ALARM \(error)")
                }
            }
            if let accepted {
                for source in gossip {
                    guard let note = Self.gossipNote(source) else {
                        standardError("witness: cannot read gossip \(source)")
                        continue
                    }
                    do {
                        try await Self.crossCheck(note, source: source, accepted: accepted, policy: policy, nodes: nodes)
                    } catch {
                        alarms += 1
                        standardError("ALARM \(error)")
                    }
                }
            }
            writeMetrics(alarms: alarms, accepted: accepted)
            if once {
                if alarms > 0 { throw ExitCode(2) }
                if reached == 0 { throw ExitCode.failure }
                if let accepted { print(accepted.cosignedNote, terminator: "") }
                return
            }
            try await Task.sleep(for: .seconds(interval))
        }
    }

    /// Cross-checks a gossiped checkpoint with a proof from the first node that answers.
    private static func crossCheck(
        _ note: String, source: String, accepted: WitnessRecord, policy: WitnessPolicy, nodes: [String]
    ) async throws(WitnessAlarm) {
        let clients = nodes.map { NodeClient(base: $0, apiKey: ProcessInfo.processInfo.environment["BIOMATCH_API_KEY"]) }
        try await policy.crossCheck(note, from: source, accepted: accepted) { from, to in
            var lastError: (any Error)?
            for client in clients {
                do { return try await client.consistencyProof(from: from, to: to) } catch { lastError = error }
            }
            throw lastError ?? CommandFailure("no node")
        }
    }

    private func writeMetrics(alarms: Int, accepted: WitnessRecord?) {
        guard let metricsFile else { return }
        let text = """
            # HELP biomatch_witness_alarms_total Forks, rollbacks and bad checkpoints seen by this witness run.
            # TYPE biomatch_witness_alarms_total counter
            biomatch_witness_alarms_total \(alarms)
            # HELP biomatch_witness_accepted_tree_size The tree size of the newest checkpoint accepted.
            # TYPE biomatch_witness_accepted_tree_size gauge
            biomatch_witness_accepted_tree_size \(accepted?.size ?? 0)

            """
        try? Data(text.utf8).write(to: URL(filePath: metricsFile), options: .atomic)
    }

    static func fileName(for origin: String) -> String {
        String(origin.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }) + ".json"
    }

    static func loadRecord(_ file: URL) -> WitnessRecord? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        return try? JSONDecoder().decode(WitnessRecord.self, from: data)
    }

    static func save(_ record: WitnessRecord, to file: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(record).write(to: file, options: .atomic)
    }

    /// A gossip source: another witness's state file, or a note.
    static func gossipNote(_ path: String) -> String? {
        guard let text = try? String(contentsOf: URL(filePath: path), encoding: .utf8) else { return nil }
        if let record = try? JSONDecoder().decode(WitnessRecord.self, from: Data(text.utf8)) { return record.cosignedNote }
        return text
    }

    static func loadOrCreateKey(_ file: URL, name: String) throws -> NoteSigner {
        if FileManager.default.fileExists(atPath: file.path) {
            return try NoteSigner(encoded: String(contentsOf: file, encoding: .utf8))
        }
        let signer = try NoteSigner.generate(name: name, type: .cosignatureV1)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(
            atPath: file.path, contents: Data((signer.encoded + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw CommandFailure("cannot create \(file.path)") }
        return signer
    }
}

/// The two requests a witness makes of a node.
struct NodeClient: Sendable {
    let base: String
    let apiKey: String?

    func checkpoint() async throws -> String {
        String(decoding: try await get("/v1/audit/checkpoint"), as: UTF8.self)
    }

    func consistencyProof(from: Int64, to: Int64) async throws -> [Data] {
        struct Body: Decodable { var hashes: [String] }
        let body = try JSONDecoder().decode(Body.self, from: try await get("/v1/audit/proofs/consistency?from=\(from)&to=\(to)"))
        return try body.hashes.map { hash in
            guard let data = Data(base64Encoded: hash) else { throw CommandFailure("a proof hash is not base64") }
            return data
        }
    }

    private func get(_ path: String) async throws -> Data {
        guard let url = URL(string: base.hasSuffix("/") ? String(base.dropLast()) + path : base + path) else {
            throw CommandFailure("\(base) is not a URL")
        }
        var request = URLRequest(url: url, timeoutInterval: 30)
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            throw CommandFailure("GET \(path): HTTP \(status) \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        return data
    }
}
