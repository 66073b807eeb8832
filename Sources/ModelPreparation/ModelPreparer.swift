import Foundation
import Installation
import ONNXSchema
import SwiftProtobuf

/// Turns the shipped int8bq ONNX models into float32 files ONNX Runtime 1.32 loads and runs fast.
///
/// The shipped files fail on ONNX Runtime 1.32 (YuNet's per-tensor `block_size` dequantization)
/// or run slowly (SFace's initializers listed as inputs are never constant-folded). Preparation
/// folds every constant `DequantizeLinear` into a float32 initializer, keeps only real inputs,
/// drops unused initializers and makes the input sizes symbolic. It also rewrites SFace's
/// per-channel `PRelu`s as depthwise convolutions (``ChannelSlopeRewrite``), which ONNX Runtime
/// runs about 2.7 times as fast. Each prepared file is recorded
/// with its source's and its own SHA-256 in `manifest.json` beside it, so preparing again with
/// unchanged inputs only re-hashes, and a tampered or stale prepared file is redone.
public struct ModelPreparer: Sendable {
    /// Revision of the preparation pass; files written by another revision are prepared again.
    public static let toolVersion = "2"

    /// Where the prepared files and the manifest go.
    public let installation: Installation
    /// The folder holding the original files, named as `PinnedModel.originalFileName`.
    public let sourceDirectory: URL
    /// Whether a source whose SHA-256 is not the pinned one is accepted (its graph is still checked).
    public let acceptsCustomModels: Bool

    /// - Parameters:
    ///   - installation: where prepared models are written.
    ///   - sourceDirectory: where the originals are read; defaults to `installation.originalModelsDirectory`.
    ///   - acceptsCustomModels: accept sources that are not the pinned files.
    public init(installation: Installation, sourceDirectory: URL? = nil, acceptsCustomModels: Bool = false) {
        self.installation = installation
        self.sourceDirectory = sourceDirectory ?? installation.originalModelsDirectory
        self.acceptsCustomModels = acceptsCustomModels
    }

    /// The original file preparation reads for `model`.
    public func sourceFile(of model: PinnedModel) -> URL {
        sourceDirectory.appending(path: model.originalFileName)
    }

    /// The manifest recording each prepared file.
    public var manifestFile: URL {
        installation.preparedModelsDirectory.appending(path: PreparationManifest.fileName)
    }

    /// Prepares `model` unless its recorded preparation is still current (or `force` is set).
    ///
    /// Refuses a source whose SHA-256 is not `model.originalSHA256` unless custom models are
    /// accepted, and any source without the model's inputs and outputs (`model.signature`).
    public func prepare(_ model: PinnedModel, force: Bool = false) throws(ModelPreparationError) -> PreparedModel {
        let source = sourceFile(of: model)
        let sourceSHA256 = try checkedSourceHash(of: model, at: source)
        var manifest = try PreparationManifest.read(from: manifestFile)
        if !force, let current = currentPreparation(of: model, sourceSHA256: sourceSHA256, manifest: manifest) {
            return current
        }

        var proto = try decodeModel(at: source)
        try GraphPreparation(model: model, sourceFile: source).run(on: &proto)
        let bytes: Data
        do {
            bytes = try proto.serializedBytes()
        } catch {
            throw .malformedModel(file: source, reason: "cannot serialise the prepared graph: \(error)")
        }

        let destination = installation.preparedFile(of: model)
        do {
            try FileManager.default.createDirectory(
                at: installation.preparedModelsDirectory, withIntermediateDirectories: true
            )
            try bytes.write(to: destination, options: .atomic)
        } catch {
            throw .writeFailed(destination, reason: String(describing: error))
        }

        let entry = PreparationManifest.Entry(
            fileName: destination.lastPathComponent, sha256: FileDigest.sha256(of: bytes),
            sourceSHA256: sourceSHA256, toolVersion: Self.toolVersion, preparedAt: PreparationManifest.storedDate(Date())
        )
        manifest.models[model.rawValue] = entry
        try manifest.write(to: manifestFile)
        return preparedModel(model, from: entry)
    }

