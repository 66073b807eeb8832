import Foundation
import Logging
import Operations
import ServiceLifecycle
import Transparency

/// Signs a checkpoint of the audit log's Merkle tree every `entries` new entries or every
/// `interval` when anything was added, and once more at shutdown (after the HTTP server has
/// stopped, so it covers every acknowledged request).
///
/// Several nodes on one store may all run it: a checkpoint is only kept when it is larger than
/// the newest one, whoever made that.
public struct AuditCheckpointService: Service {
    let operations: MatcherOperations
    let signer: NoteSigner
    let entries: Int64
    let interval: Duration
    let logger: Logger

    /// A service signing with `signer`; the tree size is looked at every `poll`.
    public init(
        operations: MatcherOperations, signer: NoteSigner, entries: Int64 = 1_000, interval: Duration = .seconds(60),
        logger: Logger
    ) {
        self.operations = operations
        self.signer = signer
        self.entries = max(1, entries)
        self.interval = interval
        self.logger = logger
    }

    /// How often the tree size is read: cheap (one indexed row), and bounds how far past
    /// `entries` a checkpoint can come.
    static let poll = Duration.seconds(1)

    public func run() async throws {
        let clock = ContinuousClock()
        var lastSize = await checkpoint(reason: "start")
        var lastTime = clock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.poll) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            guard let size = try? await operations.auditTreeSize() else { continue }
            if size - lastSize >= entries || (size > lastSize && clock.now - lastTime >= interval) {
                lastSize = await checkpoint(reason: size - lastSize >= entries ? "entries" : "interval")
                lastTime = clock.now
            }
        }
        _ = await checkpoint(reason: "shutdown")
    }

    /// Makes a checkpoint if the tree grew; returns the size the newest checkpoint covers.
    private func checkpoint(reason: String) async -> Int64 {
        do {
            guard let stored = try await operations.makeAuditCheckpoint(signer: signer) else { return 0 }
            logger.debug(
                "audit checkpoint",
                metadata: [
                    "checkpoint.size": "\(stored.checkpoint.size)", "checkpoint.root": "\(stored.checkpoint.rootHash.hexEncoded)",
                    "checkpoint.reason": "\(reason)",
                ])
            return stored.checkpoint.size
        } catch {
            logger.error("audit checkpoint failed: \(error)")
            return (try? await operations.auditTreeSize()) ?? 0
        }
    }
}
