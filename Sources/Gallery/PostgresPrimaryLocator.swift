import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Sends every transaction of a ``PostgresGalleryStore`` to the primary of a group of
/// PostgreSQL hosts, and finds the primary again when it is lost.
///
/// PostgresNIO connects to one host, so the locator keeps one `PostgresClient` per host it has
/// used. The primary is the first host, in the order given, that answers
/// `SELECT pg_is_in_recovery()` with false (each asked on a connection of its own, so a dead
/// host's pool never delays the answer). The search runs on first use and again whenever a
/// transaction finds the primary gone: a dropped connection, SQLSTATE 25006 (the host became a
/// standby), 57P01-57P03 (shut down, crashed, starting up) or class 08, or no connection within
/// ``Settings/leaseTimeout``. Searches that find no primary are spaced by a capped exponential
/// backoff; meanwhile every operation throws ``GalleryError/unavailable(retryAfterSeconds:reason:)``
/// at once, without waiting.
///
/// A transaction that certainly did not commit (it failed before `COMMIT` was sent) is tried
/// once more on the primary found next. A transaction whose connection failed *during* `COMMIT`
/// may have committed (a synchronous standby's wait is not even ended by `statement_timeout`),
/// so it is reported as ``GalleryError/outcomeUnknown(operation:retryAfterSeconds:)``, never as
/// failed; nothing here ever cancels a query, so no commit wait is cut short by this side.
public final class PostgresPrimaryLocator: Sendable {
    /// Timings of the search for the primary.
    public struct Settings: Sendable, Equatable {
        /// How long a transaction may wait for a connection to the primary before the primary is
        /// taken as lost (a dropped connection is noticed at once; this bounds the wait when
        /// nothing is in flight to notice). Only the wait for a connection is bounded: a running
        /// transaction, and above all its commit, is never interrupted. Not applied to a
        /// caller's client (``init(client:settings:logger:)``).
        public var leaseTimeout: Duration
        /// The pause after the first search that found no primary; it doubles with each
        /// further failed search, up to ``maximumBackoff``.
        public var initialBackoff: Duration
        /// The longest pause between searches.
        public var maximumBackoff: Duration

