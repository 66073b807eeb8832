import Foundation

/// A process the tests start, with its output in files (servers outlive any pipe reader), waited
/// for with waitpid: Foundation's Process sometimes never noticed a script's exit.
struct ChildProcess: Sendable {
    let pid: pid_t
    let standardOutput: URL
    let standardError: URL

    /// Starts `arguments[0]` (a path) with `environment` added to this process's own.
    static func start(
        _ arguments: [String], environment: [String: String] = [:], standardOutput: URL, standardError: URL
    ) throws(ClusterTestError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else { throw .spawnFailed(arguments[0], errno: spawned) }
        return ChildProcess(pid: pid, standardOutput: standardOutput, standardError: standardError)
    }

    /// Runs a command to its end and returns its KEY=VALUE output lines; fails on a non-zero exit.
    static func run(_ arguments: [String], in folder: URL) async throws -> [String: String] {
        let name = UUID().uuidString
        let output = folder.appending(path: "\(name).out")
        let errors = folder.appending(path: "\(name).err")
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        let child = try start(arguments, standardOutput: output, standardError: errors)
        let status = await child.waitForExit()
        guard status == 0 else {
            let log = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw ClusterTestError.commandFailed(arguments.joined(separator: " "), status: status, log: log)
        }
        var settings: [String: String] = [:]
        for line in try String(contentsOf: output, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { settings[String(parts[0])] = String(parts[1]) }
        }
        return settings
    }

    /// Waits off the cooperative pool; the exit status, or 128 + the signal that ended it.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 {
                    guard errno == EINTR else {
                        continuation.resume(returning: -1)
                        return
                    }
                }
                let signal = status & 0x7F
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xFF : 128 + signal)
            }
        }
    }

    /// SIGTERM, then SIGKILL if it has not ended within `grace`. Until the waiter has reaped it,
    /// the PID is still this child's, so the SIGKILL cannot reach another process.
    func stop(grace: Duration = .seconds(20)) async {
        kill(pid, SIGTERM)
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = await waitForExit()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: grace)
                return false
            }
            if await group.next() == false { kill(pid, SIGKILL) }
            group.cancelAll()
            await group.waitForAll()
        }
    }

    /// The end of its standard error, for a failure message.
    func logTail(characters: Int = 4_000) -> String {
        let text = (try? String(contentsOf: standardError, encoding: .utf8)) ?? ""
        return String(text.suffix(characters))
    }
}

/// What can go wrong around the cluster under test, before any assertion.
enum ClusterTestError: Error, CustomStringConvertible {
    case spawnFailed(String, errno: Int32)
    case commandFailed(String, status: Int32, log: String)
    case missingSetting(String)
    case notReady(String, log: String)
    case missingBinary(String)
    case noAnswer(String, within: Duration)

    var description: String {
        switch self {
        case .spawnFailed(let path, let code): "could not start \(path): \(String(cString: strerror(code)))"
        case .commandFailed(let command, let status, let log): "\(command) ended with status \(status): \(log)"
        case .missingSetting(let key): "postgres-test-pair printed no \(key)"
        case .notReady(let what, let log): "\(what) did not become ready: \(log)"
        case .noAnswer(let request, let timeout): "no answer to \(request) within \(timeout)"
        case .missingBinary(let path): "\(path) is missing: build it first (swift build --build-tests)"
        }
    }
}
