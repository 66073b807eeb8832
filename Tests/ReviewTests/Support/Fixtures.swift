import Crypto
import FaceEngine
import Foundation
import GRDB
import Gallery
import PostgresTestSupport
import Governance
import Imaging
import Installation
import Logging
import PostgresNIO
import Review
import Testing

/// A real face from a real photo: its template and the aligned crop the template came from.
struct AnalysedPhoto: Sendable {
    let name: String
    let sha256: String
    let face: AnalyzedFace

    var crop: RGBImage { face.alignedCrop! }

    var newTemplate: NewTemplate {
        NewTemplate(
            modelIdentifier: face.template.modelIdentifier, vector: face.template.values,
            quality: TemplateQuality(detectionScore: face.detection.score, measures: ["sharpness": Float(face.quality.sharpness)]),
            sourceImageSHA256: sha256, capturedAt: Date(timeIntervalSince1970: 1_750_000_000))
    }

    var probeFace: ProbeFace {
        ProbeFace(
            crop: crop, detectionScore: face.detection.score,
            quality: [
                "interOcularDistance": Float(face.quality.interOcularDistance),
                "sharpness": Float(face.quality.sharpness),
            ])
    }

    func score(against other: AnalysedPhoto) throws -> Float {
        try face.template.cosineSimilarity(to: other.face.template)
    }
}

enum Photos {
    static let installation = Installation.fromEnvironment()

    /// One engine that keeps aligned crops, shared by every test.
    static let engine = Result { () throws(FaceEngineError) in
        try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
    }

    /// The largest face of each test photo, analysed once.
    static let analysed = Task<[String: AnalysedPhoto], any Error> {
        let analyser = try Photos.engine.get()
        var photos: [String: AnalysedPhoto] = [:]
        for name in ["obama", "obama2", "obama3", "biden", "astronaut"] {
            let file = installation.testPhotosDirectory.appending(path: "\(name).\(name == "astronaut" ? "png" : "jpg")")
            let bytes = try Data(contentsOf: file)
            let faces = try await analyser.analyze(imageBytes: [UInt8](bytes))
            let largest = try #require(faces.max { $0.detection.box.area < $1.detection.box.area })
            photos[name] = AnalysedPhoto(name: name, sha256: FileDigest.sha256(of: bytes), face: largest)
        }
        return photos
    }

    static func photo(_ name: String) async throws -> AnalysedPhoto {
        let photos = try await analysed.value
        return try #require(photos[name])
    }
}

enum People {
    static let admin = Caller.key(Principal(keyID: APIKey.ID(1), name: "admin", role: .admin, scope: .allGalleries))
    static let custodyReviewer = Caller.key(
        Principal(keyID: APIKey.ID(2), name: "R. Custody", role: .reviewer, scope: .galleries(["custody"])))
    static let watchlistReviewer = Caller.key(
        Principal(keyID: APIKey.ID(3), name: "R. Watchlist", role: .reviewer, scope: .galleries(["watchlist"])))
    static let searcher = Caller.key(
        Principal(keyID: APIKey.ID(4), name: "S. Earcher", role: .searcher, scope: .galleries(["custody", "watchlist", "immigration"])))
    static let enroller = Caller.key(
        Principal(keyID: APIKey.ID(5), name: "E. Nroller", role: .enroller, scope: .galleries(["custody"])))
    static let justification = SearchJustification(purpose: "criminal-investigation", caseReference: "OP-2026/0117")
}

/// The two stores every storage test runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    var testDescription: String { rawValue }

    var dialect: SQLDialect { self == .sqlite ? .sqlite : .postgresql }

    var migrations: [SchemaMigration] {
        GovernanceSchema.migrations(for: dialect) + ReviewSchema.migrations(for: dialect)
    }

    /// A fresh store with the governance and review tables, and raw access to its database.
    func withStore<T: Sendable>(_ body: (ReviewBench) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            return try await withTemporaryDirectory { directory in
                let location = directory.appending(path: "biomatch.sqlite")
                let store = try SQLiteGalleryStore(location: location, additionalMigrations: migrations)
                return try await body(try ReviewBench(store: store, raw: .sqlite(location)))
            }
        case .postgresql:
            return try await TestPostgresServer.withDatabase { configuration in
                var logger = Logger(label: "biomatch.review.tests")
                // Connections still opening when a test ends report their cancellation at info level.
                logger.logLevel = .warning
                let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    await Task.yield()
                    let store = try await PostgresGalleryStore.open(client: client, additionalMigrations: migrations)
                    return try await body(try ReviewBench(store: store, raw: .postgresql(client)))
                }
            }
        }
    }
}

/// Direct access to a test database, bypassing the store: what an attacker or a forensic
/// examiner with the files would see.
enum RawDatabase: Sendable {
    case sqlite(URL)
    case postgresql(PostgresClient)

