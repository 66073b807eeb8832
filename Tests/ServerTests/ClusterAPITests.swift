import Foundation
import Gallery
import Governance
import HTTPTypes
import Hummingbird
import FaceEngine
import Installation
import Logging
import Operations
import PostgresTestSupport
import Synchronization
import Testing
@testable import Server

/// The key API flows of ``APITests`` on a PostgreSQL store.
@Suite(.serialized) struct PostgresAPITests {
    @Test func galleriesSubjectsSearchVerificationAndAuditFlows() async throws {
        let tests = try await APITests(backend: .postgresql)
        try await tests.galleriesAreCreatedListedReadReconfiguredAndErased()
        try await tests.subjectsAreEnrolledListedReadExtendedAndErased()
        try await tests.aRefusedEnrolmentStoresNothing()
        try await tests.searchReturnsRankedCandidatesAndIsAudited()
        try await tests.verificationComparesWithASubjectOrASecondImage()
        try await tests.auditorsPageThroughTheAuditLog()
    }

    @Test func refusalsChangeNothing() async throws {
        let tests = try await APITests(backend: .postgresql)
        try await tests.missingUnknownMalformedAndRevokedKeysAre401()
        try await tests.wrongRoleOrGalleryIs403()
        try await tests.searchesAndVerificationsWithoutAUsablePurposeAre400()
        try await tests.badInputIsA4xxProblemAndChangesNothing()
        try await tests.metricsExposeRequestsStageTimesAndGallerySizes()
    }
}

/// A server of its own on a store of its own: keys, the `custody` gallery with obama enrolled.
struct OwnServer {
    let operations: MatcherOperations
    let store: any GalleryStore
    let keys: TestKeys
    let client: APIClient
    let close: @Sendable () async -> Void

    static func start(
        _ backend: StoreBackend, location: PostgresLocation? = nil,
        settings: PostgresPrimaryLocator.Settings = .init(), engines: InstalledEngines? = nil
    ) async throws -> OwnServer {
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-own-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let opened: OpenedGalleryStore
        if let location {
            opened = try await GalleryStoreLocation.postgresql(location).openForOperations(
                snapshotDirectory: folder.appending(path: "indexes"), settings: settings)
        } else {
            opened = try await TestServer.openStore(backend, folder: folder)
        }
        let metrics = ServerMetrics()
        let operations = try await TestServer.openOperations(store: opened.store, metrics: metrics, engines: engines)
        let keys = try await TestKeys.create(in: operations)
        let admin = Caller.key(keys.admin.key.principal)
        _ = try await operations.createGallery(GalleryDraft(name: TestServer.custody, purpose: .custody), by: admin)
        try await operations.enrol(
            EnrolmentRequest(gallery: TestServer.custody, reference: "obama", images: [try Photos.bytes("obama.jpg")]),
            by: admin)
        let port = try await TestServer.startServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0, rateLimit: RateLimit(requestsPerSecond: 1_000, burst: 1_000)),
            operations: operations, metrics: metrics)
        let document = OpenAPIDocument.document(
            version: BioMatchVersion.current, purposes: operations.purposes.names,
            engines: operations.identification.installedEngines)
        return OwnServer(
            operations: operations, store: opened.store, keys: keys, client: APIClient(port: port, document: document),
            close: opened.close)
    }

    func enrolment(_ reference: String, photo: String = "biden.jpg") throws -> TestBody {
        .json(["reference": .string(reference), "images": [.string(Data(try Photos.bytes(photo)).base64EncodedString())]])
    }

    func search(_ photo: String = "obama2.jpg") throws -> TestBody {
        .json([
            "gallery": .string(TestServer.custody), "image": .string(Data(try Photos.bytes(photo)).base64EncodedString()),
            "purpose": "criminal-investigation", "caseReference": "CASE-2026-0099",
        ])
    }

    var subjectsPath: String { "/v1/galleries/\(TestServer.custody)/subjects" }

    func subjectCount() async throws -> Int {
        try await store.counts(in: try await store.gallery(named: TestServer.custody).id).subjects
    }
}

