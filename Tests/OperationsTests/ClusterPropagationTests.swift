import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Logging
import Operations
import PostgresNIO
import PostgresTestSupport
import Review
import Synchronization
import Testing

/// Two nodes (two services, each with its own store instance and indexes) on one database: what
/// one acknowledges, the other's indexes follow through the store's change feed.
@Suite struct ClusterPropagationTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgresql
        var testDescription: String { rawValue }
    }

    static let justified = StatedJustification(purpose: "missing-person", caseReference: "CASE-2026-0077")

    @Test("an enrolment acknowledged by node A is found by a search on node B", arguments: Backend.allCases)
    func enrolmentPropagates(backend: Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let a = try await database.node()
            let b = try await database.node()
            let follower = Task { await GalleryFeedFollower(service: b.operations.identification).run() }
            defer { follower.cancel() }
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(GalleryDraft(name: "border", purpose: .immigration), by: keys.admin)
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "obama", images: [try Support.photo("obama.jpg")]),
                by: keys.enroller)
            // Bounded wait: the follower applies it within a poll interval or a notification.
            try await waitUntil { (try? b.operations.identification.indexedTemplateCount(gallery: "border")) == 1 }
            let outcome = try await b.operations.search(
                SearchRequest(gallery: "border", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5),
                by: keys.searcher)
            #expect(outcome.candidates.map(\.subjectReference) == ["obama"])
        }
    }

    @Test("an engine added and templated on node A is searched on node B, and its drop reaches B", arguments: Backend.allCases)
    func engineChangesPropagate(backend: Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let recognisers = try Support.recognisers.get()
            let a = try await database.node(recognisers: recognisers)
            let b = try await database.node(recognisers: recognisers)
            let follower = Task { await GalleryFeedFollower(service: b.operations.identification).run() }
            defer { follower.cancel() }
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(GalleryDraft(name: "border", purpose: .immigration), by: keys.admin)
            for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
                _ = try await a.operations.enrol(
                    EnrolmentRequest(gallery: "border", reference: reference, images: [try Support.photo(photo)]), by: keys.enroller)
            }
            try await waitUntil { (try? b.operations.identification.indexedTemplateCount(gallery: "border")) == 2 }
            let job = try await a.operations.addEngine("dlib", to: "border", by: keys.admin)
            #expect(try await a.operations.runEngineJob(job.id, holder: "node a").state == .completed)
            try await waitUntil {
                let record = try? b.operations.identification.gallery(named: "border")
                return record?.engine(named: "dlib")?.isTemplating == false
                    && (try? b.operations.identification.indexedTemplateCount(gallery: "border")) == 4
            }
            let byDlib = try await b.operations.search(
                SearchRequest(
                    gallery: "border", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5, engine: "dlib"),
                by: keys.searcher)
            #expect(byDlib.candidates.map(\.subjectReference) == ["obama"])

            _ = try await a.operations.dropEngine("dlib", from: "border", by: keys.admin)
            try await waitUntil {
                (try? b.operations.identification.gallery(named: "border"))?.engines.map(\.identifier) == ["sface"]
                    && (try? b.operations.identification.indexedTemplateCount(gallery: "border")) == 2
            }
        }
    }

    @Test("old feed entries are pruned down to the newest, and a node behind them rebuilds from the store and misses nothing", arguments: Backend.allCases)
    func prunedFeedRebuildsLaggingNodes(backend: Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let a = try await database.node()
            let b = try await database.node()
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(GalleryDraft(name: "border", purpose: .immigration), by: keys.admin)
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "obama", images: [try Support.photo("obama.jpg")]), by: keys.enroller)
            try await b.operations.identification.catchUp()
            #expect(try b.operations.identification.indexedTemplateCount(gallery: "border") == 1)
            // B stops following; A goes on, and the feed is pruned past where B stopped.
            for (reference, photo) in [("biden", "biden.jpg"), ("obama-again", "obama3.jpg")] {
                _ = try await a.operations.enrol(
                    EnrolmentRequest(gallery: "border", reference: reference, images: [try Support.photo(photo)]), by: keys.enroller)
            }
            let head = try await a.operations.store.changeFeedHead()
            let pruned = try await a.operations.pruneChangeFeed(committedAtOrBefore: Date().addingTimeInterval(60))
            #expect(pruned == Int(head.rawValue) - 1, "all but the newest entry")
            let left = try await a.operations.store.changes(after: .origin, limit: 10)
            #expect(left.map(\.position) == [head])
            #expect(try await a.operations.pruneChangeFeed(committedAtOrBefore: Date().addingTimeInterval(60)) == 0)

            try await b.operations.identification.catchUp()
            #expect(b.operations.identification.feedDivergenceCount == 1)
            #expect(try b.operations.identification.indexedTemplateCount(gallery: "border") == 3)
            #expect(b.operations.identification.feedPosition == head)
            // And it follows on from there as usual.
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "late", images: [try Support.photo("obama2.jpg")]), by: keys.enroller)
            try await b.operations.identification.catchUp()
            #expect(try b.operations.identification.indexedTemplateCount(gallery: "border") == 4)
            #expect(b.operations.identification.feedDivergenceCount == 1)
        }
    }

    @Test("once node A acknowledges an erasure, node B's governed search never returns the subject, even before B's index follows", arguments: Backend.allCases)
    func erasureIsNeverReturnedElsewhere(backend: Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let a = try await database.node()
            let b = try await database.node()
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(GalleryDraft(name: "border", purpose: .immigration), by: keys.admin)
            for (reference, photo) in [("obama", "obama.jpg"), ("obama-again", "obama3.jpg")] {
                _ = try await a.operations.enrol(
                    EnrolmentRequest(gallery: "border", reference: reference, images: [try Support.photo(photo)]),
                    by: keys.enroller)
            }
            try await b.operations.identification.catchUp()
            let probe = try await b.operations.identification.probeTemplate(imageBytes: try Support.photo("obama2.jpg"))
            #expect(Set(try b.operations.identification.search(gallery: "border", probes: [probe]).map(\.subjectReference)) == ["obama", "obama-again"])

            _ = try await a.operations.eraseSubject("obama", in: "border", by: keys.admin)
            // B has not followed yet (no follower runs): its index still holds the subject...
            #expect(try b.operations.identification.search(gallery: "border", probes: [probe]).map(\.subjectReference).contains("obama"))
            // ...but the governed search checks its candidates against the store before recording them.
            let outcome = try await b.operations.search(
                SearchRequest(gallery: "border", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5),
                by: keys.searcher)
            #expect(outcome.candidates.map(\.subjectReference) == ["obama-again"])
            #expect(outcome.candidates.map(\.rank) == [1])
            // And once B follows, its index drops the subject too.
            try await b.operations.identification.catchUp()
            #expect(try b.operations.identification.search(gallery: "border", probes: [probe]).map(\.subjectReference) == ["obama-again"])
        }
    }

    @Test("node B restarted from its snapshot catches up the changes made while it was down, without a rebuild", arguments: Backend.allCases)
    func restartCatchesUpFromSnapshot(backend: Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let engine = try Support.engine.get()
            let a = try await GallerySearchService.open(store: try await database.store(), engine: engine)
            _ = try await a.createGallery(name: "synthetic", purpose: .other)
            var generator = SystemRandomNumberGenerator()
            let early = (0..<20).map { Synthetic.subject("early-\($0)", model: engine.templateModelIdentifier, &generator) }
            _ = try await a.enrolBatch(gallery: "synthetic", subjects: early)

            let snapshots = database.folder.appending(path: "node-b-snapshots")
            let b = try await GallerySearchService.open(store: try await database.store(), engine: engine, snapshotDirectory: snapshots)
            #expect(b.indexReports.map(\.origin) == [.rebuilt(.missing)])
            let outcomes = await b.writeSnapshots()
            #expect(outcomes["synthetic"] == .upToDate(revision: 1))

            // While B is down: enrolments, added templates, an erasure and a threshold change.
            let late = (0..<5).map { Synthetic.subject("late-\($0)", model: engine.templateModelIdentifier, &generator) }
            _ = try await a.enrolBatch(gallery: "synthetic", subjects: Array(late[0..<3]))
            _ = try await a.enrolBatch(gallery: "synthetic", subjects: Array(late[3...]))
            _ = try await a.deleteSubject(gallery: "synthetic", reference: "early-0")
            try await a.setOperatingThreshold(0.6, gallery: "synthetic")

            let restarted = try await GallerySearchService.open(
                store: try await database.store(), engine: engine, snapshotDirectory: snapshots)
            #expect(restarted.indexReports.map(\.origin) == [.caughtUp(snapshotRevision: 1, storeRevision: 4)])
            #expect(try restarted.indexedTemplateCount(gallery: "synthetic") == 24)
            #expect(try restarted.gallery(named: "synthetic").operatingThreshold == 0.6)
            for subject in late {
                let probe = try FaceTemplate(normalizing: subject.templates[0].vector, modelIdentifier: engine.templateModelIdentifier)
                #expect(try restarted.search(gallery: "synthetic", probes: [probe], k: 1).first?.subjectReference == subject.externalReference)
            }
            let erased = try FaceTemplate(normalizing: early[0].templates[0].vector, modelIdentifier: engine.templateModelIdentifier)
            #expect(try restarted.search(gallery: "synthetic", probes: [erased], k: 1).first?.subjectReference != "early-0")
            // Its snapshot was written again at open, at the current revision and feed position.
            #expect(restarted.indexReports.map(\.snapshotProblem) == [nil])
            #expect(await restarted.writeSnapshots()["synthetic"] == .upToDate(revision: 4))
            let again = try await GallerySearchService.open(store: try await database.store(), engine: engine, snapshotDirectory: snapshots)
            #expect(again.indexReports.map(\.origin) == [.snapshot])
        }
    }

    @Test("a dropped LISTEN connection loses nothing: changes committed while it was down are read when it is back")
    func droppedListenerLosesNothing() async throws {
        try await SharedDatabase.with(.postgresql) { database in
            let engine = try Support.engine.get()
            let a = try await GallerySearchService.open(store: try await database.store(), engine: engine)
            let b = try await GallerySearchService.open(store: try await database.store(), engine: engine)
            _ = try await a.createGallery(name: "synthetic", purpose: .other)
            // No poll to fall back on: only notifications and the re-read on reconnecting.
            let follower = Task { await GalleryFeedFollower(service: b, pollInterval: .seconds(3600), retryDelay: .milliseconds(200)).run() }
            defer { follower.cancel() }
            let admin = try await database.store()
            let first = try await database.listenerBackends(waitingForOtherThan: [])
            try await waitUntil { b.galleryNames == ["synthetic"] }

            try await database.terminate(first)
            // Committed while B's listener is gone: no notification reaches B for these.
            var generator = SystemRandomNumberGenerator()
            let subjects = (0..<5).map { Synthetic.subject("s\($0)", model: engine.templateModelIdentifier, &generator) }
            for subject in subjects { _ = try await a.enrolBatch(gallery: "synthetic", subjects: [subject]) }
            let second = try await database.listenerBackends(waitingForOtherThan: first)
            #expect(second.isDisjoint(with: first))
            try await waitUntil { (try? b.indexedTemplateCount(gallery: "synthetic")) == subjects.count }
            #expect(b.feedPosition == (try await admin.changeFeedHead()))
        }
    }
}

