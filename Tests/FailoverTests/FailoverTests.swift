import Foundation
import HTTPTypes
import Testing

/// Two `biomatch serve` processes enrol through the API on a hand-built primary + standby; the
/// primary is killed with SIGKILL mid-load and the standby promoted (FACTS §9).
@Suite("Failover without loss", .serialized)
struct FailoverWithoutLossTests {
    /// Synchronous standby: no acknowledged enrolment is lost or half there, the audit chain is
    /// intact, both nodes serve again within 5 s of the promotion, and every refusal in the gap
    /// was a 503 with Retry-After.
    @Test func synchronousStandbyLosesNothingAcknowledged() async throws {
        try await withCluster(synchronous: true) { cluster in
            let record = LoadRecord()
            let load = Task {
                await EnrolmentLoad.run(
                    nodes: cluster.nodes, clientsPerNode: 2, photos: cluster.photos, adminKey: cluster.adminKey,
                    record: record)
            }
            try await waitFor(record, acknowledgements: 16)

            try await cluster.pair.killPrimary(scratch: cluster.folder)
            try await cluster.pair.promote(scratch: cluster.folder)
            let promoted = ContinuousClock.now

            // Both nodes acknowledge again (or 30 s pass), then a little more load on the new primary.
            let deadline = promoted + .seconds(30)
            while ContinuousClock.now < deadline {
                var served = 0
                for node in cluster.nodes where await record.firstAcknowledgement(of: node.name, after: promoted) != nil {
                    served += 1
                }
                if served == cluster.nodes.count { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(1))
            await record.stop()
            await load.value

            var figures: [String] = []
            for node in cluster.nodes {
                let first = await record.firstAcknowledgement(of: node.name, after: promoted)
                figures.append("\(node.name) serving again \(first.map { "\($0 - promoted)" } ?? "never") after the promotion")
                #expect(first != nil, "\(node.name) acknowledged nothing after the promotion")
                if let first { #expect(first - promoted <= .seconds(5), "\(node.name) served again \(first - promoted) after the promotion") }
            }
            let unexpected = await record.attempts.filter(\.isUnexpected)
            #expect(unexpected.isEmpty, "answers other than 2xx or 503 with Retry-After: \(unexpected.prefix(5))")
            if !unexpected.isEmpty {
                for node in cluster.nodes { Issue.record("\(node.name)'s log: \(node.process.logTail(characters: 12_000))") }
            }

            let attempts = await record.attempts
            let check = try await LossCheck.check(
                acknowledged: await record.acknowledgedReferences,
                attempted: Set(attempts.map(\.reference)).union(cluster.warmUpReferences),
                pair: cluster.pair, port: cluster.pair.standbyPort, scratch: cluster.folder)
            #expect(check.isClean, "\(check)")
            #expect(await record.acknowledgements > 16)
            let refused = attempts.count { if case .answered(503, _) = $0.outcome { true } else { false } }
            print("failover (synchronous): \(await record.acknowledgements) acknowledged, \(refused) answered 503 with Retry-After, \(await record.unresolved.count) unresolved at the end; \(figures.joined(separator: ", "))")

            // A graceful stop after the failover still has its store (the pools found after the
            // failover must not end with the graceful shutdown itself): the snapshot is written.
            await cluster.nodes[0].process.stop()
            let log = cluster.nodes[0].process.logTail(characters: 4_000)
            #expect(log.contains("index snapshot written"), "\(log)")
            #expect(!log.contains("poolShutdown"), "\(log)")

            // A broken chain ends `audit verify` with a non-zero status, which throws here.
            _ = try await ChildProcess.run(
                [ServeNode.binary.path, "audit", "verify", "--store", cluster.pair.storeURL], in: cluster.folder)
        }
    }

    /// The negative control: an asynchronous standby whose WAL sender is paused while the primary
    /// goes on acknowledging. The same check must find the lost acknowledgements.
    @Test func asynchronousStandbyLossIsDetected() async throws {
        try await withCluster(synchronous: false) { cluster in
            let record = LoadRecord()
            let load = Task {
                await EnrolmentLoad.run(
                    nodes: cluster.nodes, clientsPerNode: 2, photos: cluster.photos, adminKey: cluster.adminKey,
                    record: record)
            }
            try await waitFor(record, acknowledgements: 8)
            try await cluster.pair.pauseWALSender(scratch: cluster.folder)
            let paused = await record.acknowledgements
            try await waitFor(record, acknowledgements: paused + 8)
            try await cluster.pair.killPrimary(scratch: cluster.folder)
            try await cluster.pair.promote(scratch: cluster.folder)
            try await Task.sleep(for: .seconds(1))
            await record.stop()
            await load.value

            let attempts = await record.attempts
            // Losing acknowledged changes is this standby's fault; a node that stops answering is not.
            let unexpected = attempts.filter(\.isUnexpected)
            #expect(unexpected.isEmpty, "answers other than 2xx or 503 with Retry-After: \(unexpected.prefix(5))")
            if !unexpected.isEmpty {
                for node in cluster.nodes { Issue.record("\(node.name)'s log: \(node.process.logTail(characters: 12_000))") }
            }
            let check = try await LossCheck.check(
                acknowledged: await record.acknowledgedReferences,
                attempted: Set(attempts.map(\.reference)).union(cluster.warmUpReferences),
                pair: cluster.pair, port: cluster.pair.standbyPort, scratch: cluster.folder)
            #expect(!check.missing.isEmpty, "the check found no lost acknowledgement: \(check)")

            // The nodes had followed changes the promoted standby never received, and its feed
            // reuses their positions: each node must notice and follow the new history, so an
            // enrolment through one node is still found by a search on the other.
            let orl = testPhotos.deletingLastPathComponent().appending(path: "orl/s7")
            let enrolled = try await enrolUntilAcknowledged(
                reference: "after-the-loss", photo: Array(try Data(contentsOf: orl.appending(path: "1.pgm"))),
                through: cluster.nodes[0], adminKey: cluster.adminKey)
            #expect(enrolled, "no enrolment acknowledged after the promotion")
            let probe = Array(try Data(contentsOf: orl.appending(path: "2.pgm")))
            let found = try await searchFinds(
                "after-the-loss", probe: probe, through: cluster.nodes[1], adminKey: cluster.adminKey, within: .seconds(20))
            #expect(found, "node b never found the subject node a enrolled after the lossy failover")
            print("failover (asynchronous, WAL sender paused): \(check.missing.count) of \(await record.acknowledgements) acknowledged enrolments lost")
        }
    }

    /// Waits until the load has at least `acknowledgements` (at most 120 s).
    private func waitFor(_ record: LoadRecord, acknowledgements: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while await record.acknowledgements < acknowledgements {
            guard ContinuousClock.now < deadline else {
                let sample = await record.attempts.suffix(3)
                Issue.record("only \(await record.acknowledgements) acknowledgements in 120 s; last: \(sample)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Enrols `reference` through `node`, retrying with one key for up to 30 s; true once acknowledged.
func enrolUntilAcknowledged(reference: String, photo: [UInt8], through node: ServeNode, adminKey: String) async throws -> Bool {
    let key = UUID().uuidString
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        let outcome = await EnrolmentLoad.enrol(reference: reference, key: key, photo: photo, through: node, adminKey: adminKey)
        if case .acknowledged = outcome { return true }
        try await Task.sleep(for: .milliseconds(200))
    }
    return false
}

/// Searches the load's gallery through `node` until a candidate is `reference` (true) or
/// `within` has passed (false).
func searchFinds(
    _ reference: String, probe: [UInt8], through node: ServeNode, adminKey: String, within limit: Duration
) async throws -> Bool {
    let body = try JSONSerialization.data(withJSONObject: [
        "gallery": EnrolmentLoad.gallery, "image": Data(probe).base64EncodedString(), "purpose": "missing-person",
        "caseReference": "FAILOVER-1", "k": 10,
    ])
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        let reply = try await node.send(
            .post, "/v1/search", key: adminKey, body: Array(body), contentType: "application/json")
        let candidates = (reply.json?["candidates"] as? [[String: Any]]) ?? []
        if candidates.contains(where: { $0["subjectReference"] as? String == reference }) { return true }
        try await Task.sleep(for: .milliseconds(250))
    }
    return false
}

/// A pair, two serve nodes on it, an admin key and the gallery the load enrols into.
struct FailoverCluster: Sendable {
    let folder: URL
    let pair: TestPair
    let nodes: [ServeNode]
    let adminKey: String
    let photos: [[UInt8]]
    /// The enrolment each node acknowledged before the load.
    var warmUpReferences: Set<String> { Set(nodes.map { "warm-up-\($0.name)" }) }
}

/// Starts the pair and the nodes, creates the gallery, runs `body`, and stops everything.
func withCluster(synchronous: Bool, _ body: (FailoverCluster) async throws -> Void) async throws {
    let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-cluster-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let pair = try await TestPair.start(synchronous: synchronous, scratch: folder)
    var nodes: [ServeNode] = []
    do {
        let cropKey = Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
        nodes.append(try await ServeNode.start(name: "a", storeURL: pair.storeURL, cropKey: cropKey, folder: folder))
        guard let adminKey = nodes[0].bootstrapKey, !adminKey.isEmpty else {
            throw ClusterTestError.notReady("the bootstrap admin key", log: nodes[0].process.logTail())
        }
        nodes.append(try await ServeNode.start(name: "b", storeURL: pair.storeURL, cropKey: cropKey, folder: folder))
        let created = try await nodes[0].send(
            .post, "/v1/galleries", key: adminKey,
            body: Array(#"{"name":"\#(EnrolmentLoad.gallery)","purpose":"other"}"#.utf8), contentType: "application/json")
        #expect(created.status == 201, "creating the gallery: \(created.status) \(String(decoding: created.body, as: UTF8.self))")
        let photos = try ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"].map { name in
            Array(try Data(contentsOf: testPhotos.appending(path: name)))
        }
        // Each node acknowledges one enrolment before the load: the gallery has reached both.
        for node in nodes { try await warmUp(node, adminKey: adminKey, photo: photos[0]) }
        try await body(FailoverCluster(folder: folder, pair: pair, nodes: nodes, adminKey: adminKey, photos: photos))
    } catch {
        for node in nodes { Issue.record("\(node.name)'s log: \(node.process.logTail(characters: 2_000))") }
        await stop(nodes: nodes, pair: pair, folder: folder)
        throw error
    }
    await stop(nodes: nodes, pair: pair, folder: folder)
}

private func stop(nodes: [ServeNode], pair: TestPair, folder: URL) async {
    for node in nodes { await node.process.stop() }
    await pair.stop(scratch: folder)
    try? FileManager.default.removeItem(at: folder)
}

private func warmUp(_ node: ServeNode, adminKey: String, photo: [UInt8]) async throws {
    let key = UUID().uuidString
    let deadline = ContinuousClock.now + .seconds(30)
    var last: Attempt.Outcome?
    while ContinuousClock.now < deadline {
        let outcome = await EnrolmentLoad.enrol(
            reference: "warm-up-\(node.name)", key: key, photo: photo, through: node, adminKey: adminKey)
        if case .acknowledged = outcome { return }
        last = outcome
        try await Task.sleep(for: .milliseconds(200))
    }
    throw ClusterTestError.notReady("an enrolment through \(node.name)", log: "\(String(describing: last))")
}

/// The test photos scripts/setup fetched.
let testPhotos: URL = {
    let home = ProcessInfo.processInfo.environment["BIOMATCH_HOME"].map { URL(filePath: $0) }
        ?? repositoryRoot.appending(path: ".biomatch")
    return home.appending(path: "testdata/photos")
}()
