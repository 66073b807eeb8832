import Foundation
import Logging
import PostgresNIO

/// One throwaway PostgreSQL server per test process for the cluster tests (its own folder),
/// started by `scripts/postgres-test-server`
/// on first use and stopped when the process exits (or, if it dies, by the script's watcher).
/// Every test gets its own database on it.
enum ClusterPostgresServer {
    /// Where the server keeps its data and socket: one folder per test process, under /tmp
    /// rather than TMPDIR because the server's own user must be able to reach it.
    static let directory = URL(filePath: "/tmp/biomatch-cluster-pg-\(ProcessInfo.processInfo.processIdentifier)")

    static let script = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "scripts/postgres-test-server")

    /// The socket path, once the server is up; every caller awaits the same start.
    static let socket = Task<String, any Error> {
        let settings = try await run(["start", directory.path, "--owner-pid", "\(getpid())"])
        atexit {
            // Best effort; the watcher cleans up if this never runs.
            _ = try? runSynchronously([ClusterPostgresServer.script.path, "stop", ClusterPostgresServer.directory.path])
        }
        guard let socket = settings["PGSOCKET"] else {
            throw ClusterServerError.missingSetting("PGSOCKET")
        }
        return socket
    }

    static let superuser = "biomatch"

    /// Creates a fresh database, hands `body` a client configuration for it, then drops it.
    static func withDatabase<T>(_ body: (PostgresClient.Configuration) async throws -> T) async throws -> T {
        let socket = try await socket.value
        let name = "cluster_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await administer("CREATE DATABASE \(name)", socket: socket)
        do {
            var configuration = PostgresClient.Configuration(
                unixSocketPath: socket, username: superuser, password: nil, database: name)
            configuration.options.maximumConnections = 8
            let result = try await body(configuration)
            try await administer("DROP DATABASE \(name) WITH (FORCE)", socket: socket)
            return result
        } catch {
            try? await administer("DROP DATABASE \(name) WITH (FORCE)", socket: socket)
            throw error
        }
    }

    private static func administer(_ sql: String, socket: String) async throws {
        let configuration = PostgresConnection.Configuration(
            unixSocketPath: socket, username: superuser, password: nil, database: "postgres")
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 0, logger: Logger(label: "biomatch.cluster.tests"))
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "biomatch.cluster.tests"))
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs the script off the cooperative pool and parses its KEY=VALUE output.
    private static func run(_ arguments: [String]) async throws -> [String: String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runSynchronously([script.path] + arguments) })
            }
        }
    }

    /// Runs `bash command…` with its output in a file, not a pipe (the server and the watcher
    /// outlive the script), and waits with waitpid: Foundation's Process sometimes never
    /// noticed this script's exit.
    private static func runSynchronously(_ command: [String]) throws -> [String: String] {
        let output = FileManager.default.temporaryDirectory.appending(path: "biomatch-pg-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let arguments = (["/bin/bash"] + command).map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, arguments, environ)
        guard spawned == 0 else { throw ClusterServerError.spawnFailed(errno: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw ClusterServerError.spawnFailed(errno: errno) }
        }
        // Exited normally (low 7 bits zero) with status zero.
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw ClusterServerError.scriptFailed(command: command, status: status)
        }
        var settings: [String: String] = [:]
        for line in try String(contentsOf: output, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { settings[String(parts[0])] = String(parts[1]) }
        }
        return settings
    }
}

enum ClusterServerError: Error, CustomStringConvertible {
    case scriptFailed(command: [String], status: Int32)
    case spawnFailed(errno: Int32)
    case missingSetting(String)

    var description: String {
        switch self {
        case .scriptFailed(let command, let status):
            "\(command.joined(separator: " ")) ended with wait status \(status) (its stderr is in the test log)"
        case .spawnFailed(let code):
            "could not run the server script: \(String(cString: strerror(code)))"
        case .missingSetting(let key):
            "postgres-test-server printed no \(key)"
        }
    }
}