/// Synthetic subjects with one random unit template each (searches find them by that vector).
enum Synthetic {
    static func subject(_ reference: String, model: String, _ generator: inout some RandomNumberGenerator) -> NewSubject {
        let raw = (0..<TemplateFormat.dimension).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return NewSubject(
            externalReference: reference, attributes: [:], retainUntil: nil,
            templates: [
                NewTemplate(
                    modelIdentifier: model, vector: raw.map { $0 / norm },
                    quality: TemplateQuality(detectionScore: 0.9, measures: [:]),
                    sourceImageSHA256: String(repeating: "ab", count: 32), capturedAt: Date())
            ])
    }
}

/// Polls `condition` every 10 ms for up to 10 s.
func waitUntil(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("the condition did not hold within 10 s", sourceLocation: sourceLocation)
}

/// One database several nodes share: a SQLite file, or a database on the test PostgreSQL server;
/// each ``store()`` is a new store instance on it (a new connection pool or client), as a node has.
final class SharedDatabase: Sendable {
    let backend: ClusterPropagationTests.Backend
    let folder: URL
    let configuration: PostgresClient.Configuration?
    private let clients = Mutex<[Task<Void, Never>]>([])
    private let vaultKey = CropVault.generateKeyText()

    private init(backend: ClusterPropagationTests.Backend, folder: URL, configuration: PostgresClient.Configuration?) {
        self.backend = backend
        self.folder = folder
        self.configuration = configuration
    }

