import Foundation
import Gallery
import PostgresTestSupport
import Testing

/// The two stores the shared suite runs against.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    var testDescription: String { rawValue }

    /// Opens a fresh, empty store of this kind (a new SQLite file in a temporary folder, or a new
    /// database on the test PostgreSQL server) for the duration of `body`.
    func withStore<T: Sendable>(
        additionalMigrations: [SchemaMigration] = [], _ body: (any GalleryStore) async throws -> T
    ) async throws -> T {
        switch self {
        case .sqlite:
            return try await withTemporaryDirectory { directory in
                let store = try SQLiteGalleryStore(
                    location: directory.appending(path: "gallery.sqlite"), additionalMigrations: additionalMigrations)
                return try await body(store)
            }
        case .postgresql:
            return try await TestPostgresServer.withDatabase { configuration in
                try await PostgresGalleryStore.withStore(
                    configuration: configuration, additionalMigrations: additionalMigrations
                ) { store in
                    try await body(store)
                }
            }
        }
    }
}

/// A new folder under the temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appending(path: "gallery-tests-\(UUID().uuidString)", directoryHint: .isDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Expects `body` to fail with exactly `expected` (compared by description, which names every
/// associated value).
func expectFailure<T>(
    _ expected: GalleryError, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws(GalleryError) -> T
) async {
    do {
        _ = try await body()
        Issue.record("expected \(expected), but the call succeeded", sourceLocation: sourceLocation)
    } catch {
        #expect(error.description == expected.description, sourceLocation: sourceLocation)
    }
}
