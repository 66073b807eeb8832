import Foundation
import Hummingbird
import HummingbirdTesting
import Installation
import Logging
import ModelPreparation
import ONNXRuntime
import Testing
@testable import Server

@Suite struct HealthTests {
    @Test func healthReportsVersionsAndModelHashes() async throws {
        let report = HealthReport(
            version: "9.9.9",
            onnxRuntimeVersion: "1.32.0",
            models: [.init(identifier: "yunet-2023mar", file: "y.onnx", sha256: "abc", originalSHA256: "def")]
        )
        let router = Router()
        HealthController(report: report).addRoutes(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let decoded = try JSONDecoder().decode(HealthReport.self, from: Data(buffer: response.body))
                #expect(decoded == report)
            }
        }
    }
}

@Suite struct HealthReportGatheringTests {
    @Test func reportsTheRuntimeVersionAndThePreparedModelHashes() throws {
        let installation = Installation.fromEnvironment()
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        let report = try HealthReport.gather(installation: installation, runtime: runtime)
        #expect(report.onnxRuntimeVersion == "1.32.0")
        #expect(report.version == BioMatchVersion.current)
        // The preparation manifest recorded each file's hash when it was written.
        let prepared = try ModelPreparer(installation: installation).preparedModels()
        #expect(report.models.count == PinnedModel.allCases.count)
        for model in PinnedModel.allCases {
            let entry = try #require(report.models.first { $0.identifier == model.modelIdentifier })
            #expect(entry.sha256 == prepared[model]?.sha256)
            #expect(entry.originalSHA256 == model.originalSHA256)
            #expect(entry.file == model.preparedFileName)
        }
    }

    @Test func aMissingPreparedModelIsAnError() throws {
        let home = FileManager.default.temporaryDirectory.appending(path: "biomatch-health-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let real = Installation.fromEnvironment()
        let empty = Installation(home: home, onnxRuntimeLibrary: real.onnxRuntimeLibrary)
        let runtime = try ORTEnvironment(libraryPath: real.onnxRuntimeLibrary.path)
        #expect(throws: StartupError.modelNotPrepared(model: .yunet, path: empty.preparedFile(of: .yunet).path)) {
            try HealthReport.gather(installation: empty, runtime: runtime)
        }
    }
}
