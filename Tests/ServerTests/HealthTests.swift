import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import Server

@Suite struct HealthTests {
    @Test func healthReportsVersionsAndModelHashes() async throws {
        let report = HealthReport(
            version: "9.9.9",
            onnxRuntimeVersion: "1.32.0",
            models: [.init(identifier: "yunet-2023mar", file: "y.onnx", sha256: "abc", originalSHA256: "def")]
        )
        let app = buildApplication(
            configuration: .init(host: "127.0.0.1", port: 0),
            health: report,
            logger: Logger(label: "test")
        )
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
