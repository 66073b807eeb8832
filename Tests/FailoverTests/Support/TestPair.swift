import Foundation

/// The repository's root, found from this file's path.
let repositoryRoot = URL(filePath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A primary + standby pair from `scripts/postgres-test-pair`, stopped with the test process
/// (the script's watcher) or by `stop()`.
struct TestPair: Sendable {
    /// Under /tmp rather than TMPDIR: the servers' own user must reach it.
    let directory: URL
    let primaryPort: Int
    let standbyPort: Int
    let user: String
    let database: String
    /// Both hosts, primary first: what `serve --store` and the CLI get.
    let storeURL: String

    static let script = repositoryRoot.appending(path: "scripts/postgres-test-pair")

    /// Starts a pair; `synchronous` false gives the asynchronous negative control.
    static func start(synchronous: Bool, scratch: URL) async throws -> TestPair {
        let directory = URL(filePath: "/tmp/biomatch-pair-\(getpid())-\(UUID().uuidString.prefix(8))")
        var arguments = ["/bin/bash", script.path, "start", directory.path, "--owner-pid", "\(getpid())"]
        if !synchronous { arguments.append("--async") }
        let settings = try await ChildProcess.run(arguments, in: scratch)
        func value(_ key: String) throws(ClusterTestError) -> String {
            guard let value = settings[key] else { throw .missingSetting(key) }
            return value
        }
        return TestPair(
            directory: directory, primaryPort: Int(try value("PRIMARY_PORT")) ?? 0,
            standbyPort: Int(try value("STANDBY_PORT")) ?? 0, user: try value("PGUSER"),
            database: try value("PGDATABASE"), storeURL: try value("STORE_URL"))
    }

    /// SIGKILL of the primary and all its processes.
    func killPrimary(scratch: URL) async throws { _ = try await command("kill-primary", scratch: scratch) }
    /// `pg_ctl promote -w` of the standby.
    func promote(scratch: URL) async throws { _ = try await command("promote", scratch: scratch) }
    /// SIGSTOP of the primary's WAL sender.
    func pauseWALSender(scratch: URL) async throws { _ = try await command("pause-walsender", scratch: scratch) }
    /// Stops both servers and deletes the folder.
    func stop(scratch: URL) async { _ = try? await command("stop", scratch: scratch) }

    private func command(_ name: String, scratch: URL) async throws -> [String: String] {
        try await ChildProcess.run(["/bin/bash", Self.script.path, name, directory.path], in: scratch)
    }

    /// Rows of `sql` on the node at `port` (tab-separated fields), through psql.
    func query(_ sql: String, port: Int, scratch: URL) async throws -> [[String]] {
        let output = scratch.appending(path: "\(UUID().uuidString).psql")
        let errors = scratch.appending(path: "\(UUID().uuidString).psql.err")
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        let child = try ChildProcess.start(
            [
                "/usr/bin/psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", "\(port)", "-U", user, "-d", database, "-c", sql,
            ],
            standardOutput: output, standardError: errors)
        let status = await child.waitForExit()
        guard status == 0 else {
            throw ClusterTestError.commandFailed("psql -c \(sql)", status: status, log: child.logTail())
        }
        return try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }
}
