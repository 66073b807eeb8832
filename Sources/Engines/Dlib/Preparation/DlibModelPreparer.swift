import Foundation
import Installation
import ModelPreparation
import ONNXSchema
import SwiftProtobuf

/// Converts dlib's `dlib_face_recognition_resnet_model_v1.dat` into the ONNX graph ONNX Runtime runs.
///
/// The source is pinned by its SHA-256 (``PinnedDlibModel/resNet``), parsed and checked against
/// ``DlibResNetArchitecture`` by ``DlibNetworkParser``, and written by ``DlibONNXBuilder`` into the
/// prepared-models folder. The result is recorded in the same `manifest.json` as the other
/// prepared models (under `dlib-resnet`), with its source's and its own SHA-256 and this pass's
/// revision, so preparing again with unchanged inputs only re-hashes, and a stale or tampered
/// file is converted again.
public struct DlibModelPreparer: Sendable {
    /// Revision of the conversion; files written by another revision are converted again.
    public static let toolVersion = "dlib-onnx-1"
    /// The model this preparer converts.
    public static let model = PinnedDlibModel.resNet

    /// Where the converted file and the manifest go.
    public let installation: Installation
    /// The folder holding the `.dat` file.
    public let sourceDirectory: URL
    /// Whether a source whose SHA-256 is not the pinned one is accepted (its architecture is still checked).
    public let acceptsCustomModels: Bool

    /// - Parameters:
    ///   - installation: where the converted model is written.
    ///   - sourceDirectory: where the `.dat` file is read; defaults to `installation.originalModelsDirectory`.
    ///   - acceptsCustomModels: accept a source that is not the pinned file.
    public init(installation: Installation, sourceDirectory: URL? = nil, acceptsCustomModels: Bool = false) {
        self.installation = installation
        self.sourceDirectory = sourceDirectory ?? installation.originalModelsDirectory
        self.acceptsCustomModels = acceptsCustomModels
    }

    /// The `.dat` file conversion reads.
    public var sourceFile: URL { sourceDirectory.appending(path: Self.model.originalFileName) }

    /// The converted ONNX file.
    public var preparedFile: URL {
        installation.preparedModelsDirectory.appending(path: Self.preparedFileName)
    }

    private static var preparedFileName: String {
        Self.model.preparedFileName ?? "dlib_face_recognition_resnet_model_v1.prepared.onnx"
    }

    private var manifestFile: URL {
        installation.preparedModelsDirectory.appending(path: PreparationManifest.fileName)
    }

    /// Converts the model unless its recorded conversion is still current (or `force` is set).
    public func prepare(force: Bool = false) throws(DlibPreparationError) -> PreparedDlibModel {
        let source = sourceFile
        guard FileManager.default.fileExists(atPath: source.path) else { throw .missingSource(source) }
        let sourceBytes: Data
        do {
            sourceBytes = try Data(contentsOf: source)
        } catch {
            throw .unreadableFile(source, reason: String(describing: error))
        }
        let sourceSHA256 = FileDigest.sha256(of: sourceBytes)
        if sourceSHA256 != Self.model.originalSHA256 && !acceptsCustomModels {
            throw .checksumMismatch(file: source, expected: Self.model.originalSHA256, actual: sourceSHA256)
        }
        var manifest = try readManifest()
        if !force, let current = currentPreparation(sourceSHA256: sourceSHA256, manifest: manifest) {
            return current
        }

        let bytes: Data
        do {
            let network = try DlibNetworkParser.resNet.parse([UInt8](sourceBytes))
            let model = try DlibONNXBuilder.model(of: network, producerVersion: Self.toolVersion)
            do {
                bytes = try model.serializedBytes()
            } catch {
                throw DlibPreparationError.writeFailed(preparedFile, reason: "cannot serialise the graph: \(error)")
            }
        } catch let error as DlibNetworkError {
            throw .invalidNetwork(file: source, error)
        } catch let error as DlibPreparationError {
            throw error
        } catch {
            throw .writeFailed(preparedFile, reason: String(describing: error))
        }

        do {
            try FileManager.default.createDirectory(at: installation.preparedModelsDirectory, withIntermediateDirectories: true)
            try bytes.write(to: preparedFile, options: .atomic)
        } catch {
            throw .writeFailed(preparedFile, reason: String(describing: error))
        }
        let entry = PreparationManifest.Entry(
            fileName: Self.preparedFileName, sha256: FileDigest.sha256(of: bytes), sourceSHA256: sourceSHA256,
            toolVersion: Self.toolVersion, preparedAt: PreparationManifest.storedDate(Date())
        )
        manifest.models[Self.model.rawValue] = entry
        do {
            try manifest.write(to: manifestFile)
        } catch {
            throw .manifest(error)
        }
        return preparedModel(from: entry)
    }