    static func with(_ backend: ClusterPropagationTests.Backend, _ body: (SharedDatabase) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        switch backend {
        case .sqlite:
            let database = SharedDatabase(backend: backend, folder: folder, configuration: nil)
            try await body(database)
        case .postgresql:
            try await TestPostgresServer.withDatabase { configuration in
                let database = SharedDatabase(backend: backend, folder: folder, configuration: configuration)
                defer { database.clients.withLock { $0.forEach { $0.cancel() } } }
                try await body(database)
            }
        }
    }

    /// A new store instance with the operations' tables.
    func store() async throws -> any GalleryStore {
        switch backend {
        case .sqlite:
            return try SQLiteGalleryStore(
                location: folder.appending(path: "biomatch.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        case .postgresql:
            return try await PostgresGalleryStore.open(client: await client(), additionalMigrations: MatcherOperations.migrations(for: .postgresql))
        }
    }

    struct Node {
        let operations: MatcherOperations

        /// An admin key, and an enroller and a searcher key for gallery "border", stored (so every node accepts them).
        func keys() async throws -> (admin: Caller, enroller: Caller, searcher: Caller) {
            func key(_ role: Role, _ scope: GalleryScope) async throws -> Caller {
                .key(try await operations.keys.create(name: "\(role) key", role: role, scope: scope, by: .system("test")).key.principal)
            }
            return (
                try await key(.admin, .allGalleries), try await key(.enroller, .galleries(["border"])),
                try await key(.searcher, .galleries(["border"]))
            )
        }
    }

    /// A node: governed operations over a store instance of its own, no review cases.
    func node(recognisers: RecognitionEngineRegistry? = nil) async throws -> Node {
        Node(
            operations: try await MatcherOperations.open(
                store: try await store(), engine: try Support.engine.get(), recognisers: recognisers, purposes: PurposePolicy(),
                reviewPolicy: ReviewPolicy(purposesRequiringReview: []),
                cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: vaultKey])))
    }

    /// A running client for administration queries.
    func client() async -> PostgresClient {
        let client = PostgresClient(configuration: configuration!)
        clients.withLock { $0.append(Task { await client.run() }) }
        await Task.yield()
        return client
    }

    /// The backends LISTENing for gallery changes, once there is one not in `old`.
    func listenerBackends(waitingForOtherThan old: Set<Int32>) async throws -> Set<Int32> {
        let client = await client()
        var found: Set<Int32> = []
        try await waitUntil {
            found = []
            for try await pid in try await client.query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            ).decode(Int32.self) {
                found.insert(pid)
            }
            return !found.subtracting(old).isEmpty
        }
        return found
    }

    /// Ends these backends as an administrator would (the client sees its connection drop).
    func terminate(_ backends: Set<Int32>) async throws {
        let client = await client()
        for pid in backends {
            _ = try await client.query("SELECT pg_terminate_backend(\(pid))").collect()
        }
    }
}