    /// Prepares every pinned model, in `PinnedModel.allCases` order.
    public func prepareAll(force: Bool = false) throws(ModelPreparationError) -> [PreparedModel] {
        var prepared: [PreparedModel] = []
        for model in PinnedModel.allCases {
            prepared.append(try prepare(model, force: force))
        }
        return prepared
    }

    /// The prepared models the manifest records whose files exist, without re-hashing them.
    ///
    /// Cheap enough for health checks; `status(of:)` verifies the bytes.
    public func preparedModels() throws(ModelPreparationError) -> [PinnedModel: PreparedModel] {
        let manifest = try PreparationManifest.read(from: manifestFile)
        var prepared: [PinnedModel: PreparedModel] = [:]
        for (key, entry) in manifest.models {
            guard let model = PinnedModel(rawValue: key) else { continue }
            let record = preparedModel(model, from: entry)
            if FileManager.default.fileExists(atPath: record.file.path) { prepared[model] = record }
        }
        return prepared
    }

    /// Where `model` stands, hashing its source and prepared file; never throws for missing files.
    public func status(of model: PinnedModel) throws(ModelPreparationError) -> ModelStatus {
        let source = sourceFile(of: model)
        let sourceSHA256 = try? FileDigest.sha256(of: source)
        let manifest = try PreparationManifest.read(from: manifestFile)
        let recorded = manifest.models[model.rawValue].map { preparedModel(model, from: $0) }
        let current = sourceSHA256.flatMap { currentPreparation(of: model, sourceSHA256: $0, manifest: manifest) }
        return ModelStatus(
            model: model, sourceFile: source, sourceSHA256: sourceSHA256,
            preparation: recorded, isUpToDate: current != nil
        )
    }

    // MARK: - Steps

    /// Hashes the source and applies the pinning policy.
    private func checkedSourceHash(of model: PinnedModel, at source: URL) throws(ModelPreparationError) -> String {
        guard FileManager.default.fileExists(atPath: source.path) else { throw .missingSource(model, file: source) }
        let sha256: String
        do {
            sha256 = try FileDigest.sha256(of: source)
        } catch {
            throw .unreadableFile(source, reason: String(describing: error))
        }
        if sha256 != model.originalSHA256 && !acceptsCustomModels {
            throw .checksumMismatch(model, file: source, expected: model.originalSHA256, actual: sha256)
        }
        return sha256
    }

    /// The recorded preparation if it came from this source with this pass and its bytes are intact.
    private func currentPreparation(
        of model: PinnedModel, sourceSHA256: String, manifest: PreparationManifest
    ) -> PreparedModel? {
        guard let entry = manifest.models[model.rawValue],
              entry.sourceSHA256 == sourceSHA256,
              entry.toolVersion == Self.toolVersion,
              entry.fileName == model.preparedFileName
        else { return nil }
        let record = preparedModel(model, from: entry)
        guard let actual = try? FileDigest.sha256(of: record.file), actual == entry.sha256 else { return nil }
        return record
    }

    private func decodeModel(at source: URL) throws(ModelPreparationError) -> Onnx_ModelProto {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: source)
        } catch {
            throw .unreadableFile(source, reason: String(describing: error))
        }
        do {
            return try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw .malformedModel(file: source, reason: String(describing: error))
        }
    }

    private func preparedModel(_ model: PinnedModel, from entry: PreparationManifest.Entry) -> PreparedModel {
        PreparedModel(
            model: model, file: installation.preparedModelsDirectory.appending(path: entry.fileName),
            sha256: entry.sha256, sourceSHA256: entry.sourceSHA256, toolVersion: entry.toolVersion,
            preparedAt: entry.preparedAt
        )
    }
}