    /// The recorded conversion, if any, and whether it is current (same source, same pass, intact
    /// bytes); hashes the files and never throws for missing ones.
    public func status() throws(DlibPreparationError) -> DlibModelStatus {
        let sourceSHA256 = try? FileDigest.sha256(of: sourceFile)
        let manifest = try readManifest()
        return DlibModelStatus(
            sourceFile: sourceFile, sourceSHA256: sourceSHA256,
            preparation: manifest.models[Self.model.rawValue].map(preparedModel(from:)),
            isUpToDate: sourceSHA256.flatMap { currentPreparation(sourceSHA256: $0, manifest: manifest) } != nil
        )
    }

    // MARK: - Steps

    private func readManifest() throws(DlibPreparationError) -> PreparationManifest {
        do {
            return try PreparationManifest.read(from: manifestFile)
        } catch {
            throw .manifest(error)
        }
    }

    private func currentPreparation(sourceSHA256: String, manifest: PreparationManifest) -> PreparedDlibModel? {
        guard let entry = manifest.models[Self.model.rawValue],
              entry.sourceSHA256 == sourceSHA256,
              entry.toolVersion == Self.toolVersion,
              entry.fileName == Self.preparedFileName
        else { return nil }
        let record = preparedModel(from: entry)
        guard let actual = try? FileDigest.sha256(of: record.file), actual == entry.sha256 else { return nil }
        return record
    }

    private func preparedModel(from entry: PreparationManifest.Entry) -> PreparedDlibModel {
        PreparedDlibModel(
            file: installation.preparedModelsDirectory.appending(path: entry.fileName), sha256: entry.sha256,
            sourceSHA256: entry.sourceSHA256, toolVersion: entry.toolVersion, preparedAt: entry.preparedAt
        )
    }
}

/// The converted ResNet file and the hashes that tie it to its source.
public struct PreparedDlibModel: Sendable, Equatable {
    /// The ONNX file.
    public var file: URL
    /// SHA-256 of the ONNX file, as recorded when it was written.
    public var sha256: String
    /// SHA-256 of the `.dat` file it was converted from.
    public var sourceSHA256: String
    /// The conversion revision that wrote it (``DlibModelPreparer/toolVersion``).
    public var toolVersion: String
    /// When it was written.
    public var preparedAt: Date

    /// Whether it was converted from the pinned file rather than a custom one.
    public var isFromPinnedSource: Bool { sourceSHA256 == PinnedDlibModel.resNet.originalSHA256 }
}

/// Where the ResNet stands: its source, its recorded conversion, and whether that is current.
public struct DlibModelStatus: Sendable, Equatable {
    /// The `.dat` file conversion reads.
    public var sourceFile: URL
    /// SHA-256 of the source, or nil when it is missing or unreadable.
    public var sourceSHA256: String?
    /// The conversion the manifest records, if any.
    public var preparation: PreparedDlibModel?
    /// True when the recorded conversion matches the current source, pass revision and file bytes.
    public var isUpToDate: Bool
}
