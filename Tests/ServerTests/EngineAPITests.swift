import DlibEngine
import FaceEngine
import Foundation
import Installation
import ONNXRuntime
import SFaceEngine
import Testing
@testable import Server

/// The shared detector with SFace and dlib behind the engine seam, loaded once.
struct InstalledEngines: Sendable {
    let faceEngine: FaceEngine
    let registry: RecognitionEngineRegistry

    static let shared: Result<InstalledEngines, any Error> = Result {
        let installation = Installation.fromEnvironment()
        let faceEngine = try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        return InstalledEngines(
            faceEngine: faceEngine,
            registry: try RecognitionEngineRegistry(engines: [
                SFaceRecognitionEngine(faceEngine: faceEngine, installation: installation),
                try DlibRecognitionEngine(environment: runtime, installation: installation),
            ]))
    }
}

/// A gallery of SFace and dlib over HTTP: every response checked against the OpenAPI document.
@Suite(.serialized) struct EngineAPITests {
    func justified(_ members: [String: JSON]) -> JSON {
        .object(members.merging(["purpose": "criminal-investigation", "caseReference": "CASE-2026-0113"]) { $1 })
    }

    @Test func galleriesOfTwoEnginesAreSearchedAndVerifiedByEitherOrFused() async throws {
        let server = try await OwnServer.start(.sqlite, engines: try InstalledEngines.shared.get())
        defer { Task { await server.close() } }
        let client = server.client
        let admin = server.keys.admin.secret
        let created = try await client.send(
            .post, "/v1/galleries", template: "/v1/galleries", key: admin,
            body: .json(["name": "mixed", "purpose": "other", "engines": ["sface", "dlib"], "defaultEngine": "dlib"]))
        #expect(created.status == 201)
        #expect(created.json?["defaultEngine"] == "dlib")
        #expect(abs((created.json?["operatingThreshold"]?.numberValue ?? 0) - 0.6) < 1e-6)
        #expect(created.json?["engines"]?.arrayValue?.map { $0["scoreDirection"] } == ["higher-is-more-alike", "lower-is-more-alike"])
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            let enrolled = try await client.send(
                .post, "/v1/galleries/mixed/subjects", template: "/v1/galleries/{gallery}/subjects", key: admin,
                body: .multipart([.text("reference", reference), .file("images", try Photos.bytes(photo))]))
            #expect(enrolled.status == 201)
            #expect(enrolled.json?["templates"]?.arrayValue?.map { $0["modelIdentifier"] } == ["sface-2021dec", "dlib-resnet-v1"])
        }
        let image = JSON.string(Data(try Photos.bytes("obama2.jpg")).base64EncodedString())
        for (engine, direction) in [(nil, "lower-is-more-alike"), ("sface", "higher-is-more-alike"), ("fusion", "higher-is-more-alike")] {
            var body: [String: JSON] = ["gallery": "mixed", "image": image]
            if let engine { body["engine"] = .string(engine) }
            let reply = try await client.send(.post, "/v1/search", template: "/v1/search", key: admin, body: .json(justified(body)))
            #expect(reply.status == 200)
            #expect(reply.json?["engine"] == .string(engine ?? "dlib"))
            #expect(reply.json?["scoreDirection"] == .string(direction))
            #expect(reply.json?["candidates"]?.arrayValue?.map { $0["subjectReference"] } == ["obama"], "\(engine ?? "default")")
        }
        let verified = try await client.send(
            .post, "/v1/verify", template: "/v1/verify", key: admin,
            body: .json(justified(["gallery": "mixed", "subjectReference": "biden", "image": image])))
        #expect(verified.json?["engine"] == "dlib")
        #expect(verified.json?["isMatch"] == false)
        #expect((verified.json?["score"]?.numberValue ?? 0) > 0.6)
        let audit = try await server.operations.auditLog.entries()
        #expect(audit.last?.parameters.contains("\"engine\":\"dlib\"") == true)
    }
}
