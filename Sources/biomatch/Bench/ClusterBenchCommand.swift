import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Identification
import Installation
import Logging
import PostgresNIO
import Synchronization

/// `biomatch bench cluster`: two nodes on one PostgreSQL, a steady enrolment load through node A,
/// and the delay until each enrolment is in node B's index.
struct ClusterBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Delay from an enrolment's acknowledgement on one node to its visibility on another.",
        discussion: """
            Starts a throwaway PostgreSQL server (scripts/postgres-test-server, run from the \
            repository root) and opens two nodes on one database: two GallerySearchService \
            instances in this process, each with its own connection pool and indexes, as two \
            `serve` processes have. Node B follows the change feed (GalleryFeedFollower: LISTEN \
            wake-ups, re-reads on reconnect, a 10 s fallback poll). One writer enrols synthetic \
            subjects (one unit template each) through node A at --rate per second for --seconds, \
            after --preload subjects enrolled in bulk. An enrolment is acknowledged when A's \
            enrol call returns (committed, in A's index); it is visible on B when B's index \
            holds it (a watcher reads B's template count every millisecond; one writer commits in \
            acknowledgement order and B applies in commit order, so the count names which). \
            Reports the delay's p50, p99 and max; the target is p99 <= 1 s. The last line is JSON.
            """
    )

    @Option(help: "Enrolments per second through node A.") var rate = 50.0
    @Option(help: "Seconds of steady load.") var seconds = 20.0
    @Option(help: "Subjects enrolled in bulk before the load (gallery size).") var preload = 10_000
    @Flag(help: "Also measure failover: the primary killed with SIGKILL under load, time to the next acknowledged enrolment, on a hand-promoted pair (scripts/postgres-test-pair) and on a pg_auto_failover formation (scripts/cluster up --formation-only).")
    var failover = false
    @Option(help: "Folder for the throwaway PostgreSQL server (default: a new folder under /tmp).")
    var directory: String?

    func validate() throws {
        guard rate > 0, seconds > 0, preload >= 0 else { throw ValidationError("--rate and --seconds must be positive, --preload not negative") }
    }

    func run() async throws {
        let folder = URL(filePath: directory ?? "/tmp/biomatch-cluster-bench-\(getpid())")
        benchLog("starting PostgreSQL in \(folder.path)")
        let socket = try BenchPostgres.start(in: folder)
        defer { BenchPostgres.stop(folder) }
        var configuration = PostgresClient.Configuration(
            unixSocketPath: socket, username: BenchPostgres.superuser, password: nil, database: "postgres")
        configuration.options.maximumConnections = 8
        let engine = try FaceEngine(installation: Installation.fromEnvironment())
        let model = engine.templateModelIdentifier
        let logger = Logger(label: "biomatch.bench.cluster")

        let clientA = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let clientB = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let summary = try await withThrowingTaskGroup(of: ClusterBenchSummary?.self) { group in
            group.addTask { await clientA.run(); return nil }
            group.addTask { await clientB.run(); return nil }
            defer { group.cancelAll() }
            await Task.yield()
            let a = try await GallerySearchService.open(store: try await PostgresGalleryStore.open(client: clientA), engine: engine)
            _ = try await a.createGallery(name: "cluster-bench", purpose: .other)
            var generator = SeededBenchGenerator(seed: 12)
            var preloaded = 0
            while preloaded < preload {
                let count = min(1000, preload - preloaded)
                _ = try await a.enrolBatch(
                    gallery: "cluster-bench",
                    subjects: (0..<count).map { Self.subject("pre-\(preloaded + $0)", model: model, &generator) })
                preloaded += count
            }
            benchLog("preloaded \(preloaded) subjects; opening node B")
            let b = try await GallerySearchService.open(store: try await PostgresGalleryStore.open(client: clientB), engine: engine)
            let follower = Task { await GalleryFeedFollower(service: b).run() }
            defer { follower.cancel() }
            let base = try b.indexedTemplateCount(gallery: "cluster-bench")
            guard base == preload else { throw CommandFailure("node B opened with \(base) templates, \(preload) enrolled") }

            let total = Int(rate * seconds)
            let subjects = (0..<total).map { Self.subject("load-\($0)", model: model, &generator) }
            let visible = Mutex([ContinuousClock.Instant?](repeating: nil, count: total))
            let watcher = Task {
                var seen = 0
                while seen < total, !Task.isCancelled {
                    let count = (try? b.indexedTemplateCount(gallery: "cluster-bench")) ?? base
                    let now = ContinuousClock.now
                    if count - base > seen {
                        let newly = min(total, count - base)
                        visible.withLock { for index in seen..<newly { $0[index] = now } }
                        seen = newly
                    }
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            defer { watcher.cancel() }

            benchLog("enrolling \(total) subjects through node A at \(format(rate)) per second")
            var acknowledged: [ContinuousClock.Instant] = []
            acknowledged.reserveCapacity(total)
            let start = ContinuousClock.now
            for (number, subject) in subjects.enumerated() {
                let due = start + .seconds(Double(number) / rate)
                if ContinuousClock.now < due { try await Task.sleep(until: due) }
                _ = try await a.enrolBatch(gallery: "cluster-bench", subjects: [subject])
                acknowledged.append(.now)
            }
            let loadSeconds = (ContinuousClock.now - start).secondsValue
            let deadline = ContinuousClock.now + .seconds(30)
            while visible.withLock({ $0.last! == nil }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let seenAt = visible.withLock { $0 }
            let missing = seenAt.filter { $0 == nil }.count
            guard missing == 0 else { throw CommandFailure("\(missing) enrolments never became visible on node B within 30 s") }
            // B may apply a change before A's call has returned: that counts as no delay.
            let delays = zip(seenAt, acknowledged).map { max(0, ($0.0! - $0.1).secondsValue * 1000) }.sorted()
            func percentile(_ fraction: Double) -> Double { delays[min(delays.count - 1, Int(Double(delays.count - 1) * fraction + 0.5))] }
            let head = try await b.store.changeFeedHead()
            return ClusterBenchSummary(
                bench: "cluster", nodes: 2, store: "postgresql (local socket)", preload: preload, enrolments: total,
                target_rate_per_second: rate, achieved_rate_per_second: Double(total) / loadSeconds,
                delay_p50_ms: percentile(0.5), delay_p99_ms: percentile(0.99), delay_max_ms: delays.last ?? 0,
                feed_position: head.rawValue, target_p99_ms: 1000, target_met: percentile(0.99) <= 1000)
        }
        print("Propagation between two nodes on one PostgreSQL: \(summary.enrolments) enrolments through node A at "
              + "\(format(summary.achieved_rate_per_second)) per second, gallery of \(summary.preload) + \(summary.enrolments)")
        printTable(["delay A ack -> B index", "ms"], [
            ["p50", format(summary.delay_p50_ms, 2)], ["p99", format(summary.delay_p99_ms, 2)],
            ["max", format(summary.delay_max_ms, 2)], ["count", "\(summary.enrolments)"],
        ])
        print("  target p99 <= 1000 ms: \(summary.target_met ? "met" : "NOT met")")
        var result = summary
        if failover {
            let engine = try FaceEngine(installation: Installation.fromEnvironment())
            let figures = [try await ClusterFailoverBench.handPromoted(engine: engine), try await ClusterFailoverBench.formation(engine: engine)]
            print("Failover: SIGKILL of the primary under \(format(ClusterFailoverBench.rate)) enrolments per second")
            printTable(["setup", "kill -> first ack, ms", "promote -> first ack, ms", "failed attempts"], figures.map {
                [$0.setup, format($0.kill_to_first_ack_ms, 0), $0.promote_to_first_ack_ms.map { format($0, 0) } ?? "-", "\($0.failed_attempts)"]
            })
            result.failover = figures
        }
        try printJSON(result)
    }

    static func subject(_ reference: String, model: String, _ generator: inout SeededBenchGenerator) -> NewSubject {
        let raw = (0..<TemplateFormat.dimension).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return NewSubject(
            externalReference: reference, attributes: [:], retainUntil: nil,
            templates: [
                NewTemplate(
                    modelIdentifier: model, vector: raw.map { $0 / norm },
                    quality: TemplateQuality(detectionScore: 0.9, measures: [:]),
                    sourceImageSHA256: String(repeating: "0", count: 64), capturedAt: Date())
            ])
    }
}

struct ClusterBenchSummary: Codable {
    var bench: String
    var nodes: Int
    var store: String
    var preload: Int
    var enrolments: Int
    var target_rate_per_second: Double
    var achieved_rate_per_second: Double
    var delay_p50_ms: Double
    var delay_p99_ms: Double
    var delay_max_ms: Double
    var feed_position: Int64
    var target_p99_ms: Double
    var target_met: Bool
    /// With --failover: the hand-promoted pair's and the formation's failover, in that order.
    var failover: [ClusterFailoverBench.Figures]? = nil
}

/// SplitMix64, so every run enrols the same vectors.
struct SeededBenchGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A throwaway PostgreSQL server for benchmarks, run by `scripts/postgres-test-server` from the
/// repository root (the current directory), listening on a Unix socket in its folder only.
enum BenchPostgres {
    static let superuser = "biomatch"
    static let script = "scripts/postgres-test-server"

    /// Starts the server in `folder` (stopped by the script's watcher if this process dies) and
    /// returns its socket path.
    static func start(in folder: URL) throws -> String {
        let settings = try run([script, "start", folder.path, "--owner-pid", "\(getpid())"])
        guard let socket = settings["PGSOCKET"] else { throw CommandFailure("\(script) printed no PGSOCKET") }
        return socket
    }

    static func stop(_ folder: URL) {
        _ = try? run([script, "stop", folder.path])
    }

    /// Runs `bash command…` with its output in a file (the server outlives the script, so a
    /// pipe would never close) and parses its KEY=VALUE lines.
    static func run(_ command: [String], environment: [String: String] = [:]) throws -> [String: String] {
        let output = FileManager.default.temporaryDirectory.appending(path: "biomatch-bench-pg-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let arguments = (["/bin/bash"] + command).map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        let variables = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { variables.forEach { free($0) } }
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, arguments, variables)
        guard spawned == 0 else { throw CommandFailure("cannot run \(script): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw CommandFailure("waiting for \(script) failed") }
        }
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw CommandFailure("\(command.joined(separator: " ")) failed (wait status \(status)); run it from the repository root")
        }
        var settings: [String: String] = [:]
        for line in try String(contentsOf: output, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { settings[String(parts[0])] = String(parts[1]) }
        }
        return settings
    }
}
