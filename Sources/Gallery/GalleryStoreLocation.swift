import Foundation
import Installation
import Logging

/// Which gallery store to open: a SQLite file (the embedded default) or a PostgreSQL database
/// on one or more hosts. `serve` and every command of the CLI read it the same way (`--store`,
/// then `BIOMATCH_STORE`, then the SQLite file under the data folder).
public enum GalleryStoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// A SQLite file, created when missing.
    case sqlite(URL)
    /// A PostgreSQL database; the store follows its primary.
    case postgresql(PostgresLocation)

    /// The environment variable naming the store (a PostgreSQL URL or a SQLite file path).
    public static let environmentKey = "BIOMATCH_STORE"
    /// The environment variable naming the folder of index snapshots for a PostgreSQL store.
    public static let snapshotDirectoryKey = "BIOMATCH_SNAPSHOT_DIRECTORY"

    /// A PostgreSQL URL (see ``PostgresLocation``), a `sqlite:` URL or a plain path of a SQLite file.
    public init(parsing text: String) throws(GalleryError) {
        if PostgresLocation.isURL(text) {
            self = .postgresql(try PostgresLocation(url: text))
        } else if text.hasPrefix("sqlite://") {
            self = .sqlite(URL(filePath: String(text.dropFirst("sqlite://".count))))
        } else if text.hasPrefix("sqlite:") {
            self = .sqlite(URL(filePath: String(text.dropFirst("sqlite:".count))))
        } else if text.isEmpty || text.contains("://") {
            throw .invalidInput(field: "store", reason: "'\(text)' is neither a postgresql:// URL nor a SQLite file path")
        } else {
            self = .sqlite(URL(filePath: text))
        }
    }

    /// `text` when given, else `BIOMATCH_STORE`, else the SQLite file under the data folder.
    public static func resolve(
        _ text: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        installation: Installation = .fromEnvironment()
    ) throws(GalleryError) -> GalleryStoreLocation {
        if let text { return try GalleryStoreLocation(parsing: text) }
        if let text = environment[environmentKey], !text.isEmpty { return try GalleryStoreLocation(parsing: text) }
        return .sqlite(SQLiteGalleryStore.defaultLocation(in: installation))
    }

    /// The location without secrets, for logs and the health report.
    public var description: String {
        switch self {
        case .sqlite(let file): "sqlite:\(file.path)"
        case .postgresql(let location): location.description
        }
    }

    /// Opens (creating and migrating) the store, with the additional migrations for its kind
    /// (``SchemaMigration`` SQL is written per database).
    /// Index snapshots of a SQLite store live beside its file; those of a PostgreSQL store in
    /// `snapshotDirectory`, else `BIOMATCH_SNAPSHOT_DIRECTORY`, else `<data>/postgresql-<database>.indexes`
    /// (give each node its own when several run on one machine). A PostgreSQL store with no
    /// reachable primary is waited for up to `waitForPrimary` (a server starting beside its
    /// database), then reported as ``GalleryError/unavailable(retryAfterSeconds:reason:)``.
    public func open(
        sqliteMigrations: [SchemaMigration], postgresMigrations: [SchemaMigration], snapshotDirectory: URL? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        installation: Installation = .fromEnvironment(),
        settings: PostgresPrimaryLocator.Settings = .init(), waitForPrimary: Duration = .zero,
        logger: Logger = Logger(label: "biomatch.gallery")
    ) async throws(GalleryError) -> OpenedGalleryStore {
        switch self {
        case .sqlite(let file):
            let store = try SQLiteGalleryStore(location: file, additionalMigrations: sqliteMigrations)
            return OpenedGalleryStore(
                store: store, location: self, snapshotDirectory: snapshotDirectory ?? store.indexSnapshotDirectory,
                close: { store.close() })
        case .postgresql(let location):
            let deadline = ContinuousClock.now + waitForPrimary
            var opened: PostgresGalleryStore?
            while opened == nil {
                do {
                    opened = try await PostgresGalleryStore.open(
                        location: location, additionalMigrations: postgresMigrations, settings: settings,
                        logger: logger)
                } catch {
                    guard case .unavailable(let seconds, let reason) = error, ContinuousClock.now < deadline else { throw error }
                    logger.warning(
                        "waiting for a PostgreSQL primary", metadata: ["store.location": "\(location)", "store.problem": "\(reason)"])
                    try? await Task.sleep(for: .seconds(min(seconds, 2)))
                }
            }
            guard let store = opened else { throw .unavailable(retryAfterSeconds: 1, reason: "no primary") }
            let directory = snapshotDirectory
                ?? environment[Self.snapshotDirectoryKey].flatMap { $0.isEmpty ? nil : URL(filePath: $0, directoryHint: .isDirectory) }
                ?? installation.dataDirectory.appending(
                    path: "postgresql-\(location.database).indexes", directoryHint: .isDirectory)
            return OpenedGalleryStore(
                store: store, location: self, snapshotDirectory: directory, close: { await store.close() })
        }
    }
}

/// An open gallery store with what its users need beside it: where its index snapshots go, and
/// how to close it.
public struct OpenedGalleryStore: Sendable {
    /// The store.
    public let store: any GalleryStore
    /// Where it was opened.
    public let location: GalleryStoreLocation
    /// The folder for this store's index snapshots.
    public let snapshotDirectory: URL
    /// Closes the store (checkpoints a SQLite file; shuts down PostgreSQL connections).
    public let close: @Sendable () async -> Void
}
