import Foundation
import Gallery
import Logging
import Operations
import ServiceLifecycle
import Synchronization

/// Runs engine templating jobs on this node in the background: a job started through the API at
/// once, and any unfinished job found in the store (a node that ran it died, or the server
/// restarted) every time ``resumeUnfinished()`` is called. A job runs on one node at a time
/// under its lease (``MatcherOperations/runEngineJob(_:holder:batchSize:leaseDuration:progress:)``);
/// a job another node holds is left to it and tried again at the next scan.
public final class EngineJobRunner: Sendable {
    let operations: MatcherOperations
    /// This node's name as a lease holder.
    let holder: String
    let leaseDuration: Duration
    let batchSize: Int
    let logger: Logger
    private let running = Mutex<[String: Task<Void, Never>]>([:])

    /// A runner for `operations`' jobs, holding their leases as `holder`.
    public init(
        operations: MatcherOperations, holder: String = RetentionSweeperService.LeaseSettings.processHolder(),
        leaseDuration: Duration = .seconds(30), batchSize: Int = 16, logger: Logger
    ) {
        self.operations = operations
        self.holder = holder
        self.leaseDuration = leaseDuration
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Starts the job on this node unless it already runs here.
    public func start(_ job: String) {
        running.withLock { running in
            guard running[job] == nil else { return }
            // Detached: a job outlives the request that started it and must not inherit its
            // graceful-shutdown or cancellation.
            running[job] = Task.detached { [self] in
                await self.run(job)
                _ = self.running.withLock { $0.removeValue(forKey: job) }
            }
        }
    }

    /// Starts every unfinished job of the store not running here.
    public func resumeUnfinished() async {
        do {
            for job in try await operations.unfinishedEngineJobs() { start(job.id) }
        } catch {
            logger.warning("unfinished engine jobs could not be read", metadata: ["error": "\(error)"])
        }
    }

    /// The jobs running on this node.
    public var runningJobs: [String] { running.withLock { $0.keys.sorted() } }

    /// Stops the jobs running here between batches (they stay resumable) and waits for them.
    public func stopAll() async {
        let tasks = running.withLock { Array($0.values) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    private func run(_ job: String) async {
        do {
            let finished = try await operations.runEngineJob(
                job, holder: holder, batchSize: batchSize, leaseDuration: leaseDuration)
            logger.info(
                "engine job \(finished.state.rawValue)",
                metadata: [
                    "job": "\(job)", "gallery": "\(finished.gallery)", "engine": "\(finished.engine)",
                    "subjects": "\(finished.subjectsDone)", "templates": "\(finished.templatesMade)",
                    "subjectsWithoutImages": "\(finished.subjectsWithoutImages)",
                ])
        } catch {
            if case .jobHeldElsewhere = error { return }
            logger.error("engine job stopped; it resumes at the next scan", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }
}

/// Resumes unfinished engine jobs at start-up and then every `interval` (taking over those whose
/// node died, once their lease expires), and stops this node's jobs on graceful shutdown.
public struct EngineJobService: Service {
    let runner: EngineJobRunner
    let interval: Duration

    /// A service driving `runner`.
    public init(runner: EngineJobRunner, interval: Duration = .seconds(30)) {
        self.runner = runner
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await runner.resumeUnfinished()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        await runner.stopAll()
    }
}