/// While no PostgreSQL primary is reachable, writes and searches answer 503 with Retry-After;
/// health and metrics keep answering; when the primary is back, so is the service.
@Suite(.serialized) struct AvailabilityTests {
    @Test func searchesAndEnrolmentsAre503WithRetryAfterUntilThePrimaryIsBack() async throws {
        let host = try await ControlledPostgresServer.start()
        defer { Task { try? await host.remove() } }
        try await host.createDatabase("biomatch")
        let location = PostgresLocation(
            endpoints: [host.endpoint], username: TestPostgresServer.superuser, database: "biomatch", tlsMode: .disable)
        let server = try await OwnServer.start(
            .postgresql, location: location,
            settings: .init(leaseTimeout: .seconds(1), initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1)))
        let client = server.client
        let searcher = server.keys.searcher.secret
        let search = try server.search()
        #expect(try await client.send(.post, "/v1/search", template: "/v1/search", key: searcher, body: search).status == 200)
        // /health names the primary this node writes to and the feed position its indexes reflect
        // (this in-process server runs no follower: catch up as its follower would).
        try await server.operations.identification.catchUp()
        let health = try await client.send(.get, "/health", template: "/health")
        #expect(health.json?["storePrimary"]?.stringValue == "\(host.endpoint)")
        let head = try await server.operations.store.changeFeedHead()
        #expect(health.json?["feedPosition"]?.numberValue == Double(head.rawValue))

        try await host.halt()
        for _ in 0..<2 {
            let searched = try await client.send(.post, "/v1/search", template: "/v1/search", key: searcher, body: search)
            Self.expectUnavailable(searched)
            let enrolled = try await client.send(
                .post, server.subjectsPath, template: "/v1/galleries/{gallery}/subjects", key: server.keys.enroller.secret,
                headers: [IdempotentRequests.header: "gap-1"], body: try server.enrolment("during-the-gap"))
            Self.expectUnavailable(enrolled)
            #expect(try await client.send(.get, "/health", template: "/health").status == 200)
            #expect(try await client.send(.get, "/metrics", template: "/metrics").status == 200)
        }

        try await host.resume()
        let deadline = ContinuousClock.now + .seconds(20)
        var status = 0
        while status != 200 && ContinuousClock.now < deadline {
            status = try await client.send(.post, "/v1/search", template: "/v1/search", key: searcher, body: search).status
            if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(status == 200, "the service did not come back")
        let enrolled = try await client.send(
            .post, server.subjectsPath, template: "/v1/galleries/{gallery}/subjects", key: server.keys.enroller.secret,
            headers: [IdempotentRequests.header: "gap-1"], body: try server.enrolment("during-the-gap"))
        #expect(enrolled.status == 201)
        let verification = try await AuditVerifier.verify(server.operations.auditLog)
        #expect(verification.isIntact, "\(verification)")
        await server.close()
    }

    static func expectUnavailable(_ reply: TestReply, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == 503, "\(String(decoding: reply.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(reply.problem?.type == ProblemType.unavailable.uri, sourceLocation: sourceLocation)
        let retryAfter = reply.headers[.retryAfter].flatMap { Int($0) }
        #expect(retryAfter.map { $0 >= 1 } == true, "Retry-After: \(reply.headers[.retryAfter] ?? "none")", sourceLocation: sourceLocation)
    }
}

