import Foundation
import Testing
import Installation
import ModelPreparation
import ONNXSchema
import SwiftProtobuf

/// Both real models prepared once into a temporary home, shared by the tests that only read them.
enum SharedPreparation {
    struct Fixture: Sendable {
        let preparer: ModelPreparer
        let prepared: [PinnedModel: PreparedModel]
    }

    static let fixture: Result<Fixture, ModelPreparationError> = {
        let preparer = ModelPreparer(
            installation: Installation(home: sharedHome()),
            sourceDirectory: Installation.fromEnvironment().originalModelsDirectory
        )
        return Result { () throws(ModelPreparationError) in
            var prepared: [PinnedModel: PreparedModel] = [:]
            for model in PinnedModel.allCases { prepared[model] = try preparer.prepare(model) }
            return Fixture(preparer: preparer, prepared: prepared)
        }
    }()

    /// A home folder for this test process; folders left by finished processes are removed
    /// first, since swift-testing has no hook that runs after the last test.
    private static func sharedHome() -> URL {
        let prefix = "biomatch-prep-shared-"
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        where name.hasPrefix(prefix) {
            if let owner = Int32(name.dropFirst(prefix.count)), kill(owner, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appending(path: name))
            }
        }
        let home = temporary.appending(path: prefix + String(getpid()), directoryHint: .isDirectory)
        try? FileManager.default.removeItem(at: home)
        return home
    }

    static func prepared(_ model: PinnedModel) throws -> PreparedModel {
        try #require(try fixture.get().prepared[model])
    }
}

/// Runs `body` with a fresh folder under the system temporary directory, removed afterwards.
func withTemporaryDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appending(path: "biomatch-prep-\(UUID().uuidString)", directoryHint: .isDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// The real shipped file of a model.
func originalFile(of model: PinnedModel) -> URL {
    Installation.fromEnvironment().originalFile(of: model)
}

func loadModel(_ file: URL) throws -> Onnx_ModelProto {
    try Onnx_ModelProto(serializedBytes: Data(contentsOf: file))
}

/// Writes `bytes` into `directory` under `model`'s shipped file name and returns that file.
@discardableResult
func writeSource(_ bytes: Data, as model: PinnedModel, in directory: URL) throws -> URL {
    let file = directory.appending(path: model.originalFileName)
    try bytes.write(to: file)
    return file
}

/// A float32 initializer holding `values` in `float_data`.
func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    tensor.dims = dims
    tensor.floatData = values
    return tensor
}

/// A float tensor's declared shape for graph inputs and outputs; `-1` becomes a named symbolic dimension.
func valueInfo(_ name: String, _ shape: [Int]) -> Onnx_ValueInfoProto {
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    info.type.tensorType.shape.dim = shape.enumerated().map { position, size in
        var dimension = Onnx_TensorShapeProto.Dimension()
        if size < 0 { dimension.dimParam = "d\(position)" } else { dimension.dimValue = Int64(size) }
        return dimension
    }
    return info
}

/// A model holding `graph` on the default operator set 21 (IR 10), as the prepared files are.
func opset21Model(_ graph: Onnx_GraphProto) -> Onnx_ModelProto {
    var model = Onnx_ModelProto()
    model.irVersion = 10
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 21
    model.opsetImport = [opset]
    model.graph = graph
    return model
}
