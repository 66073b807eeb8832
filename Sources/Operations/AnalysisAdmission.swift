import Foundation
import Synchronization

/// Bounds the image analyses a server runs at once and the requests that may wait for one.
///
/// An analysis (decode, detect, every engine's template) holds a core for tens of milliseconds;
/// more of them than cores only lengthens every one. So at most ``concurrency`` run, at most
/// ``queueLimit`` more wait their turn in arrival order, and a request beyond that is refused at
/// once with ``OperationError/overloaded(retryAfterSeconds:)`` (503 with `Retry-After`) instead of
/// waiting without limit while its body sits in memory.
public final class AnalysisAdmission: Sendable {
    /// Analyses that run at once.
    public let concurrency: Int
    /// Requests that may wait for a free slot.
    public let queueLimit: Int
    /// What a refused request is told to wait.
    public let retryAfterSeconds: Int

    private struct State {
        var running = 0
        // Short (a few per core): an array is enough.
        var waiting: [CheckedContinuation<Bool, Never>] = []
        var refused = 0
    }

    private let state = Mutex(State())

    /// A gate of `concurrency` slots (at least 1) and a queue of `queueLimit` (at least 0).
    public init(concurrency: Int, queueLimit: Int, retryAfterSeconds: Int = 1) {
        self.concurrency = max(concurrency, 1)
        self.queueLimit = max(queueLimit, 0)
        self.retryAfterSeconds = max(retryAfterSeconds, 1)
    }

    /// The default for this machine: one analysis per core, and eight waiting per core.
    public static func forThisMachine() -> AnalysisAdmission {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return AnalysisAdmission(concurrency: cores, queueLimit: 8 * cores)
    }

    /// Analyses running, requests waiting, and requests refused so far.
    public var load: (running: Int, waiting: Int, refused: Int) {
        state.withLock { ($0.running, $0.waiting.count, $0.refused) }
    }

    /// Runs `body` in a slot, waiting for one if the queue has room.
    /// - Throws: ``OperationError/overloaded(retryAfterSeconds:)`` at once when every slot is
    ///   taken and the queue is full; otherwise whatever `body` throws.
    public func admit<T: Sendable>(_ body: () async throws(OperationError) -> T) async throws(OperationError) -> T {
        let admitted = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let decision: Bool? = state.withLock { state in
                if state.running < concurrency {
                    state.running += 1
                    return true
                }
                if state.waiting.count < queueLimit {
                    state.waiting.append(continuation)
                    return nil
                }
                state.refused += 1
                return false
            }
            if let decision { continuation.resume(returning: decision) }
        }
        guard admitted else { throw .overloaded(retryAfterSeconds: retryAfterSeconds) }
        defer { release() }
        return try await body()
    }

    /// Hands the slot to the longest-waiting request, or frees it.
    private func release() {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { state in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.running -= 1
            return nil
        }
        next?.resume(returning: true)
    }
}
