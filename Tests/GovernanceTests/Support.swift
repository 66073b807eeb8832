import Crypto
import Foundation
import Gallery
import Governance
import Installation
import Testing

/// A SQLite gallery store with the governance tables, in a new temporary folder.
struct GovernedStore {
    let directory: URL
    let store: SQLiteGalleryStore

    var location: URL { store.location }

    /// Opens another store on the same file, as a second process (the CLI beside the server) would.
    func reopened() throws -> SQLiteGalleryStore {
        try SQLiteGalleryStore(location: location, additionalMigrations: GovernanceSchema.migrations(for: .sqlite))
    }
}

/// Runs `body` on a fresh governed SQLite store, then deletes its folder.
func withGovernedStore<T>(_ body: (GovernedStore) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appending(path: "governance-tests-\(UUID().uuidString)", directoryHint: .isDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteGalleryStore(
        location: directory.appending(path: "biomatch.sqlite"),
        additionalMigrations: GovernanceSchema.migrations(for: .sqlite))
    return try await body(GovernedStore(directory: directory, store: store))
}

/// The GovernanceError `body` throws, or nil (recording an issue) if it succeeds or throws
/// something else.
func governanceFailure<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> GovernanceError? {
    do {
        _ = try await body()
        Issue.record("expected a GovernanceError, but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as GovernanceError {
        return error
    } catch {
        Issue.record("expected a GovernanceError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Expects `body` to fail with exactly `expected` (compared by description, which names every
/// associated value).
func expectFailure<T>(
    _ expected: GovernanceError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
    let error = await governanceFailure(sourceLocation: sourceLocation, body)
    #expect(error?.description == expected.description, sourceLocation: sourceLocation)
}

enum Fixtures {
    static let model = "sface-2021dec"

    /// SHA-256 of a real test photo, as probes and enrolment sources are recorded.
    static func photoDigest(_ index: Int) throws -> String {
        let names = ["obama", "obama2", "obama3", "biden"]
        let photo = Installation.fromEnvironment().testPhotosDirectory.appending(path: "\(names[index % names.count]).jpg")
        return try FileDigest.sha256(of: photo)
    }

    /// A unit vector pointing mostly along `axis`: distinct per subject, normalised as the store requires.
    static func template(axis: Int, source: String) -> NewTemplate {
        var vector = [Float](repeating: 0.05, count: TemplateFormat.dimension)
        vector[axis % TemplateFormat.dimension] = 1
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return NewTemplate(
            modelIdentifier: model, vector: vector.map { $0 / norm }, quality: TemplateQuality(detectionScore: 0.9),
            sourceImageSHA256: source, capturedAt: Date(timeIntervalSince1970: 1_750_000_000))
    }

    static func subject(_ reference: String, axis: Int) throws -> NewSubject {
        NewSubject(
            externalReference: reference, attributes: [:], retainUntil: nil,
            templates: [template(axis: axis, source: try photoDigest(axis))])
    }

    static func gallery(_ name: String, purpose: GalleryPurpose = .custody) -> NewGallery {
        NewGallery(
            name: name, description: "governance test gallery", purpose: purpose, retention: .indefinite,
            modelIdentifier: model)
    }

    static let admin = Principal(keyID: APIKey.ID(1), name: "test admin", role: .admin, scope: .allGalleries)
    static let enroller = Principal(keyID: APIKey.ID(2), name: "test enroller", role: .enroller, scope: .galleries(["custody"]))
    static let searcher = Principal(keyID: APIKey.ID(3), name: "test searcher", role: .searcher, scope: .galleries(["custody"]))
    static let justification = SearchJustification(purpose: "missing-person", caseReference: "CASE-2026/0042")
}

/// The number of rows in a table, read through the store's own API.
func rowCount(_ table: String, orderedBy column: String, in store: any GalleryStore) async throws -> Int {
    try await store.records(in: table, orderedBy: column, after: nil, limit: 10_000).count
}
