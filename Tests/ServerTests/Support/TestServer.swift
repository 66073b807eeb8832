import FaceEngine
import Foundation
import Gallery
import Governance
import Hummingbird
import HummingbirdTesting
import Imaging
import Installation
import Logging
import Operations
import PostgresTestSupport
import Review
import ServiceLifecycle
import Testing
@testable import Server

/// One running server for the API suites: a real SQLite file in a temporary folder (or a real
/// PostgreSQL database on the test server), the real models, keys of every role, two galleries,
/// and the HTTP server on a loopback port.
///
/// Built once per store kind per test process (the engine and the server are the slow parts) and shared.
final class TestServer: Sendable {
    let folder: URL
    let store: any GalleryStore
    let operations: MatcherOperations
    let metrics: ServerMetrics
    let port: Int
    let keys: TestKeys
    let document: JSON

    /// The body limit of the shared server: small enough to exceed cheaply in a test.
    static let bodyLimit = 4 * 1024 * 1024
    /// Galleries: `custody` (purpose custody) with obama and biden enrolled; `evaluation` (purpose other).
    static let custody = "custody"
    static let evaluation = "evaluation"

    private static let shared = Task<TestServer, any Error> { try await TestServer.start(.sqlite) }
    private static let sharedOnPostgres = Task<TestServer, any Error> { try await TestServer.start(.postgresql) }

    /// The shared server on `backend`, started on first use.
    static func get(_ backend: StoreBackend = .sqlite) async throws -> TestServer {
        switch backend {
        case .sqlite: try await shared.value
        case .postgresql: try await sharedOnPostgres.value
        }
    }

    private init(
        folder: URL, store: any GalleryStore, operations: MatcherOperations, metrics: ServerMetrics, port: Int,
        keys: TestKeys
    ) {
        self.folder = folder
        self.store = store
        self.operations = operations
        self.metrics = metrics
        self.port = port
        self.keys = keys
        document = OpenAPIDocument.document(version: BioMatchVersion.current, purposes: operations.purposes.names)
    }

    private static func start(_ backend: StoreBackend) async throws -> TestServer {
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try await openStore(backend, folder: folder).store
        let metrics = ServerMetrics()
        let operations = try await openOperations(store: store, metrics: metrics)
        let keys = try await TestKeys.create(in: operations)
        let admin = Caller.key(keys.admin.key.principal)
        _ = try await operations.createGallery(GalleryDraft(name: custody, purpose: .custody), by: admin)
        _ = try await operations.createGallery(GalleryDraft(name: evaluation, purpose: .other), by: admin)
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            try await operations.enrol(
                EnrolmentRequest(gallery: custody, reference: reference, images: [try Photos.bytes(photo)]), by: admin)
        }
        let port = try await startServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0, maximumBodyBytes: bodyLimit,
                rateLimit: RateLimit(requestsPerSecond: 1_000, burst: 1_000)),
            operations: operations, metrics: metrics)
        return TestServer(folder: folder, store: store, operations: operations, metrics: metrics, port: port, keys: keys)
    }

    /// A fresh store of `backend`: a SQLite file in `folder`, or a new database on the test PostgreSQL server.
    static func openStore(_ backend: StoreBackend, folder: URL) async throws -> OpenedGalleryStore {
        switch backend {
        case .sqlite:
            try await GalleryStoreLocation.sqlite(folder.appending(path: "gallery.sqlite")).openForOperations()
        case .postgresql:
            try await GalleryStoreLocation.postgresql(try await TestPostgresServer.createDatabase()).openForOperations(
                snapshotDirectory: folder.appending(path: "indexes"))
        }
    }

    /// Operations over `store`; with `engines`, on that detector with those recognition engines.
    static func openOperations(
        store: any GalleryStore, metrics: ServerMetrics, engines: InstalledEngines? = nil
    ) async throws -> MatcherOperations {
        let engine = try engines?.faceEngine
            ?? FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        return try await MatcherOperations.open(
            store: store, engine: engine, recognisers: engines?.registry, purposes: PurposePolicy(), reviewPolicy: ReviewPolicy(),
            cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: CropVault.generateKeyText()]),
            analysisObserver: metrics.record)
    }

    static func health(for operations: MatcherOperations) -> HealthReport {
        HealthReport(version: BioMatchVersion.current, onnxRuntimeVersion: operations.engine.runtimeVersion, models: [])
    }

    /// Starts a server for `operations` in a service group that lives as long as the process,
    /// and returns its port.
    static func startServer(
        configuration: ServerConfiguration, operations: MatcherOperations, metrics: ServerMetrics
    ) async throws -> Int {
        let (group, port) = try await startGroup(
            configuration: configuration, operations: operations, metrics: metrics, closeStore: {})
        Task { try await group.run() }
        return try await port.value
    }

    /// A service group serving `operations`, not yet running, and its port once it runs.
    static func startGroup(
        configuration: ServerConfiguration, operations: MatcherOperations, metrics: ServerMetrics,
        closeStore: @escaping @Sendable () async -> Void
    ) async throws -> (ServiceGroup, Task<Int, any Error>) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "server-tests")
        logger.logLevel = .warning
        let app = buildApplication(
            configuration: configuration,
            dependencies: ServerDependencies(operations: operations, health: health(for: operations), metrics: metrics),
            logger: logger,
            onServerRunning: { port in
                continuation.yield(port ?? -1)
                continuation.finish()
            })
        let group = BioMatchServer.serviceGroup(application: app, closeStore: closeStore, logger: logger, signals: [])
        let port = Task<Int, any Error> {
            for await port in ports { return port }
            throw CancellationError()
        }
        return (group, port)
    }

    /// What the store holds: galleries with their counts, keys and audit length. Refused requests
    /// must leave it unchanged.
    func snapshot() async throws -> StoreSnapshot {
        var galleries: [String: GalleryCounts] = [:]
        for gallery in try await store.galleries() {
            galleries[gallery.name] = try await store.counts(in: gallery.id)
        }
        let keyCount = try await operations.keys.keys().count
        return StoreSnapshot(galleries: galleries, auditLength: try await auditEntries().count, keyCount: keyCount)
    }

    /// The whole audit log, in chain order.
    func auditEntries() async throws -> [AuditEntry] {
        var entries: [AuditEntry] = []
        while true {
            let page = try await operations.auditLog.entries(after: entries.last?.sequence, limit: 1_000)
            entries += page
            if page.count < 1_000 { return entries }
        }
    }
}

