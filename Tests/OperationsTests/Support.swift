import DlibEngine
import FaceEngine
import Foundation
import Gallery
import Governance
import Imaging
import Installation
import Operations
import PostgresTestSupport
import ONNXRuntime
import Review
import SFaceEngine
import Testing

/// The shared engine, test photos and a governed store in a temporary folder.
enum Support {
    static let installation = Installation.fromEnvironment()

    /// One engine for all tests: its sessions are safe to share.
    static let engine: Result<FaceEngine, FaceEngineError> = Result { () throws(FaceEngineError) in
        try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
    }

    /// SFace and dlib behind the engine seam, on the shared engine's detector.
    static let recognisers: Result<RecognitionEngineRegistry, FaceEngineError> = Result { () throws(FaceEngineError) in
        let faceEngine = try engine.get()
        let runtime: ORTEnvironment
        do { runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path) } catch {
            throw .engineFailure(engine: "dlib", reason: "\(error)")
        }
        return try RecognitionEngineRegistry(engines: [
            SFaceRecognitionEngine(faceEngine: faceEngine, installation: installation),
            try DlibRecognitionEngine(environment: runtime, installation: installation),
        ])
    }

    static func photo(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: installation.testPhotosDirectory.appending(path: name)))
    }

    static func decoded(_ name: String) throws -> RGBImage {
        try ImageDecoder().decode(try photo(name))
    }

    /// Two photos side by side on one canvas (the second below-right of nothing: just to the
    /// right), as a PNG: an image with two faces.
    static func sideBySide(_ left: RGBImage, _ right: RGBImage) throws -> [UInt8] {
        let width = left.width + right.width
        let height = max(left.height, right.height)
        var canvas = RGBImage(width: width, height: height)
        for (image, offset) in [(left, 0), (right, left.width)] {
            for row in 0..<image.height {
                let source = row * image.width * 3
                let target = (row * width + offset) * 3
                canvas.pixels.replaceSubrange(target..<target + image.width * 3, with: image.pixels[source..<source + image.width * 3])
            }
        }
        return try canvas.pngData()
    }

    /// The photo shrunk by `factor` and enlarged back: the face stays, its detail goes.
    static func blurred(_ name: String, factor: Int) throws -> [UInt8] {
        let image = try decoded(name)
        let small = image.resizedBilinear(width: image.width / factor, height: image.height / factor)
        return try small.resizedBilinear(width: image.width, height: image.height).pngData()
    }

    /// A governed store (SQLite in a fresh folder, or a fresh PostgreSQL database), operations
    /// over it, and one key per role.
    struct Fixture {
        let backend: StoreBackend
        let folder: URL
        let store: any GalleryStore
        /// The SQLite store, for tests of the file itself; nil on PostgreSQL.
        let sqlite: SQLiteGalleryStore?
        let operations: MatcherOperations
        let admin: Caller
        let enroller: Caller
        let searcher: Caller
        let outsider: Caller
        let auditor: Caller
        let close: @Sendable () async -> Void

        var databaseFile: URL { folder.appending(path: "biomatch.sqlite") }

        /// Removes the folder; a PostgreSQL store is closed in the background (its database
        /// goes with the test server when the process ends).
        func cleanUp() {
            try? FileManager.default.removeItem(at: folder)
            let close = self.close
            Task { await close() }
        }

        func auditCount() async throws -> Int {
            try await operations.auditLog.entries(limit: 10_000).count
        }
    }

    /// Opens a fresh store of `backend` with the tables operations need.
    static func openStore(_ backend: StoreBackend, folder: URL) async throws -> OpenedGalleryStore {
        switch backend {
        case .sqlite:
            return try await GalleryStoreLocation.sqlite(folder.appending(path: "biomatch.sqlite")).openForOperations()
        case .postgresql:
            let location = try await TestPostgresServer.createDatabase()
            return try await GalleryStoreLocation.postgresql(location).openForOperations(
                snapshotDirectory: folder.appending(path: "indexes"))
        }
    }

    /// Operations over `store` with a fresh crop key and the default purposes and review policy.
    static func operations(
        on store: any GalleryStore, snapshotDirectory: URL? = nil, recognisers: RecognitionEngineRegistry? = nil
    ) async throws -> MatcherOperations {
        try await MatcherOperations.open(
            store: store, engine: try engine.get(), recognisers: recognisers, purposes: PurposePolicy(), reviewPolicy: ReviewPolicy(),
            cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: CropVault.generateKeyText()]),
            snapshotDirectory: snapshotDirectory)
    }

    static func fixture(_ backend: StoreBackend = .sqlite, recognisers: RecognitionEngineRegistry? = nil) async throws -> Fixture {
        let folder = FileManager.default.temporaryDirectory.appending(path: "operations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let opened = try await openStore(backend, folder: folder)
        let operations = try await operations(on: opened.store, recognisers: recognisers)
        func key(_ role: Role, _ scope: GalleryScope) async throws -> Caller {
            .key(try await operations.keys.create(name: "\(role) key", role: role, scope: scope, by: .system("test")).key.principal)
        }
        return Fixture(
            backend: backend, folder: folder, store: opened.store, sqlite: opened.store as? SQLiteGalleryStore,
            operations: operations,
            admin: try await key(.admin, .allGalleries),
            enroller: try await key(.enroller, .galleries(["custody"])),
            searcher: try await key(.searcher, .galleries(["custody"])),
            outsider: try await key(.searcher, .galleries(["immigration"])),
            auditor: try await key(.auditor, .galleries([])),
            // A SQLite store is left open, as before: closing its pool while the test's last
            // tasks still read it crashed in libsqlite3.
            close: backend == .postgresql ? opened.close : { @Sendable in })
    }
}

/// The two stores the operations suites run against.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    var testDescription: String { rawValue }
}