        /// Settings; the defaults suit a pg_auto_failover pair on one site.
        public init(
            leaseTimeout: Duration = .seconds(5), initialBackoff: Duration = .milliseconds(100),
            maximumBackoff: Duration = .seconds(2)
        ) {
            self.leaseTimeout = leaseTimeout
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    /// One host's pool and the task running it.
    private struct HostClient: Sendable {
        let client: PostgresClient
        let runner: Task<Void, Never>?
    }

    private enum Hosts: Sendable {
        /// Hosts the locator connects to itself.
        case location(PostgresLocation)
        /// One client the caller owns and runs; taken to be the primary.
        case external(PostgresClient)
    }

    private struct State: Sendable {
        /// The client per endpoint index, created when that host is first chosen.
        var clients: [Int: HostClient] = [:]
        /// Clients replaced after their host was lost; shut down by ``close()`` (not before:
        /// one may still carry a commit waiting for its standby).
        var retired: [HostClient] = []
        /// The primary's endpoint index, when known.
        var primary: Int?
        /// Counts changes of `primary`, so a failure reported against an old primary is ignored.
        var generation: UInt64 = 0
        /// Hosts whose client saw the host lost; they get a fresh pool when chosen again.
        var stale: Set<Int> = []
        /// Searches in a row that found no primary.
        var failedSearches = 0
        /// No new search before this instant.
        var notBefore: ContinuousClock.Instant = .now
        /// The search under way, which every caller waits for.
        var search: Task<Void, Never>?
        var lastProblem = "no primary has been looked for yet"
        var closed = false
    }

    private let hosts: Hosts
    private let settings: Settings
    private let logger: Logger
    private let state = Mutex(State())

    /// A locator over the hosts of `location`; call ``close()`` when done.
    public init(location: PostgresLocation, settings: Settings = Settings(), logger: Logger) {
        hosts = .location(location)
        self.settings = settings
        self.logger = logger
    }

    /// A locator over one client that the caller runs and shuts down; it is always the primary.
    public init(client: PostgresClient, settings: Settings = Settings(), logger: Logger) {
        hosts = .external(client)
        self.settings = settings
        self.logger = logger
        state.withLock { state in
            state.clients[0] = HostClient(client: client, runner: nil)
            state.primary = 0
        }
    }

    /// The primary's endpoint, when it is known (nil while it is being looked for, and for a
    /// locator over a caller's client).
    public var currentPrimary: PostgresLocation.Endpoint? {
        guard case .location(let location) = hosts else { return nil }
        return state.withLock { $0.primary }.map { location.endpoints[$0] }
    }

    /// Shuts down every client this locator started. Later operations throw
    /// ``GalleryError/unavailable(retryAfterSeconds:reason:)``.
    public func close() async {
        let runners = state.withLock { state -> [Task<Void, Never>] in
            state.closed = true
            state.primary = nil
            let all = Array(state.clients.values) + state.retired
            state.clients = [:]
            state.retired = []
            return all.compactMap(\.runner)
        }
        for runner in runners { runner.cancel() }
        for runner in runners { await runner.value }
    }

    // MARK: - Transactions

    /// Runs `body` in one transaction on the primary (see the type's documentation for what is
    /// retried and what is reported). `readOnly` transactions never have an unknown outcome: a
    /// failed commit of one is retried like any failure before the commit.
    func transaction<T: Sendable>(
        _ operation: String, readOnly: Bool, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(GalleryError) -> T {
        var attempts = 0
        while true {
            attempts += 1
            let (client, generation) = try await primaryClient()
            let failure: any Error
            do {
                if case .external = hosts {
                    // One host the caller runs: no other to turn to, so the pool's own wait stands.
                    return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
                }
                return try await guardedTransaction(operation, client: client, generation: generation, logger: logger, body)
            } catch {
                failure = error
            }
            switch Self.classify(failure, operation: operation, readOnly: readOnly) {
            case .refused(let error):
                throw error
            case .primaryLost(let reason):
                markLost(generation: generation, reason: reason)
                if attempts < 2 { continue }
                throw GalleryError.unavailable(retryAfterSeconds: retryAfterSeconds(), reason: reason)
            case .outcomeUnknown(let reason, let primaryLost):
                if primaryLost { markLost(generation: generation, reason: reason) }
                logger.warning(
                    "a commit's outcome is unknown", metadata: ["store.operation": "\(operation)", "error": "\(reason)"])
                throw GalleryError.outcomeUnknown(operation: operation, retryAfterSeconds: retryAfterSeconds())
            }
        }
    }

    private struct LeaseTimedOut: Error, CustomStringConvertible {
        var description: String { "no connection to the primary became free in time, or the primary was lost meanwhile" }
    }

    /// A transaction's connection closed and its query was never failed: the caller is answered
    /// without it (see ``leased(_:generation:cancelAdmittedWork:warnAfter:_:)``).
    struct ConnectionLostInTransaction: Error, CustomStringConvertible {
        var description: String { "the connection closed during the transaction, which never ended" }
    }

    /// The connection a transaction was admitted on, for its watchdog.
    private final class AdmittedConnection: Sendable {
        let connection = Mutex<PostgresConnection?>(nil)
    }

    /// How long a transaction whose connection closed may still end by itself.
    static let closedConnectionGrace: Duration = .seconds(2)

    private enum GateState { case waiting, entered, expired }

    /// Which of the transaction and its watchdog moved first.
    private final class Gate: Sendable {
        private let state = Mutex(GateState.waiting)

        /// Moves from waiting to `next`; false when the other side moved first.
        func move(to next: GateState) -> Bool {
            state.withLock { state in
                guard state == .waiting else { return false }
                state = next
                return true
            }
        }

        var current: GateState { state.withLock { $0 } }
    }

    /// Resumes a continuation once, from whichever side gets there first.
    private final class Resumption<T: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<T, any Error>?>

        init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

        func resume(with result: Result<T, any Error>) {
            continuation.withLock { $0.take() }?.resume(with: result)
        }

        var isDone: Bool { continuation.withLock { $0 == nil } }
    }

    /// Runs `work` on a connection leased from the primary's pool while a watchdog bounds only
    /// the wait for that connection (``Settings/leaseTimeout``, or less once another caller found
    /// the primary lost). `work` must call its `admit` argument first thing on the connection:
    /// after the watchdog gave up, `admit` throws, so nothing runs on a connection leased too late.
    ///
    /// The caller is answered as soon as the watchdog gives up, without waiting for the lease
    /// request to end: a pool whose host died may never fail a request it holds, and a caller
    /// must not hang on it. Once `work` was admitted it is never interrupted by this side (a
    /// commit waiting for its standby is left to finish) unless `cancelAdmittedWork` is set and
    /// the caller is cancelled (a LISTEN that is no longer wanted).
    private func leased<T: Sendable>(
        _ operation: String, generation: UInt64, cancelAdmittedWork: Bool, warnAfter: Duration? = .seconds(10),
        _ work: @escaping @Sendable (_ admit: @escaping @Sendable (PostgresConnection) throws -> Void) async throws -> T
    ) async throws -> T {
        let gate = Gate()
        let admittedOn = AdmittedConnection()
        let leaseTimeout = settings.leaseTimeout
        let started = Mutex<(task: Task<Void, Never>, resumption: Resumption<T>)?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let resumption = Resumption(continuation)
                // Cancelled before it began: no lease is asked for.
                if gate.current == .expired { return resumption.resume(with: .failure(CancellationError())) }
                let running = Task {
                    do {
                        let value = try await work { connection in
                            guard gate.move(to: .entered) else { throw LeaseTimedOut() }
                            admittedOn.connection.withLock { $0 = connection }
                        }
                        resumption.resume(with: .success(value))
                    } catch {
                        resumption.resume(with: .failure(gate.current == .expired ? LeaseTimedOut() : error))
                    }
                }
                started.withLock { $0 = (running, resumption) }
                let logger = self.logger
                let started = ContinuousClock.now
                Task { [weak self] in
                    let deadline = started + leaseTimeout
                    while ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(25))
                        if gate.current != .waiting { break }
                        // The primary was found lost by another transaction: stop waiting for it.
                        if let self, self.state.withLock({ $0.generation != generation || $0.primary == nil }) { break }
                    }
                    if gate.current == .entered {
                        // Admitted: never interrupted while its connection lives. A connection
                        // that closed under it leaves nothing to wait for, but PostgresNIO does
                        // not always fail the query in flight then (seen when the primary is
                        // killed mid-commit): after a grace period the caller is answered
                        // itself, with an outcome that is unknown (it may have committed).
                        guard let warnAfter else { return }
                        var closedSince: ContinuousClock.Instant?
                        var warned = false
                        while !resumption.isDone {
                            try? await Task.sleep(for: .milliseconds(100))
                            if admittedOn.connection.withLock({ $0?.isClosed == true }) {
                                let since = closedSince ?? .now
                                closedSince = since
                                if ContinuousClock.now - since >= Self.closedConnectionGrace {
                                    resumption.resume(with: .failure(ConnectionLostInTransaction()))
                                    return
                                }
                            }
                            if !warned && ContinuousClock.now >= started + warnAfter {
                                warned = true
                                logger.warning(
                                    "a PostgreSQL transaction is still running",
                                    metadata: ["store.operation": "\(operation)", "after": "\(warnAfter)"])
                            }
                        }
                        return
                    }
                    guard gate.move(to: .expired) else { return }
                    // Cancels only the wait for a connection: nothing ran on one.
                    running.cancel()
                    resumption.resume(with: .failure(LeaseTimedOut()))
                }
            }
        } onCancel: {
            if gate.move(to: .expired) {
                // Still waiting for a connection: answer now, whatever the pool does with the request.
                let current = started.withLock { $0 }
                current?.task.cancel()
                current?.resumption.resume(with: .failure(CancellationError()))
            } else if cancelAdmittedWork {
                started.withLock { $0 }?.task.cancel()
            }
        }
    }

    /// Runs the transaction while a watchdog bounds only the wait for a connection: once
    /// `body` has started, nothing interrupts it.
    private func guardedTransaction<T: Sendable>(
        _ operation: String, client: PostgresClient, generation: UInt64, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await leased(operation, generation: generation, cancelAdmittedWork: false) { admit in
            try await client.withTransaction(logger: logger) { connection in
                // The watchdog gave up first: do nothing, so the transaction rolls back.
                try admit(connection)
                return try await body(connection)
            }
        }
    }

    /// Runs `body` on a connection of the primary's pool, held for as long as it runs (a LISTEN,
    /// which must not be handed to queries). The wait for the connection is bounded like a
    /// transaction's; cancelling the caller cancels `body`. A failure that means the primary is
    /// gone makes the next caller look for it again, so a follower listens on the new primary
    /// after a failover.
    func withPrimaryConnection(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void
    ) async throws(GalleryError) {
        let (client, generation) = try await primaryClient()
        do {
            if case .external = hosts {
                try await client.withConnection { connection in try await body(connection) }
                return
            }
            try await leased(operation, generation: generation, cancelAdmittedWork: true, warnAfter: nil) { admit in
                try await client.withConnection { connection in
                    try admit(connection)
                    try await body(connection)
                }
            }
        } catch {
            if error is LeaseTimedOut {
                markLost(generation: generation, reason: String(describing: error))
            } else if let reason = Self.lossReason(error) {
                markLost(generation: generation, reason: reason)
            }
            throw .storageFailure(operation: operation, underlying: error)
        }
    }

    // MARK: - Finding the primary

    /// The primary's client, finding the primary first when it is not known.
    private func primaryClient() async throws(GalleryError) -> (PostgresClient, UInt64) {
        while true {
            enum Step { case ready(PostgresClient, UInt64), wait(Task<Void, Never>), unavailable(Int, String) }
            let step = state.withLock { state -> Step in
                if state.closed { return .unavailable(1, "the store is closed") }
                if let primary = state.primary, let host = state.clients[primary] {
                    return .ready(host.client, state.generation)
                }
                if let search = state.search { return .wait(search) }
                let now = ContinuousClock.now
                if now < state.notBefore {
                    return .unavailable(Self.seconds(until: state.notBefore, from: now), state.lastProblem)
                }
                let search = Task { await self.search() }
                state.search = search
                return .wait(search)
            }
            switch step {
            case .ready(let client, let generation): return (client, generation)
            case .unavailable(let seconds, let reason): throw .unavailable(retryAfterSeconds: seconds, reason: reason)
            case .wait(let search):
                await search.value
                // A search that found nothing sets a backoff, so the next turn throws.
                let found = state.withLock { $0.primary != nil || $0.closed }
                if !found {
                    let (seconds, reason) = state.withLock {
                        (Self.seconds(until: $0.notBefore, from: .now), $0.lastProblem)
                    }
                    throw .unavailable(retryAfterSeconds: seconds, reason: reason)
                }
            }
        }
    }

    /// Asks every host whether it is in recovery and records the first that is not.
    private func search() async {
        guard case .location(let location) = hosts else {
            // A caller's client is the primary by definition; it comes back as soon as it answers.
            state.withLock { state in
                state.primary = 0
                state.generation += 1
                state.search = nil
            }
            return
        }
        let answers = await probeAll(location)
        state.withLock { state in
            defer { state.search = nil }
            if state.closed { return }
            let primaries = answers.filter { $0.value == .primary }.keys.sorted()
            guard let chosen = primaries.first else {
                state.failedSearches += 1
                let backoff = min(
                    settings.initialBackoff * (1 << min(state.failedSearches - 1, 20)), settings.maximumBackoff)
                state.notBefore = .now + backoff
                let described = location.endpoints.indices.map { index in
                    "\(location.endpoints[index]): \(answers[index]?.description ?? "no answer")"
                }
                state.lastProblem = "no primary among \(described.joined(separator: "; "))"
                logger.warning("no PostgreSQL primary reachable", metadata: ["store.hosts": "\(described)"])
                return
            }
            if primaries.count > 1 {
                logger.warning(
                    "several PostgreSQL hosts claim to be primary; using the first listed",
                    metadata: ["store.primaries": "\(primaries.map { location.endpoints[$0] })"])
            }
            if state.stale.remove(chosen) != nil, let old = state.clients.removeValue(forKey: chosen) {
                state.retired.append(old)
            }
            if state.clients[chosen] == nil {
                let client = PostgresClient(
                    configuration: location.clientConfiguration(for: location.endpoints[chosen]), backgroundLogger: logger)
                // Detached: a task created inside a ServiceLifecycle service (a request, the
                // follower) inherits its graceful shutdown, and PostgresClient.run() ends at a
                // graceful shutdown, which closed the pool before the sweeper released its lease
                // and the snapshots were written. ``close()`` ends the runners.
                state.clients[chosen] = HostClient(client: client, runner: Task.detached { await client.run() })
            }
            state.primary = chosen
            state.generation += 1
            state.failedSearches = 0
            state.notBefore = .now
            logger.info("PostgreSQL primary found", metadata: ["store.primary": "\(location.endpoints[chosen])"])
        }
    }

    private enum ProbeAnswer: Equatable, CustomStringConvertible {
        case primary, standby
        case failed(String)

        var description: String {
            switch self {
            case .primary: "primary"
            case .standby: "in recovery"
            case .failed(let reason): reason
            }
        }
    }

    /// Every host's answer, or none for hosts that did not answer within the connect timeout
    /// plus a second (the probes are not waited for beyond that: a frozen host must not hold
    /// up the search).
    private func probeAll(_ location: PostgresLocation) async -> [Int: ProbeAnswer] {
        let (answers, continuation) = AsyncStream.makeStream(of: (Int, ProbeAnswer).self)
        let logger = self.logger
        for index in location.endpoints.indices {
            Task {
                continuation.yield((index, await Self.probe(location, index, logger: logger)))
            }
        }
        let limit = location.connectTimeout + .seconds(1)
        let timer = Task {
            try? await Task.sleep(for: limit)
            continuation.finish()
        }
        defer { timer.cancel() }
        var collected: [Int: ProbeAnswer] = [:]
        for await (index, answer) in answers {
            collected[index] = answer
            if collected.count == location.endpoints.count { break }
        }
        continuation.finish()
        return collected
    }

    private static func probe(_ location: PostgresLocation, _ index: Int, logger: Logger) async -> ProbeAnswer {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try location.connectionConfiguration(for: location.endpoints[index]), id: index,
                logger: logger)
        } catch {
            return .failed("cannot connect (\(Self.summary(of: error)))")
        }
        defer { Task { try? await connection.close() } }
        do {
            let rows = try await connection.query("SELECT pg_is_in_recovery()", logger: logger)
            var inRecovery: Bool?
            for try await value in rows.decode(Bool.self) { inRecovery = value }
            guard let inRecovery else { return .failed("no answer to pg_is_in_recovery()") }
            return inRecovery ? .standby : .primary
        } catch {
            return .failed(Self.summary(of: error))
        }
    }

    /// Forgets the primary after a failure seen on it (unless a newer primary was found meanwhile).
    private func markLost(generation: UInt64, reason: String) {
        state.withLock { state in
            guard state.generation == generation, let primary = state.primary else { return }
            if case .location = hosts { state.stale.insert(primary) }
            state.primary = nil
            state.lastProblem = "the primary was lost: \(reason)"
        }
        logger.warning("PostgreSQL primary lost; looking for it again", metadata: ["error": "\(reason)"])
    }

    /// The Retry-After a caller is given: the time to the next search, at least one second.
    private func retryAfterSeconds() -> Int {
        state.withLock { Self.seconds(until: $0.notBefore, from: .now) }
    }

    private static func seconds(until instant: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int {
        let remaining = now.duration(to: instant)
        let (seconds, attoseconds) = remaining.components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }

    // MARK: - Classifying failures

    enum Disposition {
        /// The database refused or failed the operation itself; nothing about the primary.
        case refused(GalleryError)
        /// The primary is gone or no longer primary; the transaction did not commit.
        case primaryLost(String)
        /// The connection failed during COMMIT: the change may have been made.
        case outcomeUnknown(String, primaryLost: Bool)
    }

    static func classify(_ error: any Error, operation: String, readOnly: Bool) -> Disposition {
        if error is LeaseTimedOut { return .primaryLost(String(describing: error)) }
        if error is ConnectionLostInTransaction {
            if readOnly { return .primaryLost(String(describing: error)) }
            return .outcomeUnknown(String(describing: error), primaryLost: true)
        }
        if let transaction = error as? PostgresTransactionError {
            if let commit = transaction.commitError {
                let lost = lossReason(commit)
                if readOnly { return .primaryLost(lost ?? summary(of: commit)) }
                return .outcomeUnknown(lost ?? summary(of: commit), primaryLost: lost != nil)
            }
            if let begin = transaction.beginError {
                if let lost = lossReason(begin) { return .primaryLost(lost) }
                return .refused(.storageFailure(operation: operation, underlying: begin))
            }
            if let closure = transaction.closureError { return classify(closure, operation: operation, readOnly: readOnly) }
        }
        if let galleryError = error as? GalleryError {
            switch galleryError {
            case .companionRecordFailed(_, let underlying), .storageFailure(_, let underlying):
                if let lost = lossReason(underlying) { return .primaryLost(lost) }
            default: break
            }
            return .refused(galleryError)
        }
        if let lost = lossReason(error) { return .primaryLost(lost) }
        return .refused(.storageFailure(operation: operation, underlying: error))
    }

    /// Why `error` means the host is gone or is not the primary, or nil when it means neither.
    static func lossReason(_ error: any Error) -> String? {
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection, .poolClosed:
            return summary(of: error)
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return nil }
            if state == "25006" || state.hasPrefix("57P") || state.hasPrefix("08") { return summary(of: error) }
            return nil
        default:
            return nil
        }
    }

    /// A short account of a database error: its SQLSTATE and message when the server sent one.
    static func summary(of error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                return "SQLSTATE \(info[.sqlState] ?? "?"): \(info[.message] ?? "")"
            }
            return "\(error.code)"
        }
        return String(describing: error)
    }
}
