import Foundation
import Installation

/// A prepared model file and the hashes that tie it to its source.
public struct PreparedModel: Sendable, Equatable {
    /// Which model this is.
    public var model: PinnedModel
    /// The prepared float32 ONNX file.
    public var file: URL
    /// SHA-256 of the prepared file, as recorded when it was written.
    public var sha256: String
    /// SHA-256 of the file it was prepared from.
    public var sourceSHA256: String
    /// The preparation pass revision that wrote it (`ModelPreparer.toolVersion`).
    public var toolVersion: String
    /// When it was written.
    public var preparedAt: Date

    /// Whether it was prepared from the pinned original rather than a custom file.
    public var isFromPinnedSource: Bool { sourceSHA256 == model.originalSHA256 }
}

/// Where a model stands: its source, its recorded preparation, and whether that is current.
public struct ModelStatus: Sendable, Equatable {
    /// Which model this is.
    public var model: PinnedModel
    /// The file preparation reads.
    public var sourceFile: URL
    /// SHA-256 of the source file, or nil when it is missing or unreadable.
    public var sourceSHA256: String?
    /// The preparation the manifest records, if any.
    public var preparation: PreparedModel?
    /// True when the recorded preparation matches the current source, pass revision and file bytes.
    public var isUpToDate: Bool
}

/// The JSON file beside the prepared models recording how each was made.
///
/// Shared by every preparer (this module's and other engines'): each keeps its own entries and
/// leaves the others untouched.
public struct PreparationManifest: Codable, Equatable, Sendable {
    /// One model's record; the file is stored by name so the home folder can move.
    public struct Entry: Codable, Equatable, Sendable {
        /// The prepared file's name in the prepared-models folder.
        public var fileName: String
        /// SHA-256 of the prepared file.
        public var sha256: String
        /// SHA-256 of the source it was prepared from.
        public var sourceSHA256: String
        /// The revision of the pass that wrote it.
        public var toolVersion: String
        /// When it was written, in whole seconds (``PreparationManifest/storedDate(_:)``).
        public var preparedAt: Date

        public init(fileName: String, sha256: String, sourceSHA256: String, toolVersion: String, preparedAt: Date) {
            self.fileName = fileName
            self.sha256 = sha256
            self.sourceSHA256 = sourceSHA256
            self.toolVersion = toolVersion
            self.preparedAt = preparedAt
        }
    }

    /// The manifest's file name in the prepared-models folder.
    public static let fileName = "manifest.json"

    /// `date` at the precision the manifest stores (whole seconds), so a record reads back equal.
    public static func storedDate(_ date: Date) -> Date {
        Date(timeIntervalSinceReferenceDate: date.timeIntervalSinceReferenceDate.rounded(.down))
    }

    /// Records keyed by model name (`PinnedModel.rawValue` for this module's models).
    public var models: [String: Entry] = [:]

    /// An empty manifest.
    public init() {}

    /// The manifest in `file`, or an empty one when the file does not exist.
    public static func read(from file: URL) throws(ModelPreparationError) -> PreparationManifest {
        guard FileManager.default.fileExists(atPath: file.path) else { return PreparationManifest() }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(PreparationManifest.self, from: Data(contentsOf: file))
        } catch {
            throw .unreadableManifest(file, reason: String(describing: error))
        }
    }

    /// Writes the manifest atomically.
    public func write(to file: URL) throws(ModelPreparationError) {
        do {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(self).write(to: file, options: .atomic)
        } catch {
            throw .writeFailed(file, reason: String(describing: error))
        }
    }
}