/// What ``TestServer/snapshot()`` compares.
struct StoreSnapshot: Equatable {
    var galleries: [String: GalleryCounts]
    var auditLength: Int
    var keyCount: Int
}

/// An issued key of each role.
struct TestKeys: Sendable {
    let admin: IssuedAPIKey
    let enroller: IssuedAPIKey
    let searcher: IssuedAPIKey
    let otherGallerySearcher: IssuedAPIKey
    let reviewer: IssuedAPIKey
    let auditor: IssuedAPIKey
    let revoked: IssuedAPIKey

    static func create(in operations: MatcherOperations) async throws -> TestKeys {
        let registry = operations.keys
        guard let admin = try await registry.bootstrapAdminKey() else { throw TestSetupError.keysExist }
        let actor = AuditActor.system("test")
        let custody: GalleryScope = .galleries([TestServer.custody])
        let revoked = try await registry.create(name: "revoked", role: .searcher, scope: custody, by: actor)
        _ = try await registry.revoke(revoked.key.id, by: actor)
        return TestKeys(
            admin: admin,
            enroller: try await registry.create(name: "enroller", role: .enroller, scope: custody, by: actor),
            searcher: try await registry.create(name: "searcher", role: .searcher, scope: custody, by: actor),
            otherGallerySearcher: try await registry.create(
                name: "evaluation searcher", role: .searcher, scope: .galleries([TestServer.evaluation]), by: actor),
            reviewer: try await registry.create(name: "reviewer", role: .reviewer, scope: custody, by: actor),
            auditor: try await registry.create(name: "auditor", role: .auditor, scope: .galleries([]), by: actor),
            revoked: revoked)
    }
}

/// The two stores the API suites run against.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    var testDescription: String { rawValue }
}

enum TestSetupError: Error {
    case keysExist
    case photoMissing(String)
}

/// The test photos setup fetched under `.biomatch/testdata/photos`.
enum Photos {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = Installation.fromEnvironment().home.appending(path: "testdata/photos/\(name)")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TestSetupError.photoMissing(url.path) }
        return Array(data)
    }

    /// A PPM holding two real faces side by side: obama.jpg at half size (the larger face) on the
    /// left, biden.jpg at a quarter on the right.
    static func twoFaces() throws -> [UInt8] {
        let decoder = ImageDecoder()
        let obama = try decoder.decode(try bytes("obama.jpg"))
        let biden = try decoder.decode(try bytes("biden.jpg"))
        let left = obama.resizedBilinear(width: obama.width / 2, height: obama.height / 2)
        let right = biden.resizedBilinear(width: biden.width / 3, height: biden.height / 3)
        let width = left.width + right.width
        let height = max(left.height, right.height)
        var canvas = RGBImage(width: width, height: height)
        for (image, offset) in [(left, 0), (right, left.width)] {
            for row in 0..<image.height {
                let source = row * image.width * 3
                let target = (row * width + offset) * 3
                canvas.pixels.replaceSubrange(target..<(target + image.width * 3), with: image.pixels[source..<(source + image.width * 3)])
            }
        }
        return Array("P6\n\(width) \(height)\n255\n".utf8) + canvas.pixels
    }
}
