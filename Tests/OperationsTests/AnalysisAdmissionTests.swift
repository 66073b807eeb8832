import Foundation
import Gallery
import Governance
import Operations
import Review
import Synchronization
import Testing

/// Image analyses are bounded: a slot per core, a short queue in arrival order, and a request
/// beyond both refused at once (503 with Retry-After over HTTP) having done nothing.
@Suite struct AnalysisAdmissionTests {
    /// Waits (bounded) until `condition` holds.
    private func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("the condition never held")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Takes a slot of `admission` and keeps it until the returned continuation yields.
    private func holdSlot(_ admission: AnalysisAdmission) -> (Task<Void, any Error>, AsyncStream<Void>.Continuation) {
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await admission.admit { () async throws(OperationError) in
                for await _ in released { break }
            }
        }
        return (holder, release)
    }

    @Test("a full gate with a full queue refuses at once; queued requests run in arrival order when a slot frees")
    func boundsAndOrder() async throws {
        let admission = AnalysisAdmission(concurrency: 1, queueLimit: 2, retryAfterSeconds: 3)
        let (holder, release) = holdSlot(admission)
        try await eventually { admission.load.running == 1 }
        let order = ArrivalLog()
        let first = Task { try await admission.admit { () async throws(OperationError) in order.append(1) } }
        try await eventually { admission.load.waiting == 1 }
        let second = Task { try await admission.admit { () async throws(OperationError) in order.append(2) } }
        try await eventually { admission.load.waiting == 2 }
        await #expect {
            try await admission.admit { () async throws(OperationError) in Issue.record("a refused request ran") }
        } throws: { error in
            guard case .overloaded(let seconds)? = error as? OperationError else { return false }
            return seconds == 3
        }
        #expect(admission.load.refused == 1)
        release.yield(())
        try await holder.value
        try await first.value
        try await second.value
        #expect(order.values == [1, 2])
        #expect(admission.load.running == 0 && admission.load.waiting == 0)
    }

    @Test("an overloaded detection is refused before any work and leaves no audit entry; it succeeds once a slot frees")
    func overloadedOperationsChangeNothing() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "admission-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try await Support.openStore(.sqlite, folder: folder).store
        let admission = AnalysisAdmission(concurrency: 1, queueLimit: 0)
        let operations = try await MatcherOperations.open(
            store: store, engine: try Support.engine.get(), purposes: PurposePolicy(), reviewPolicy: ReviewPolicy(),
            cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: CropVault.generateKeyText()]),
            admission: admission)
        let caller = Caller.localOperator(name: "test")
        let (holder, release) = holdSlot(admission)
        try await eventually { admission.load.running == 1 }
        let before = try await operations.auditLog.entries(limit: 1_000).count
        await #expect {
            try await operations.detect(imageBytes: try Support.photo("obama.jpg"), by: caller)
        } throws: { error in
            guard case .overloaded? = error as? OperationError else { return false }
            return true
        }
        #expect(try await operations.auditLog.entries(limit: 1_000).count == before)
        release.yield(())
        try await holder.value
        let detected = try await operations.detect(imageBytes: try Support.photo("obama.jpg"), by: caller)
        #expect(detected.faces.count == 1)
        #expect(try await operations.auditLog.entries(limit: 1_000).count == before + 1)
    }
}

/// The order in which admitted requests ran.
private final class ArrivalLog: Sendable {
    private let entries = Mutex<[Int]>([])
    func append(_ value: Int) { entries.withLock { $0.append(value) } }
    var values: [Int] { entries.withLock { $0 } }
}
