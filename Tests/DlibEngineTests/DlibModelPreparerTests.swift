import DlibEngine
import Foundation
import Installation
import ModelPreparation
import ONNXSchema
import SwiftProtobuf
import Testing

/// Converting dlib's ResNet: the graph written, the manifest, the pinning policy and the cache.
@Suite struct DlibModelPreparerTests {
    @Test func writesAStandardOpset17GraphAndRecordsIt() throws {
        let fixture = try SharedDlibConversion.fixture.get()
        let prepared = fixture.prepared
        #expect(prepared.file.lastPathComponent == "dlib_face_recognition_resnet_model_v1.prepared.onnx")
        #expect(prepared.isFromPinnedSource)
        #expect(prepared.sourceSHA256 == PinnedDlibModel.resNet.originalSHA256)
        #expect(prepared.toolVersion == DlibModelPreparer.toolVersion)
        #expect(try FileDigest.sha256(of: prepared.file) == prepared.sha256)

        let model = try Onnx_ModelProto(serializedBytes: Data(contentsOf: prepared.file))
        #expect(model.opsetImport.map(\.version) == [17])
        #expect(model.opsetImport.allSatisfy { $0.domain.isEmpty })
        let standard: Set<String> = ["Sub", "Div", "Conv", "Mul", "Add", "Relu", "MaxPool", "AveragePool", "Pad",
                                     "GlobalAveragePool", "Flatten", "MatMul", "Identity"]
        #expect(Set(model.graph.node.map(\.opType)).isSubset(of: standard))
        #expect(model.graph.node.filter { $0.opType == "Conv" }.count == 29)
        // One zero-padded operand per down block: channels and/or rows and columns.
        #expect(model.graph.node.filter { $0.opType == "Pad" }.count == 5)
        #expect(model.graph.input.map(\.name) == ["chips"])
        #expect(model.graph.output.map(\.name) == ["descriptors"])
        let inputDims = model.graph.input[0].type.tensorType.shape.dim
        #expect(inputDims.first?.dimParam == "N" && inputDims.dropFirst().map(\.dimValue) == [3, 150, 150])
        let weights = model.graph.initializer.reduce(0) { $0 + $1.floatData.count }
        #expect(weights == 5_614_592 + 3 + 1)  // the parameters, the three means, the divisor 256

        let manifest = try PreparationManifest.read(
            from: fixture.preparer.installation.preparedModelsDirectory.appending(path: PreparationManifest.fileName))
        #expect(manifest.models["dlib-resnet"]?.sha256 == prepared.sha256)
        #expect(try fixture.preparer.status().isUpToDate)
    }

    @Test func keepsACurrentConversionRedoesAStaleOneAndKeepsOtherEntries() throws {
        try withTemporaryFolder { folder in
            let installation = Installation(home: folder)
            let preparer = DlibModelPreparer(
                installation: installation, sourceDirectory: SharedDlibConversion.installation.originalModelsDirectory)
            #expect(try preparer.status().preparation == nil)

            // Another preparer's entry in the shared manifest survives.
            try FileManager.default.createDirectory(at: installation.preparedModelsDirectory, withIntermediateDirectories: true)
            let manifestFile = installation.preparedModelsDirectory.appending(path: PreparationManifest.fileName)
            var manifest = PreparationManifest()
            let other = PreparationManifest.Entry(fileName: "other.onnx", sha256: "aa", sourceSHA256: "bb", toolVersion: "2",
                                                  preparedAt: PreparationManifest.storedDate(Date()))
            manifest.models["yunet"] = other
            try manifest.write(to: manifestFile)

            let first = try preparer.prepare()
            let firstModified = try Self.modificationDate(of: first.file)
            let second = try preparer.prepare()
            #expect(second == first)
            #expect(try Self.modificationDate(of: second.file) == firstModified)
            #expect(try PreparationManifest.read(from: manifestFile).models["yunet"] == other)

            // A tampered file is stale and converted again to the same bytes.
            try Data("tampered".utf8).write(to: first.file)
            #expect(try !preparer.status().isUpToDate)
            let redone = try preparer.prepare()
            #expect(redone.sha256 == first.sha256)
            #expect(try FileDigest.sha256(of: redone.file) == first.sha256)
        }
    }

    @Test func refusesAnUnpinnedSourceAndChecksACustomOne() throws {
        try withTemporaryFolder { folder in
            let sources = folder.appending(path: "sources", directoryHint: .isDirectory)
            try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
            let source = sources.appending(path: PinnedDlibModel.resNet.originalFileName)
            let installation = Installation(home: folder)

            let missing = DlibModelPreparer(installation: installation, sourceDirectory: sources)
            #expect(throws: DlibPreparationError.missingSource(source)) { try missing.prepare() }

            // The real file with one byte more: not the pinned hash, and not a valid network either.
            var bytes = try Data(contentsOf: SharedDlibConversion.installation.originalFile(of: PinnedDlibModel.resNet))
            bytes.append(0)
            try bytes.write(to: source)
            let sha256 = FileDigest.sha256(of: bytes)
            #expect(throws: DlibPreparationError.checksumMismatch(
                file: source, expected: PinnedDlibModel.resNet.originalSHA256, actual: sha256)) {
                try DlibModelPreparer(installation: installation, sourceDirectory: sources).prepare()
            }
            #expect(throws: DlibPreparationError.invalidNetwork(
                file: source, .malformed(.trailingBytes(offset: bytes.count - 1, count: 1)))) {
                try DlibModelPreparer(installation: installation, sourceDirectory: sources, acceptsCustomModels: true).prepare()
            }
            #expect(!FileManager.default.fileExists(atPath: installation.preparedModelsDirectory.path))
        }
    }

    private static func modificationDate(of file: URL) throws -> Date? {
        try FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date
    }
}
