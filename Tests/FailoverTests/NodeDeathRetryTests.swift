import Foundation
import HTTPTypes
import Testing

/// A matcher node dies with requests in flight; its clients retry each unanswered request, with
/// its Idempotency-Key, through the other node (what a load balancer in front of the cluster does).
@Suite("Retries across a node's death", .serialized)
struct NodeDeathRetryTests {
    /// Each reference is sent with one key until some node acknowledges it: every reference ends
    /// acknowledged, none twice, none refused as a duplicate (a retry of a request whose commit
    /// the dead node never reported is replayed, not enrolled again), nothing half there.
    @Test func retriesWithTheirKeysThroughTheOtherNodeMakeOneSubjectEach() async throws {
        try await withCluster(synchronous: true) { cluster in
            let (doomed, survivor) = (cluster.nodes[0], cluster.nodes[1])
            let record = LoadRecord()
            let clients = Task {
                await withTaskGroup(of: Void.self) { group in
                    for number in 0..<3 {
                        group.addTask {
                            await Self.client(
                                number: number, first: doomed, fallback: survivor, photos: cluster.photos,
                                adminKey: cluster.adminKey, record: record)
                        }
                    }
                }
            }
            try await Self.waitFor(record, acknowledgements: 9)
            kill(doomed.process.pid, SIGKILL)
            _ = await doomed.process.waitForExit()
            let afterKill = await record.acknowledgements
            // Every client goes on through the survivor for a while.
            try await Self.waitFor(record, acknowledgements: afterKill + 6)
            await record.stop()
            await clients.value

            let attempts = await record.attempts
            let died = attempts.filter { if case .connectionFailed = $0.outcome { true } else { false } }
            let refused = attempts.filter {
                if case .answered(let status, _) = $0.outcome { status != 503 } else { false }
            }
            let replayed = attempts.filter { if case .acknowledged(_, true) = $0.outcome { true } else { false } }
            let unresolved = await record.unresolved
            #expect(!died.isEmpty, "the kill caught no request in flight, so nothing was retried")
            #expect(refused.isEmpty, "refusals (a duplicate reference means a retry enrolled again): \(refused.prefix(5))")
            #expect(unresolved.isEmpty, "references never acknowledged: \(unresolved.sorted())")
            let check = try await LossCheck.check(
                acknowledged: await record.acknowledgedReferences,
                attempted: Set(attempts.map(\.reference)).union(cluster.warmUpReferences),
                pair: cluster.pair, port: cluster.pair.primaryPort, scratch: cluster.folder)
            #expect(check.isClean, "\(check)")
            print(
                "node death: \(await record.acknowledgements) references acknowledged, \(died.count) requests died with the node, \(replayed.count) retries answered from a stored outcome"
            )
        }
    }

    /// One client: a new reference and key after each acknowledgement, until the load stops; a
    /// request is retried (same key) until acknowledged or refused, for at most 60 s, through
    /// `fallback` once its node's connection died, else through the same node.
    private static func client(
        number: Int, first: ServeNode, fallback: ServeNode, photos: [[UInt8]], adminKey: String, record: LoadRecord
    ) async {
        var node = first
        var index = 0
        while await !record.stopped {
            let reference = "retry-c\(number)-\(index)"
            let key = UUID().uuidString
            let photo = photos[(number + index) % photos.count]
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                let started = ContinuousClock.now
                let outcome = await EnrolmentLoad.enrol(
                    reference: reference, key: key, photo: photo, through: node, adminKey: adminKey)
                let attempt = Attempt(node: node.name, reference: reference, started: started, ended: .now, outcome: outcome)
                await record.add(attempt)
                if attempt.isAcknowledged { break }
                if case .answered(let status, _) = outcome, status != 503 { break }
                if case .connectionFailed = outcome { node = fallback }
                guard ContinuousClock.now < deadline else {
                    await record.giveUp(reference)
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            index += 1
        }
    }

    private static func waitFor(_ record: LoadRecord, acknowledgements: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while await record.acknowledgements < acknowledgements {
            guard ContinuousClock.now < deadline else {
                Issue.record("only \(await record.acknowledgements) acknowledgements in 120 s")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