/// `Idempotency-Key` on enrolment, added images and review decisions.
@Suite struct IdempotencyTests {
    @Test(arguments: StoreBackend.allCases)
    func retriesReplayTheFirstResponseAndChangeNothing(backend: StoreBackend) async throws {
        let server = try await OwnServer.start(backend)
        let client = server.client
        let enroller = server.keys.enroller.secret
        let template = "/v1/galleries/{gallery}/subjects"
        let before = try await server.subjectCount()

        let first = try await client.send(
            .post, server.subjectsPath, template: template, key: enroller,
            headers: [IdempotentRequests.header: "enrol-biden-1"], body: try server.enrolment("biden"))
        #expect(first.status == 201)
        #expect(first.headers[IdempotentRequests.replayedHeader] == nil)
        // The response was lost on the way: the client sends the same request again, twice.
        for _ in 0..<2 {
            let again = try await client.send(
                .post, server.subjectsPath, template: template, key: enroller,
                headers: [IdempotentRequests.header: "\"enrol-biden-1\""], body: try server.enrolment("biden"))
            #expect(again.status == 201)
            #expect(again.body == first.body)
            #expect(again.headers[.location] == first.headers[.location])
            #expect(again.headers[IdempotentRequests.replayedHeader] == "true")
        }
        #expect(try await server.subjectCount() == before + 1)

        // The same key for another request.
        let reused = try await client.send(
            .post, server.subjectsPath, template: template, key: enroller,
            headers: [IdempotentRequests.header: "enrol-biden-1"], body: try server.enrolment("someone-else"))
        #expect(reused.status == 422)
        #expect(reused.problem?.type == ProblemType.idempotencyKeyReused.uri)
        // Keys belong to the API key that used them: another key's same value is a new request.
        let admin = try await client.send(
            .post, server.subjectsPath, template: template, key: server.keys.admin.secret,
            headers: [IdempotentRequests.header: "enrol-biden-1"], body: try server.enrolment("biden-by-admin"))
        #expect(admin.status == 201)
        #expect(try await server.subjectCount() == before + 2)
        let malformed = try await client.send(
            .post, server.subjectsPath, template: template, key: enroller,
            headers: [IdempotentRequests.header: "two words"], body: try server.enrolment("x"))
        #expect(malformed.status == 400)

        // Added images.
        let imagesPath = "\(server.subjectsPath)/biden/images"
        let imagesTemplate = "/v1/galleries/{gallery}/subjects/{reference}/images"
        let imagesBody = TestBody.json(["images": [.string(Data(try Photos.bytes("biden.jpg")).base64EncodedString())]])
        let added = try await client.send(
            .post, imagesPath, template: imagesTemplate, key: enroller, headers: [IdempotentRequests.header: "images-1"],
            body: imagesBody)
        #expect(added.status == 201)
        let addedAgain = try await client.send(
            .post, imagesPath, template: imagesTemplate, key: enroller, headers: [IdempotentRequests.header: "images-1"],
            body: imagesBody)
        #expect(addedAgain.status == 201 && addedAgain.body == added.body)
        let subject = try await server.store.subject(
            reference: "biden", in: try await server.store.gallery(named: TestServer.custody).id)
        #expect(subject.templates.count == 2, "one enrolment image and one added image")

        // A review decision.
        let searched = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: server.keys.searcher.secret, body: try server.search())
        let caseID = try #require(searched.json?["reviewCaseID"]?.numberValue)
        let candidate = try #require(searched.json?["candidates"]?.arrayValue?.first?["subjectID"]?.numberValue)
        let decisionPath = "/v1/reviews/\(Int64(caseID))/decisions"
        let decisionBody = TestBody.json(["subjectID": .number(candidate), "decision": "confirmed", "note": "same person"])
        let decided = try await client.send(
            .post, decisionPath, template: "/v1/reviews/{case}/decisions", key: server.keys.reviewer.secret,
            headers: [IdempotentRequests.header: "decision-1"], body: decisionBody)
        #expect(decided.status == 201)
        let decidedAgain = try await client.send(
            .post, decisionPath, template: "/v1/reviews/{case}/decisions", key: server.keys.reviewer.secret,
            headers: [IdempotentRequests.header: "decision-1"], body: decisionBody)
        #expect(decidedAgain.status == 201 && decidedAgain.body == decided.body)
        let otherNote = try await client.send(
            .post, decisionPath, template: "/v1/reviews/{case}/decisions", key: server.keys.reviewer.secret,
            headers: [IdempotentRequests.header: "decision-1"],
            body: .json(["subjectID": .number(candidate), "decision": "confirmed", "note": "another note"]))
        #expect(otherNote.status == 422)
        let entries = try await server.operations.auditLog.entries(limit: 1_000)
        #expect(entries.filter { $0.action == .reviewDecision }.count == 1)
        #expect(try await AuditVerifier.verify(server.operations.auditLog).isIntact)
        await server.close()
    }

    @Test("an outcome past its lifetime is not replayed, its key works afresh, and the sweep deletes expired outcomes", arguments: StoreBackend.allCases)
    func expiredOutcomesArePrunedAndTheirKeysReusable(backend: StoreBackend) async throws {
        let server = try await OwnServer.start(backend)
        let records = server.operations.idempotency
        let longAgo = Date() - 2 * 24 * 3_600
        let enroller = IdempotencyRecords.Key(apiKeyID: server.keys.enroller.key.id.rawValue, value: "expired-1")
        let stranger = IdempotencyRecords.Key(apiKeyID: server.keys.enroller.key.id.rawValue, value: "expired-2")
        let stale = IdempotencyRecords.StoredResponse(status: 201, contentType: "application/json", location: nil, body: Data("{}".utf8))
        for key in [enroller, stranger] {
            try await server.store.appendRecords([
                IdempotencyRecords.record(for: key, fingerprint: "an old request", now: longAgo) { _ in stale }
            ])
        }
        let before = try await server.subjectCount()
        // The old outcome is neither replayed nor in the way of the new one.
        let enrolled = try await server.client.send(
            .post, server.subjectsPath, template: "/v1/galleries/{gallery}/subjects", key: server.keys.enroller.secret,
            headers: [IdempotentRequests.header: "expired-1"], body: try server.enrolment("after-expiry"))
        #expect(enrolled.status == 201)
        #expect(enrolled.headers[IdempotentRequests.replayedHeader] == nil)
        #expect(try await server.subjectCount() == before + 1)
        #expect(try await records.outcome(for: enroller)?.response.status == 201)

        #expect(try await records.pruneExpired() == 1, "only expired-2's outcome had expired")
        #expect(try await records.outcome(for: enroller) != nil, "a live outcome is kept")
        #expect(try await records.pruneExpired() == 0)
        await server.close()
    }

    @Test("concurrent requests with one key make one subject", arguments: StoreBackend.allCases)
    func concurrentRetriesMakeOneSubject(backend: StoreBackend) async throws {
        let server = try await OwnServer.start(backend)
        let before = try await server.subjectCount()
        let body = try server.enrolment("raced", photo: "obama3.jpg")
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await server.client.send(
                        .post, server.subjectsPath, template: "/v1/galleries/{gallery}/subjects",
                        key: server.keys.enroller.secret, headers: [IdempotentRequests.header: "race-1"], body: body
                    ).status
                }
            }
            var statuses: [Int] = []
            for try await status in group { statuses.append(status) }
            return statuses
        }
        #expect(statuses.allSatisfy { $0 == 201 || $0 == 409 }, "\(statuses)")
        #expect(statuses.contains(201))
        #expect(try await server.subjectCount() == before + 1)
        await server.close()
    }
}

