import Foundation
import Gallery
import Logging
import Operations
import ServiceLifecycle

/// Erases subjects whose retention has ended, at start-up and then every `interval`, until the
/// service group shuts down, on one node of a cluster at a time. Each erasure removes the
/// subject's rows and index entries and writes its `retentionErasure` audit entry in the same
/// transaction (see ``MatcherOperations/sweepExpiredSubjects(asOf:batchSize:stopBy:)``). The same
/// sweep deletes expired idempotency outcomes and change-feed entries older than `feedRetention`.
///
/// The sweep runs only while this node holds the store's ``WorkLease`` named
/// ``LeaseSettings/name``: every node claims it every third of its duration, the holder renews
/// it so, and when the holder dies its lease expires and the next claim by another node takes
/// it over. A lease in the store rather than a PostgreSQL advisory lock: it lives in a
/// replicated table, so it survives a failover (a session lock would vanish with the old
/// primary and could be held twice meanwhile), needs no connection held open for it, and works
/// the same on SQLite. A graceful shutdown releases the lease at once.
public struct RetentionSweeperService: Service {
    /// The lease the sweep runs under.
    public struct LeaseSettings: Sendable {
        /// The lease's name in the store.
        public var name: String
        /// This node's name as a holder; unique per running process.
        public var holder: String
        /// How long a claim lasts; a dead holder's sweep is taken over within about 4/3 of this.
        /// Keep it longer than one sweep takes.
        public var duration: Duration

        /// The default name of the retention sweep's lease.
        public static let defaultName = "retention-sweeper"

        /// Settings; the holder defaults to host name, process id and a random suffix.
        public init(name: String = Self.defaultName, holder: String = Self.processHolder(), duration: Duration = .seconds(60)) {
            self.name = name
            self.holder = holder
            self.duration = duration
        }

        /// `host:pid:random`, unique for this process.
        public static func processHolder() -> String {
            let info = ProcessInfo.processInfo
            return "\(info.hostName):\(info.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
        }
    }

    let operations: MatcherOperations
    let interval: Duration
    let lease: LeaseSettings
    /// How long change-feed entries are kept (the same sweep deletes older ones, and expired
    /// idempotency outcomes): a node whose indexes lag further rebuilds them from the store.
    let feedRetention: Duration
    let logger: Logger
    let onSweep: (@Sendable ([SubjectErasure]) -> Void)?

    /// A sweeper over `operations`, running every `interval` while it holds `lease`;
    /// `onSweep` (metrics, tests) is told of each sweep this node made.
    public init(
        operations: MatcherOperations, interval: Duration, lease: LeaseSettings = LeaseSettings(),
        feedRetention: Duration = .seconds(7 * 24 * 3_600), logger: Logger,
        onSweep: (@Sendable ([SubjectErasure]) -> Void)? = nil
    ) {
        self.operations = operations
        self.interval = interval
        self.feedRetention = feedRetention
        self.lease = lease
        self.logger = logger
        self.onSweep = onSweep
    }

    public func run() async throws {
        let clock = ContinuousClock()
        let renewal = lease.duration / 3
        var nextSweep = clock.now
        var heldUntil: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let claimStarted = clock.now
            do {
                let current = try await operations.store.claimLease(lease.name, holder: lease.holder, duration: lease.duration)
                let holds = current.holder == lease.holder
                if holds != (heldUntil != nil) {
                    logger.info(
                        holds ? "retention sweep lease taken" : "retention sweep lease held elsewhere",
                        metadata: ["lease.name": "\(lease.name)", "lease.holder": "\(current.holder)"])
                }
                // Reckoned from before the claim was sent, so this node never believes it holds
                // the lease longer than the store does.
                heldUntil = holds ? claimStarted + lease.duration : nil
            } catch {
                // Not known to be renewed: stop sweeping until a claim succeeds.
                heldUntil = nil
                logger.warning("retention sweep lease could not be claimed", metadata: ["error": "\(error)"])
            }
            if let heldUntil, clock.now >= nextSweep, clock.now < heldUntil {
                var unfinished = false
                do {
                    // Batches stop at the next renewal, so a long sweep never outlives the lease.
                    let now = Date()
                    let erased = try await operations.sweepExpiredSubjects(asOf: now, stopBy: claimStarted + renewal)
                    if !erased.isEmpty {
                        logger.info("retention sweep erased subjects", metadata: ["retention.erased": "\(erased.count)"])
                    }
                    onSweep?(erased)
                    unfinished = clock.now >= claimStarted + renewal ? try await operations.hasExpiredSubjects(asOf: now) : false
                    if !unfinished {
                        let pruned = try await operations.idempotency.pruneExpired(now: now)
                        if pruned > 0 {
                            logger.info("expired idempotency outcomes deleted", metadata: ["idempotency.pruned": "\(pruned)"])
                        }
                        let cutoff = now.addingTimeInterval(-Double(feedRetention.components.seconds))
                        let entries = try await operations.pruneChangeFeed(committedAtOrBefore: cutoff)
                        if entries > 0 {
                            logger.info("old change-feed entries deleted", metadata: ["feed.pruned": "\(entries)"])
                        }
                    }
                } catch {
                    // A failed sweep is retried at the next interval; nothing was half-erased.
                    logger.error("retention sweep failed", metadata: ["error": "\(error)"])
                }
                // An unfinished sweep goes on right after the lease is renewed.
                nextSweep = unfinished ? clock.now : clock.now + interval
            }
            let pause = heldUntil == nil ? renewal : min(renewal, max(.zero, clock.now.duration(to: nextSweep)))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
        if heldUntil != nil && Task.isShuttingDownGracefully {
            do { try await operations.store.releaseLease(lease.name, holder: lease.holder) } catch {
                logger.warning("retention sweep lease not released; it will expire", metadata: ["error": "\(error)"])
            }
        }
    }
}
