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

    @Test func anEngineAddedOverHTTPIsTemplatedInTheBackgroundFollowedAsAJobAndDropped() async throws {
        let server = try await OwnServer.start(.sqlite, engines: try InstalledEngines.shared.get())
        defer { Task { await server.close() } }
        let client = server.client
        let admin = server.keys.admin.secret
        let created = try await client.send(
            .post, "/v1/galleries", template: "/v1/galleries", key: admin,
            body: .json(["name": "lineup", "purpose": "custody"]))
        #expect(created.status == 201)
        #expect(created.json?["keepsEnrolmentImages"] == true)
        #expect(created.json?["engines"]?.arrayValue?.map { $0["templatingJob"] } == [.null])
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            let enrolled = try await client.send(
                .post, "/v1/galleries/lineup/subjects", template: "/v1/galleries/{gallery}/subjects", key: admin,
                body: .multipart([.text("reference", reference), .file("images", try Photos.bytes(photo))]))
            #expect(enrolled.status == 201)
        }
        // Refused before any change: unknown engine, unknown gallery, a key that may not configure.
        let unknown = try await client.send(
            .post, "/v1/galleries/lineup/engines", template: "/v1/galleries/{gallery}/engines", key: admin,
            body: .json(["engine": "arcface"]))
        #expect(unknown.status == 400)
        let nowhere = try await client.send(
            .post, "/v1/galleries/nowhere/engines", template: "/v1/galleries/{gallery}/engines", key: admin,
            body: .json(["engine": "dlib"]))
        #expect(nowhere.status == 404)
        let searcher = try await client.send(
            .post, "/v1/galleries/lineup/engines", template: "/v1/galleries/{gallery}/engines",
            key: server.keys.searcher.secret, body: .json(["engine": "dlib"]))
        #expect(searcher.status == 403)
        let malformed = try await client.send(
            .post, "/v1/galleries/lineup/engines", template: "/v1/galleries/{gallery}/engines", key: admin,
            body: .json(["engines": "dlib"]))
        #expect(malformed.status == 400)
        let missingJob = try await client.send(.get, "/v1/engine-jobs/job-none", template: "/v1/engine-jobs/{job}", key: admin)
        #expect(missingJob.status == 404)

        let accepted = try await client.send(
            .post, "/v1/galleries/lineup/engines", template: "/v1/galleries/{gallery}/engines", key: admin,
            body: .json(["engine": "dlib"]))
        #expect(accepted.status == 202)
        let jobID = try #require(accepted.json?["id"]?.stringValue)
        #expect(accepted.headers[.location] == "/v1/engine-jobs/\(jobID)")
        #expect(accepted.json?["subjectsTotal"] == 2)
        var job = accepted.json
        let deadline = ContinuousClock.now + .seconds(60)
        while job?["state"] == "running", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            job = try await client.send(.get, "/v1/engine-jobs/\(jobID)", template: "/v1/engine-jobs/{job}", key: admin).json
        }
        #expect(job?["state"] == "completed")
        #expect(job?["subjectsDone"] == 2)
        #expect(job?["templatesMade"] == 2)
        #expect(job?["fractionDone"] == 1)
        let gallery = try await client.send(.get, "/v1/galleries/lineup", template: "/v1/galleries/{gallery}", key: admin)
        #expect(gallery.json?["engines"]?.arrayValue?.map { $0["identifier"] } == ["sface", "dlib"])
        #expect(gallery.json?["engines"]?.arrayValue?.map { $0["templatingJob"] } == [.null, .null])
        #expect(gallery.json?["templates"] == 4)
        let image = JSON.string(Data(try Photos.bytes("obama2.jpg")).base64EncodedString())
        let byDlib = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: admin,
            body: .json(justified(["gallery": "lineup", "image": image, "engine": "dlib"])))
        #expect(byDlib.status == 200)
        #expect(byDlib.json?["candidates"]?.arrayValue?.map { $0["subjectReference"] } == ["obama"])

        // An engine still being templated answers 409 to searches.
        _ = try await server.operations.dropEngine("dlib", from: "lineup", by: .localOperator(name: "test"))
        let pending = try await server.operations.addEngine("dlib", to: "lineup", by: .localOperator(name: "test"))
        let refused = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: admin,
            body: .json(justified(["gallery": "lineup", "image": image, "engine": "dlib"])))
        #expect(refused.status == 409)
        #expect(refused.json?["detail"]?.stringValue?.contains(pending.id) == true)

        let dropped = try await client.send(
            .delete, "/v1/galleries/lineup/engines/dlib", template: "/v1/galleries/{gallery}/engines/{engine}", key: admin)
        #expect(dropped.status == 200)
        #expect(dropped.json?["engines"] == ["sface"])
        let defaultEngine = try await client.send(
            .delete, "/v1/galleries/lineup/engines/sface", template: "/v1/galleries/{gallery}/engines/{engine}", key: admin)
        #expect(defaultEngine.status == 400)
    }

    @Test func fusionCalibrationAndEngineThresholdsAreShownAndSetByAdmins() async throws {
        let engines = try InstalledEngines.shared.get()
        let server = try await OwnServer.start(.sqlite, engines: engines)
        defer { Task { await server.close() } }
        let client = server.client
        let admin = server.keys.admin.secret
        let gallery = "/v1/galleries/{gallery}"
        let fusionPath = "/v1/galleries/{gallery}/fusion"
        let enginePath = "/v1/galleries/{gallery}/engines/{engine}/threshold"
        _ = try await client.send(
            .post, "/v1/galleries", template: "/v1/galleries", key: admin,
            body: .json(["name": "mixed", "purpose": "other", "engines": ["sface", "dlib"]]))
        _ = try await client.send(
            .post, "/v1/galleries/mixed/subjects", template: "/v1/galleries/{gallery}/subjects", key: admin,
            body: .multipart([.text("reference", "obama"), .file("images", try Photos.bytes("obama.jpg"))]))

        // Before any calibration: no fusion recorded, the built-in fused threshold, dlib's published 0.6.
        let before = try await client.send(.get, "/v1/galleries/mixed", template: gallery, key: admin)
        #expect(before.status == 200)
        #expect(before.json?["fusion"] == .null)
        #expect(abs((before.json?["fusionThreshold"]?.numberValue ?? 0) - 3.1) < 1e-6)
        #expect(before.json?["engines"]?.arrayValue?.map { $0["operatingThreshold"]?.numberValue.map { ($0 * 1000).rounded() } } == [363, 600])

        // The engines' published impostor figures, recorded with a threshold of the caller's.
        var statistics: [String: JSON] = [:]
        for name in ["sface", "dlib"] {
            let figures = try #require(try engines.registry.engine(named: name).profile.impostorSimilarity)
            statistics[name] = ["mean": .number(Double(figures.mean)), "deviation": .number(Double(figures.deviation))]
        }
        let calibration: [String: JSON] = [
            "threshold": 2.5, "targetFalseMatchRate": 0.001, "source": "ORL, 78,000 impostor pairs",
            "statistics": .object(statistics), "reason": "calibrated on ORL",
        ]
        let recorded = try await client.send(.put, "/v1/galleries/mixed/fusion", template: fusionPath, key: admin, body: .json(.object(calibration)))
        #expect(recorded.status == 200)
        #expect(recorded.json?["fusion"]?["threshold"] == 2.5)
        #expect(recorded.json?["fusion"]?["targetFalseMatchRate"] == 0.001)
        #expect(recorded.json?["fusion"]?["source"] == "ORL, 78,000 impostor pairs")
        #expect(recorded.json?["fusion"]?["statistics"]?.objectValue.map { Set($0.keys) } == ["sface", "dlib"])
        #expect(recorded.json?["fusionThreshold"] == 2.5)
        let shown = try await client.send(.get, "/v1/galleries/mixed", template: gallery, key: admin)
        #expect(shown.json?["fusion"] == recorded.json?["fusion"])
        // Fused searches now default to the recorded threshold.
        let image = JSON.string(Data(try Photos.bytes("obama2.jpg")).base64EncodedString())
        let searched = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: admin,
            body: .json(justified(["gallery": "mixed", "image": image, "engine": "fusion"])))
        #expect(searched.json?["threshold"] == 2.5)
        #expect(searched.json?["candidates"]?.arrayValue?.map { $0["subjectReference"] } == ["obama"])

        // dlib's own threshold, then back to its published one; the default engine's is the gallery's.
        let dlib = try await client.send(
            .put, "/v1/galleries/mixed/engines/dlib/threshold", template: enginePath, key: admin,
            body: .json(["threshold": 0.5, "reason": "dlib at FMR 1e-4"]))
        #expect(dlib.status == 200)
        #expect(dlib.json?["engines"]?.arrayValue?[1]["operatingThreshold"] == 0.5)
        let reset = try await client.send(
            .put, "/v1/galleries/mixed/engines/dlib/threshold", template: enginePath, key: admin,
            body: .json(["threshold": nil, "reason": "published"]))
        #expect(reset.status == 200)
        #expect(reset.json?["engines"]?.arrayValue?[1]["operatingThreshold"]?.numberValue.map { ($0 * 1000).rounded() } == 600)
        let sface = try await client.send(
            .put, "/v1/galleries/mixed/engines/sface/threshold", template: enginePath, key: admin,
            body: .json(["threshold": 0.5, "reason": "sface at FMR 1e-6"]))
        #expect(sface.json?["operatingThreshold"] == 0.5)
        #expect(sface.json?["engines"]?.arrayValue?[0]["operatingThreshold"] == 0.5)

        // Bad input: typed problems, never a 500, and nothing changes.
        let auditBefore = try await server.operations.auditLog.entries(limit: 10_000).count
        func rejected(_ path: String, _ template: String, _ body: TestBody, key: String? = nil) async throws -> (Int, String?) {
            let reply = try await client.send(.put, path, template: template, key: key ?? admin, body: body)
            return (reply.status, reply.json?["errors"]?.arrayValue?.first?["pointer"]?.stringValue)
        }
        var single = calibration
        single["statistics"] = ["sface": statistics["sface"]!]
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(single))) == (400, "/statistics"))
        var foreign = calibration
        foreign["statistics"] = ["sface": statistics["sface"]!, "arcface": statistics["dlib"]!]
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(foreign))) == (400, "/statistics"))
        var flat = calibration
        flat["statistics"] = ["sface": statistics["sface"]!, "dlib": ["mean": -0.76, "deviation": 0]]
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(flat))) == (400, "/statistics"))
        var rate = calibration
        rate["targetFalseMatchRate"] = 2
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(rate))) == (400, "/targetFalseMatchRate"))
        var unreasoned = calibration
        unreasoned["reason"] = " "
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(unreasoned))) == (400, "/reason"))
        var missing = calibration
        missing["statistics"] = nil
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(missing))).0 == 400)
        var mistyped = calibration
        mistyped["threshold"] = "high"
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(mistyped))).0 == 400)
        #expect(try await rejected("/v1/galleries/nowhere/fusion", fusionPath, .json(.object(calibration))).0 == 404)
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .json(.object(calibration)), key: server.keys.searcher.secret).0 == 403)
        #expect(try await rejected("/v1/galleries/mixed/fusion", fusionPath, .raw(Array("threshold=2".utf8), contentType: "text/plain")).0 == 415)
        #expect(try await rejected("/v1/galleries/mixed/engines/arcface/threshold", enginePath, .json(["threshold": 0.5, "reason": "r"])) == (400, "/engine"))
        #expect(try await rejected("/v1/galleries/mixed/engines/dlib/threshold", enginePath, .json(["threshold": 1.5, "reason": "r"])) == (400, "/threshold"))
        #expect(try await rejected("/v1/galleries/mixed/engines/dlib/threshold", enginePath, .json(["reason": "r"])).0 == 400)
        #expect(try await rejected("/v1/galleries/mixed/engines/sface/threshold", enginePath, .json(["threshold": nil, "reason": "r"])) == (400, "/threshold"))
        #expect(try await rejected("/v1/galleries/nowhere/engines/dlib/threshold", enginePath, .json(["threshold": 0.5, "reason": "r"])).0 == 404)
        #expect(try await server.operations.auditLog.entries(limit: 10_000).count == auditBefore)
        let after = try await client.send(.get, "/v1/galleries/mixed", template: gallery, key: admin)
        #expect(after.json?["fusion"] == recorded.json?["fusion"])
    }
}