/// The retention sweeper runs on one node at a time and is taken over when its node dies.
@Suite struct RetentionLeaseTests {
    @Test(.timeLimit(.minutes(2)), arguments: StoreBackend.allCases)
    func oneOfTwoSweepersSweepsAndTheOtherTakesOver(backend: StoreBackend) async throws {
        let server = try await OwnServer.start(backend)
        let nodeA = server.operations
        let nodeB = try await TestServer.openOperations(store: server.store, metrics: ServerMetrics())
        let admin = Caller.key(server.keys.admin.key.principal)
        let sweeps = SweepLog()
        var logger = Logger(label: "sweeper-tests")
        logger.logLevel = .warning
        func sweeper(_ name: String, _ operations: MatcherOperations) -> Task<Void, any Error> {
            let service = RetentionSweeperService(
                operations: operations, interval: .milliseconds(100),
                lease: .init(holder: name, duration: .seconds(3)), logger: logger,
                onSweep: { _ in sweeps.append(name) })
            return Task { try await service.run() }
        }
        func enrolExpiring(_ reference: String) async throws {
            try await nodeA.enrol(
                EnrolmentRequest(
                    gallery: TestServer.custody, reference: reference, retainUntil: Date().addingTimeInterval(0.2),
                    images: [try Photos.bytes("biden.jpg")]),
                by: admin)
        }
        func waitUntilErased(_ reference: String) async throws -> Bool {
            let gallery = try await server.store.gallery(named: TestServer.custody)
            for _ in 0..<100 {
                do { _ = try await server.store.subject(reference: reference, in: gallery.id) } catch {
                    if case .unknownExternalReference = error { return true }
                    throw error
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        let tasks = ["node-a": sweeper("node-a", nodeA), "node-b": sweeper("node-b", nodeB)]
        try await enrolExpiring("expiring-1")
        #expect(try await waitUntilErased("expiring-1"))
        try await Task.sleep(for: .milliseconds(500))
        let early = sweeps.names
        #expect(Set(early).count == 1, "both nodes swept: \(Set(early))")
        let holder = try #require(early.first)
        let other = holder == "node-a" ? "node-b" : "node-a"

        // The holder dies (no graceful shutdown, so no release): its lease runs out and the other node sweeps.
        tasks[holder]?.cancel()
        _ = try? await tasks[holder]?.value
        sweeps.clear()
        let died = ContinuousClock.now
        try await enrolExpiring("expiring-2")
        #expect(try await waitUntilErased("expiring-2"))
        let takeover = died.duration(to: .now)
        #expect(sweeps.names.allSatisfy { $0 == other })
        #expect(takeover < .seconds(10), "taken over after \(takeover)")
        print("retention lease on \(backend): \(holder) swept, \(other) took over \(takeover) after \(holder) stopped")
        tasks[other]?.cancel()
        _ = try? await tasks[other]?.value
        await server.close()
    }
}

/// Which node made each sweep.
final class SweepLog: Sendable {
    private let log = Mutex<[String]>([])

    func append(_ name: String) { log.withLock { $0.append(name) } }
    func clear() { log.withLock { $0.removeAll() } }
    var names: [String] { log.withLock { $0 } }
}
