import DlibEngine
import Foundation
import Imaging
import Installation
import ONNXRuntime

/// dlib's ResNet converted once per test process into a temporary home, and the runtime, shared
/// by the tests that only read them.
enum SharedDlibConversion {
    struct Fixture: Sendable {
        let preparer: DlibModelPreparer
        let prepared: PreparedDlibModel
    }

    static let installation = Installation.fromEnvironment()

    static let fixture: Result<Fixture, DlibPreparationError> = Result { () throws(DlibPreparationError) in
        let preparer = DlibModelPreparer(
            installation: Installation(home: temporaryHome(prefix: "biomatch-dlib-shared-")),
            sourceDirectory: installation.originalModelsDirectory
        )
        return Fixture(preparer: preparer, prepared: try preparer.prepare())
    }

    static let environment: Result<ORTEnvironment, ORTError> = Result { () throws(ORTError) in
        try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path(percentEncoded: false))
    }

    /// The descriptor model on the converted graph.
    static let model: Result<DlibDescriptorModel, any Error> = Result {
        try DlibDescriptorModel(environment: environment.get(), file: fixture.get().prepared.file)
    }

    /// A home folder for this test process; folders left by finished processes are removed
    /// first, since swift-testing has no hook that runs after the last test.
    static func temporaryHome(prefix: String) -> URL {
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
}

/// Runs `body` with a fresh folder under the system temporary directory, removed afterwards.
func withTemporaryFolder<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appending(path: "biomatch-dlib-\(UUID().uuidString)", directoryHint: .isDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// `Fixtures/descriptors/`: dlib 20.0's chips and descriptors on the public-domain test photos,
/// written by `tools/dlib/descriptors.py`.
struct DlibDescriptorFixture: Decodable {
    struct Chip: Decodable {
        let name: String
        let photo: String
        let chip: String
        let descriptor: [Float]
    }

    let dlib: String
    let resnetSHA256: String
    let chips: [Chip]

    static let folder: URL = {
        guard let url = Bundle.module.url(forResource: "descriptors", withExtension: nil, subdirectory: "Fixtures")
        else { fatalError("Fixtures/descriptors is not in the test bundle") }
        return url
    }()

    static func load() throws -> DlibDescriptorFixture {
        try JSONDecoder().decode(DlibDescriptorFixture.self, from: Data(contentsOf: folder.appending(path: "descriptors.json")))
    }

    /// The chip dlib cut, decoded from its PNG.
    func image(of chip: Chip) throws -> RGBImage {
        try ImageDecoder().decode(contentsOf: Self.folder.appending(path: chip.chip))
    }
}
