import Foundation
import Logging
import Operations
import ServiceLifecycle

/// Erases subjects whose retention has ended, once at start-up and then every `interval`, until
/// the service group shuts down. Each erasure removes the subject's rows and index entries and
/// writes its `retentionErasure` audit entry in the same transaction (see
/// ``MatcherOperations/sweepExpiredSubjects(asOf:batchSize:)``).
public struct RetentionSweeperService: Service {
    let operations: MatcherOperations
    let interval: Duration
    let logger: Logger

    /// A sweeper over `operations`, running every `interval`.
    public init(operations: MatcherOperations, interval: Duration, logger: Logger) {
        self.operations = operations
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let erased = try await operations.sweepExpiredSubjects(asOf: Date())
                if !erased.isEmpty {
                    logger.info("retention sweep erased subjects", metadata: ["retention.erased": "\(erased.count)"])
                }
            } catch {
                // A failed sweep is retried at the next interval; nothing was half-erased.
                logger.error("retention sweep failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
