import FaceEngine
import Foundation
import Gallery
import Identification

/// The failover half of `biomatch bench cluster`: a steady enrolment load on a store with two
/// PostgreSQL hosts, the primary killed with SIGKILL, and the time until an enrolment is
/// acknowledged again. Run twice: on a hand-built pair promoted with `pg_ctl promote`
/// (scripts/postgres-test-pair), and on a pg_auto_failover formation whose monitor promotes the
/// standby itself (scripts/cluster up --formation-only, its timeouts lowered to seconds).
enum ClusterFailoverBench {
    /// One failover, measured.
    struct Figures: Codable {
        /// `hand-promoted pair` or `pg_auto_failover formation`.
        var setup: String
        /// From the kill to the first acknowledged enrolment sent after it.
        var kill_to_first_ack_ms: Double
        /// From `pg_ctl promote` returning to that enrolment (the hand-built pair only).
        var promote_to_first_ack_ms: Double?
        /// Enrolments refused or failed between the two.
        var failed_attempts: Int
        /// Enrolments acknowledged before the kill.
        var acknowledged_before: Int
    }

    static let gallery = "failover-bench"
    /// Enrolments per second while measuring: one every 20 ms, so the first one after the gap is
    /// sent within 20 ms of the store becoming writable.
    static let rate = 50.0

    /// The hand-built pair: SIGKILL of the primary, then `pg_ctl promote -w` of the standby at once.
    static func handPromoted(engine: FaceEngine) async throws -> Figures {
        let folder = URL(filePath: "/tmp/biomatch-bench-pair-\(getpid())")
        let settings = try BenchPostgres.run(
            ["scripts/postgres-test-pair", "start", folder.path, "--owner-pid", "\(getpid())"])
        defer { _ = try? BenchPostgres.run(["scripts/postgres-test-pair", "stop", folder.path]) }
        guard let url = settings["STORE_URL"] else { throw CommandFailure("postgres-test-pair printed no STORE_URL") }
        return try await measure(setup: "hand-promoted pair", storeURL: url, engine: engine) {
            _ = try BenchPostgres.run(["scripts/postgres-test-pair", "kill-primary", folder.path])
            _ = try BenchPostgres.run(["scripts/postgres-test-pair", "promote", folder.path])
            return ContinuousClock.now
        }
    }

    /// The formation: SIGKILL of the primary node's whole process tree; the monitor does the rest.
    static func formation(engine: FaceEngine) async throws -> Figures {
        let base = try freePortRange(count: 6)
        let environment = [
            "BIOMATCH_CLUSTER_DIR": "/tmp/biomatch-bench-formation-\(getpid())",
            "BIOMATCH_CLUSTER_PG_PORT": "\(base)", "BIOMATCH_CLUSTER_PORT": "\(base + 3)",
        ]
        benchLog("creating a pg_auto_failover formation on ports \(base)-\(base + 2) (scripts/cluster up --formation-only)")
        defer { _ = try? BenchPostgres.run(["scripts/cluster", "down", "--purge"], environment: environment) }
        let settings = try BenchPostgres.run(["scripts/cluster", "up", "--formation-only"], environment: environment)
        guard let url = settings["STORE_URL"] else { throw CommandFailure("scripts/cluster printed no STORE_URL") }
        return try await measure(setup: "pg_auto_failover formation", storeURL: url, engine: engine) {
            _ = try BenchPostgres.run(["scripts/cluster", "kill-primary"], environment: environment)
            return nil
        }
    }

    /// Enrols at `rate` until the store has been written after `kill` (at most 120 s after it).
    /// `kill` returns when the promotion it did finished, or nil when something else promotes.
    private static func measure(
        setup: String, storeURL: String, engine: FaceEngine, kill: () async throws -> ContinuousClock.Instant?
    ) async throws -> Figures {
        let opened = try await GalleryStoreLocation(parsing: storeURL).open(
            sqliteMigrations: [], postgresMigrations: [], waitForPrimary: .seconds(30))
        defer { Task { await opened.close() } }
        let service = try await GallerySearchService.open(store: opened.store, engine: engine)
        _ = try await service.createGallery(name: gallery, purpose: .other)
        let model = engine.templateModelIdentifier
        var generator = SeededBenchGenerator(seed: 34)
        var number = 0
        func enrolOne() async -> Bool {
            number += 1
            let subject = ClusterBenchCommand.subject("failover-\(number)", model: model, &generator)
            do {
                _ = try await service.enrolBatch(gallery: gallery, subjects: [subject])
                return true
            } catch {
                return false
            }
        }
        // Three seconds of steady load before the kill.
        var acknowledgedBefore = 0
        let warm = ContinuousClock.now
        while ContinuousClock.now - warm < .seconds(3) {
            if await enrolOne() { acknowledgedBefore += 1 }
            try await Task.sleep(for: .seconds(1 / rate))
        }
        let killed = ContinuousClock.now
        benchLog("\(setup): killing the primary after \(acknowledgedBefore) enrolments")
        let promoted = try await kill()
        var failed = 0
        while ContinuousClock.now - killed < .seconds(120) {
            if await enrolOne() {
                let acknowledged = ContinuousClock.now
                return Figures(
                    setup: setup, kill_to_first_ack_ms: (acknowledged - killed).secondsValue * 1000,
                    promote_to_first_ack_ms: promoted.map { (acknowledged - $0).secondsValue * 1000 },
                    failed_attempts: failed, acknowledged_before: acknowledgedBefore)
            }
            failed += 1
            try await Task.sleep(for: .seconds(1 / rate))
        }
        throw CommandFailure("\(setup): no enrolment acknowledged within 120 s of the kill")
    }

    /// The first of `count` consecutive loopback ports nothing listens on now, from 20000 up.
    private static func freePortRange(count: Int) throws -> Int {
        func free(_ port: Int) -> Bool {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var reuse: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
        var base = 20_000
        while base < 60_000 {
            if (base..<(base + count)).allSatisfy(free) { return base }
            base += count + Int.random(in: 1...50)
        }
        throw CommandFailure("no \(count) consecutive free ports on 127.0.0.1")
    }
}