    /// The number of rows of `table` whose `column` equals `value` (all rows without a column).
    func count(_ table: String, where column: String? = nil, equals value: Int64 = 0) async throws -> Int {
        let condition = column.map { " WHERE \($0) = \(value)" } ?? ""
        let sql = "SELECT COUNT(*) FROM \(table)\(condition)"
        switch self {
        case .sqlite(let location):
            let queue = try DatabaseQueue(path: location.path)
            return try await queue.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
        case .postgresql(let client):
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "biomatch.review.tests"))
            var count = 0
            for try await value in rows.decode(Int64.self) { count = Int(value) }
            return count
        }
    }

    /// Overwrites the `sealed` column of one row (the update triggers must be dropped first).
    func replaceSealed(in table: String, keyColumn: String, key: Int64, with bytes: Data) async throws {
        let sql = "UPDATE \(table) SET sealed = $1 WHERE \(keyColumn) = $2"
        switch self {
        case .sqlite(let location):
            let queue = try DatabaseQueue(path: location.path)
            try await queue.write { db in try db.execute(sql: sql.replacingOccurrences(of: "$1", with: "?1").replacingOccurrences(of: "$2", with: "?2"), arguments: [bytes, key]) }
        case .postgresql(let client):
            var bindings = PostgresBindings()
            try bindings.append(bytes)
            bindings.append(key)
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: Logger(label: "biomatch.review.tests"))
        }
    }

    /// Every blob `sql` selects (SQLite only; PostgreSQL tests read through counts).
    func blobs(_ sql: String) async throws -> [Data] {
        guard case .sqlite(let location) = self else { return [] }
        let queue = try DatabaseQueue(path: location.path)
        return try await queue.read { db in try Data.fetchAll(db, sql: sql) }
    }

    /// Runs statements as the database owner would, bypassing the store (and its checks).
    func execute(_ statements: [String]) async throws {
        switch self {
        case .sqlite(let location):
            let queue = try DatabaseQueue(path: location.path)
            try await queue.write { db in
                for statement in statements { try db.execute(sql: statement) }
            }
        case .postgresql(let client):
            for statement in statements {
                try await client.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "biomatch.review.tests"))
            }
        }
    }
}

/// A store with a ledger and a vault on a fresh random key.
struct ReviewBench: Sendable {
    let store: any GalleryStore
    let raw: RawDatabase
    let vault: CropVault
    let ledger: ReviewLedger

    init(store: any GalleryStore, raw: RawDatabase) throws {
        self.store = store
        self.raw = raw
        vault = try CropVault(key: SymmetricKey(size: .bits256))
        ledger = ReviewLedger(store: store, vault: vault)
    }

    var crops: CropStore { ledger.crops }
    var auditLog: AuditLog { ledger.auditLog }

    func gallery(_ name: String, purpose: GalleryPurpose) async throws -> GalleryRecord {
        try await store.createGallery(
            NewGallery(
                name: name, description: "review test gallery", purpose: purpose, retention: .indefinite,
                modelIdentifier: PinnedModel.sface.modelIdentifier))
    }

    /// Enrols one subject per photo, stores each template's crop, and returns them in order.
    func enrol(_ photos: [AnalysedPhoto], in gallery: GalleryRecord) async throws -> [EnrolledSubject] {
        var enrolled: [EnrolledSubject] = []
        for photo in photos {
            let subject = try await store.enrol(
                NewSubject(
                    externalReference: "\(gallery.name)-\(photo.name)", attributes: [:], retainUntil: nil,
                    templates: [photo.newTemplate]),
                in: gallery.id)
            try await crops.storeEnrolmentCrops([EnrolmentCrop(templateID: subject.templates[0].id, crop: photo.crop)])
            enrolled.append(subject)
        }
        return enrolled
    }

    /// A search of `gallery` with `probe`: every enrolled subject ranked by its real cosine score.
    func search(
        _ probe: AnalysedPhoto, against enrolled: [(EnrolledSubject, AnalysedPhoto)], in gallery: GalleryRecord
    ) throws -> SearchRecord {
        let scored = try enrolled.map { subject, photo in (subject, try probe.score(against: photo)) }
            .sorted { $0.1 > $1.1 }
        let candidates = scored.enumerated().map { position, pair in
            SearchCandidate(
                rank: position + 1, subjectID: pair.0.subject.id, subjectReference: pair.0.subject.externalReference,
                score: pair.1, templateID: pair.0.templates[0].id)
        }
        return SearchRecord(
            gallery: gallery, justification: People.justification, probeSHA256: probe.sha256,
            threshold: gallery.operatingThreshold, parameters: ["k": .integer(Int64(candidates.count))],
            candidates: candidates, probeFaces: [probe.probeFace])
    }
}

/// A new folder under the temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appending(path: "review-tests-\(UUID().uuidString)", directoryHint: .isDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// The error `body` throws, recording an issue if it succeeds or throws another type.
func failure<E: Error, T>(
    _ type: E.Type, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> E? {
    do {
        _ = try await body()
        Issue.record("expected a \(E.self), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected a \(E.self), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// How many of the 32-byte pieces taken every 1 KiB from `secret` occur in `haystack`.
/// A blob spans several pages, so a piece straddling a page boundary may be missed even when
/// the blob is there; the control blobs show most pieces are found.
func piecesFound(of secret: Data, in haystack: Data) -> (found: Int, of: Int) {
    let starts = Array(stride(from: secret.startIndex, to: secret.endIndex - 32, by: 1_024))
    let found = starts.filter { haystack.containsBytes(secret[$0..<($0 + 32)]) }.count
    return (found, starts.count)
}

/// The bytes of a SQLite database file and its write-ahead log, as a disk image would hold them.
func fileBytes(of location: URL) throws -> Data {
    var bytes = try Data(contentsOf: location)
    let log = URL(filePath: location.path + "-wal")
    if FileManager.default.fileExists(atPath: log.path) { bytes.append(try Data(contentsOf: log)) }
    return bytes
}

extension Data {
    /// Whether `needle` occurs anywhere in these bytes.
    func containsBytes(_ needle: Data) -> Bool { range(of: needle) != nil }
}
