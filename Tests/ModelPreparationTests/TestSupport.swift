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
