import Foundation
import Matching

/// Why a gallery's index was rebuilt from the store instead of loaded from its snapshot.
public enum RebuildReason: Sendable, Equatable, CustomStringConvertible {
    /// The service was opened without a snapshot folder.
    case snapshotsDisabled
    /// No snapshot of the gallery was on disk.
    case missing
    /// The snapshot reflects an older (or other) state of the gallery than the store holds.
    case stale(snapshotRevision: Int64, storeRevision: Int64)
    /// The snapshot could not be used: damaged, truncated, another format version, another
    /// gallery or template model, or its two files do not belong together.
    case unusable(String)
    /// The change feed could not bring the index up to the store's revision (changes missing
    /// from it, for example made by a build without the feed).
    case feedIncomplete(indexRevision: Int64, storeRevision: Int64)

    public var description: String {
        switch self {
        case .snapshotsDisabled: "snapshots disabled"
        case .missing: "no snapshot"
        case let .stale(snapshotRevision, storeRevision):
            "stale snapshot (revision \(snapshotRevision), store at \(storeRevision))"
        case let .unusable(reason): "unusable snapshot: \(reason)"
        case let .feedIncomplete(indexRevision, storeRevision):
            "the change feed reaches revision \(indexRevision) of \(storeRevision)"
        }
    }
}

/// How a gallery's in-memory index was obtained when the service opened.
public enum IndexOrigin: Sendable, Equatable, CustomStringConvertible {
    /// Loaded from a snapshot that reflects exactly the store's current state of the gallery.
    case snapshot
    /// Loaded from an older snapshot and brought up to date from the store's change feed.
    case caughtUp(snapshotRevision: Int64, storeRevision: Int64)
    /// Read from the store, template by template.
    case rebuilt(RebuildReason)

    public var description: String {
        switch self {
        case .snapshot: "snapshot"
        case let .caughtUp(snapshotRevision, storeRevision):
            "snapshot at revision \(snapshotRevision), caught up from the change feed to \(storeRevision)"
        case let .rebuilt(reason): "rebuilt (\(reason))"
        }
    }
}

/// How one gallery's index came to be when the service opened: what `biomatch serve` logs.
public struct IndexLoadReport: Sendable, Equatable {
    /// The gallery's name.
    public var gallery: String
    /// Live templates in the index.
    public var templates: Int
    /// Snapshot or rebuild, and why.
    public var origin: IndexOrigin
    /// Wall-clock time to obtain the index, in milliseconds (including the snapshot written after a rebuild).
    public var milliseconds: Double
    /// Why no fresh snapshot could be written after a rebuild (nil when one was, or none was wanted).
    public var snapshotProblem: String?
}

/// What happened to one gallery when the service wrote snapshots.
public enum SnapshotOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The snapshot was written for this store revision.
    case written(revision: Int64)
    /// The snapshot on disk already holds this revision (the gallery did not change since it
    /// was loaded or written), so nothing was written.
    case upToDate(revision: Int64)
    /// No snapshot was written (and any old one was removed), because the index could not be
    /// shown to match the store: the reason says why.
    case skipped(String)
    /// Writing failed; the gallery has no snapshot now.
    case failed(String)

    public var description: String {
        switch self {
        case let .written(revision): "written at revision \(revision)"
        case let .upToDate(revision): "up to date at revision \(revision)"
        case let .skipped(reason): "skipped: \(reason)"
        case let .failed(reason): "failed: \(reason)"
        }
    }
}

/// How the service holds each gallery's templates in memory.
public enum IndexEncoding: String, Sendable, CaseIterable, CustomStringConvertible {
    /// int8 codes scanned, float vectors kept to re-rank the best exactly: results equal exact
    /// float search. About 660 bytes per template.
    case int8Rerank = "int8-rerank"
    /// int8 codes only, for tens of millions of templates on one machine: about 150 bytes per
    /// template with its identifiers. A score differs from the exact cosine by at most about 0.01
    /// (the quantisation bound `Matching.FlatIndex.Encoding.int8` documents), so candidates closer
    /// than that may swap ranks. 1:1 verification always compares the stored float vectors.
    case int8

    /// The default: exact results.
    public static let `default` = IndexEncoding.int8Rerank

    /// `BIOMATCH_INDEX_ENCODING` (`int8-rerank` or `int8`), or the default when unset; the
    /// server and the command line read the same setting, so they reuse each other's snapshots.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(IdentificationError) -> IndexEncoding {
        guard let value = environment["BIOMATCH_INDEX_ENCODING"], !value.isEmpty else { return .default }
        guard let encoding = IndexEncoding(rawValue: value) else {
            throw .invalidInput(
                field: "BIOMATCH_INDEX_ENCODING",
                reason: "'\(value)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return encoding
    }

    public var description: String { rawValue }

    var flatEncoding: FlatIndex.Encoding {
        switch self {
        case .int8Rerank: .int8Rerank
        case .int8: .int8
        }
    }
}
