import Foundation
import Gallery
import Governance
import HTTPTypes
import Hummingbird
import Testing
import Transparency
@testable import Server

/// The API end to end: the real server on a loopback port, the real models, a real SQLite file.
/// Serialized, since several tests compare the store before and after a refused request.
@Suite(.serialized) struct APITests {
    let server: TestServer
    let client: APIClient

    init() async throws {
        try await self.init(backend: .sqlite)
    }

    /// The suite on another store (``PostgresAPITests`` runs the key flows on PostgreSQL).
    init(backend: StoreBackend) async throws {
        server = try await TestServer.get(backend)
        client = APIClient(server: server)
    }

    var keys: TestKeys { server.keys }
    var custody: String { TestServer.custody }

    func base64(_ photo: String) throws -> JSON { .string(Data(try Photos.bytes(photo)).base64EncodedString()) }

    func justified(_ members: [String: JSON]) -> JSON {
        .object(members.merging(["purpose": "criminal-investigation", "caseReference": "CASE-2026-0042"]) { $1 })
    }

    /// Runs `body`, then checks the store is as it was.
    func expectUnchanged(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let before = try await server.snapshot()
        try await body()
        let after = try await server.snapshot()
        #expect(before == after, "the store changed", sourceLocation: sourceLocation)
    }

    func expectProblem(
        _ reply: TestReply, _ status: Int, _ type: ProblemType, pointer: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "body: \(String(decoding: reply.body, as: UTF8.self))", sourceLocation: sourceLocation)
        let problem = reply.problem
        #expect(problem?.type == type.uri, sourceLocation: sourceLocation)
        if let pointer {
            #expect(problem?.errors?.contains { $0.pointer == pointer } == true, "errors: \(problem?.errors ?? [])", sourceLocation: sourceLocation)
        }
    }

    // MARK: - Public routes

    @Test func publicRoutesNeedNoKey() async throws {
        let health = try await client.send(.get, "/health", template: "/health")
        #expect(health.status == 200)
        #expect(health.json?["status"] == "ok")
        let document = try await client.send(.get, "/openapi.json", template: "/openapi.json")
        #expect(document.status == 200)
        #expect(document.json?["openapi"] == "3.1.0")
        #expect(document.json == server.document)
        let metrics = try await client.send(.get, "/metrics", template: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.mediaType == "text/plain")
    }

    // MARK: - Galleries

    @Test func galleriesAreCreatedListedReadReconfiguredAndErased() async throws {
        let admin = keys.admin.secret
        let created = try await client.send(
            .post, "/v1/galleries", template: "/v1/galleries", key: admin,
            body: .json(["name": "watch list", "purpose": "watchlist", "retentionDays": 30, "operatingThreshold": 0.4]))
        #expect(created.status == 201)
        #expect(created.headers[.location] == "/v1/galleries/watch%20list")
        #expect(created.json?["retentionDays"] == 30)
        #expect(created.json?["subjects"] == 0)

        let duplicate = try await client.send(
            .post, "/v1/galleries", template: "/v1/galleries", key: admin, body: .json(["name": "watch list", "purpose": "watchlist"]))
        expectProblem(duplicate, 409, .conflict, pointer: "/name")

        let all = try await client.send(.get, "/v1/galleries", template: "/v1/galleries", key: admin)
        let names = all.json?["galleries"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(Set(names) == [custody, TestServer.evaluation, "watch list"])
        let scoped = try await client.send(.get, "/v1/galleries", template: "/v1/galleries", key: keys.searcher.secret)
        #expect(scoped.json?["galleries"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == [custody])

        let read = try await client.send(.get, "/v1/galleries/custody", template: "/v1/galleries/{gallery}", key: keys.reviewer.secret)
        #expect(read.status == 200)
        #expect(read.json?["purpose"] == "custody")
        #expect((read.json?["subjects"]?.numberValue ?? 0) >= 2)

        let raised = try await client.send(
            .put, "/v1/galleries/watch%20list/threshold", template: "/v1/galleries/{gallery}/threshold", key: admin,
            body: .json(["threshold": 0.5, "reason": "target FMR 1e-4 after the 2026 evaluation"]))
        #expect(raised.status == 200)
        #expect(raised.json?["operatingThreshold"]?.numberValue.map { abs($0 - 0.5) < 1e-6 } == true)
        let noReason = try await client.send(
            .put, "/v1/galleries/watch%20list/threshold", template: "/v1/galleries/{gallery}/threshold", key: admin,
            body: .json(["threshold": 0.6, "reason": " "]))
        expectProblem(noReason, 400, .invalidRequest, pointer: "/reason")
        let enrollerConfigures = try await client.send(
            .put, "/v1/galleries/custody/threshold", template: "/v1/galleries/{gallery}/threshold", key: keys.enroller.secret,
            body: .json(["threshold": 0.6, "reason": "no"]))
        expectProblem(enrollerConfigures, 403, .forbidden)

        let erased = try await client.send(.delete, "/v1/galleries/watch%20list", template: "/v1/galleries/{gallery}", key: admin)
        #expect(erased.status == 200)
        #expect(erased.json == ["gallery": "watch list", "subjectsErased": 0, "templatesErased": 0])
        let gone = try await client.send(.get, "/v1/galleries/watch%20list", template: "/v1/galleries/{gallery}", key: admin)
        expectProblem(gone, 404, .notFound)
        let entries = try await server.auditEntries()
        #expect(entries.suffix(3).map(\.action) == [.galleryCreated, .thresholdChanged, .galleryDeleted])
    }

    // MARK: - Subjects

    @Test func subjectsAreEnrolledListedReadExtendedAndErased() async throws {
        let enroller = keys.enroller.secret
        let multipart = try await client.send(
            .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: enroller,
            body: .multipart([
                .text("reference", "P-100"), .text("attributes", #"{"demographic.sex":"male","source":"custody suite 4"}"#),
                .file("images", try Photos.bytes("obama2.jpg")),
            ]))
        #expect(multipart.status == 201)
        #expect(multipart.headers[.location] == "/v1/galleries/custody/subjects/P-100")
        #expect(multipart.json?["attributes"]?["source"] == "custody suite 4")
        #expect(multipart.json?["templates"]?.arrayValue?.count == 1)

        let json = try await client.send(
            .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: enroller,
            body: .json(["reference": "P-101", "retainUntil": "2040-01-01T00:00:00Z", "images": [try base64("obama3.jpg")]]))
        #expect(json.status == 201)
        #expect(json.json?["retainUntil"] == "2040-01-01T00:00:00Z")

        let firstPage = try await client.send(
            .get, "/v1/galleries/custody/subjects?limit=1", template: "/v1/galleries/{gallery}/subjects", key: keys.reviewer.secret)
        #expect(firstPage.json?["subjects"]?.arrayValue?.count == 1)
        let cursor = try #require(firstPage.json?["nextCursor"]?.numberValue)
        let rest = try await client.send(
            .get, "/v1/galleries/custody/subjects?after=\(Int(cursor))&limit=1000", template: "/v1/galleries/{gallery}/subjects",
            key: keys.reviewer.secret)
        let references = rest.json?["subjects"]?.arrayValue?.compactMap { $0["reference"]?.stringValue } ?? []
        #expect(references.contains("P-100") && references.contains("P-101"))
        #expect(rest.json?["nextCursor"] == .null)

        let added = try await client.send(
            .post, "/v1/galleries/custody/subjects/P-100/images", template: "/v1/galleries/{gallery}/subjects/{reference}/images",
            key: enroller, body: .multipart([.file("images", try Photos.bytes("obama3.jpg"))]))
        #expect(added.status == 201)
        #expect(added.json?["templates"]?.arrayValue?.count == 1)
        let read = try await client.send(
            .get, "/v1/galleries/custody/subjects/P-100", template: "/v1/galleries/{gallery}/subjects/{reference}",
            key: keys.reviewer.secret)
        #expect(read.json?["templates"]?.arrayValue?.count == 2)
        #expect(read.json?["templates"]?.arrayValue?.first?["sourceImageSHA256"] != nil)

        let searcherErases = try await client.send(
            .delete, "/v1/galleries/custody/subjects/P-100", template: "/v1/galleries/{gallery}/subjects/{reference}",
            key: keys.searcher.secret)
        expectProblem(searcherErases, 403, .forbidden)
        for reference in ["P-100", "P-101"] {
            let erased = try await client.send(
                .delete, "/v1/galleries/custody/subjects/\(reference)?reason=subject%20request",
                template: "/v1/galleries/{gallery}/subjects/{reference}", key: enroller)
            #expect(erased.status == 200)
            #expect(erased.json?["reference"] == .string(reference))
        }
        let gone = try await client.send(
            .get, "/v1/galleries/custody/subjects/P-100", template: "/v1/galleries/{gallery}/subjects/{reference}", key: enroller)
        expectProblem(gone, 404, .notFound)
    }

    @Test func aRefusedEnrolmentStoresNothing() async throws {
        try await expectUnchanged {
            // Every image must hold a usable face: the second is not an image, so neither is stored.
            let refused = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: keys.enroller.secret,
                body: .multipart([
                    .text("reference", "P-200"), .file("images", try Photos.bytes("obama2.jpg")),
                    .file("images", Array("not an image".utf8)),
                ]))
            expectProblem(refused, 422, .unprocessableImage, pointer: "/images/1")
            let duplicate = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: keys.enroller.secret,
                body: .json(["reference": "obama", "images": [try base64("obama2.jpg")]]))
            expectProblem(duplicate, 409, .conflict)
            let noImages = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: keys.enroller.secret,
                body: .json(["reference": "P-201", "images": []]))
            expectProblem(noImages, 400, .invalidRequest, pointer: "/images")
        }
    }

    // MARK: - Detection, search, verification

    @Test func detectionReportsEveryFace() async throws {
        let single = try await client.send(
            .post, "/v1/detect", template: "/v1/detect", key: keys.enroller.secret, body: .json(["image": try base64("obama.jpg")]))
        #expect(single.status == 200)
        #expect(single.json?["faces"]?.arrayValue?.count == 1)
        #expect(single.json?["imageWidth"] == 910)
        let double = try await client.send(
            .post, "/v1/detect", template: "/v1/detect", key: keys.searcher.secret,
            body: .multipart([.file("image", try Photos.twoFaces(), filename: "two.ppm", contentType: "image/x-portable-pixmap")]))
        #expect(double.json?["faces"]?.arrayValue?.count == 2)
        let auditorDetects = try await client.send(
            .post, "/v1/detect", template: "/v1/detect", key: keys.auditor.secret, body: .json(["image": try base64("obama.jpg")]))
        expectProblem(auditorDetects, 403, .forbidden)
    }

    @Test func searchReturnsRankedCandidatesAndIsAudited() async throws {
        let before = try await server.auditEntries().count
        let reply = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json(justified(["gallery": "custody", "image": try base64("obama2.jpg"), "k": 5])))
        #expect(reply.status == 200)
        let candidates = try #require(reply.json?["candidates"]?.arrayValue)
        #expect(candidates.first?["subjectReference"] == "obama")
        #expect(candidates.first?["rank"] == 1)
        #expect(!candidates.contains { $0["subjectReference"] == "biden" })
        #expect(reply.json?["caseReference"] == "CASE-2026-0042")
        let entries = try await server.auditEntries()
        #expect(entries.count == before + 1)
        let entry = try #require(entries.last)
        #expect(entry.action == .search)
        #expect(Double(entry.sequence) == reply.json?["auditSequence"]?.numberValue)
        #expect(entry.probeSHA256 == reply.json?["probeSHA256"]?.stringValue)
        #expect(entry.caseReference == "CASE-2026-0042")

        let multipart = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .multipart([
                .text("gallery", "custody"), .text("purpose", "missing-person"), .text("caseReference", "MP-7"),
                .text("k", "1"), .file("image", try Photos.bytes("biden.jpg")),
            ]))
        #expect(multipart.json?["candidates"]?.arrayValue?.map { $0["subjectReference"] } == ["biden"])
    }

    @Test func aProbeWithSeveralFacesReportsAllAndSearchesTheLargestUnlessOneIsNamed() async throws {
        let probe = try Photos.twoFaces()
        let reply = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json(justified(["gallery": "custody", "image": .string(Data(probe).base64EncodedString())])))
        let faces = try #require(reply.json?["faces"]?.arrayValue)
        #expect(faces.count == 2)
        let areas = faces.map { ($0["box"]?["width"]?.numberValue ?? 0) * ($0["box"]?["height"]?.numberValue ?? 0) }
        let largest = areas.indices.max { areas[$0] < areas[$1] }!
        #expect(reply.json?["searchedFace"]?.numberValue == Double(largest))
        // obama.jpg is scaled down less, so his is the larger face.
        #expect(reply.json?["candidates"]?.arrayValue?.first?["subjectReference"] == "obama")

        let other = 1 - largest
        let named = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json(justified(["gallery": "custody", "image": .string(Data(probe).base64EncodedString()), "faceIndex": .number(Double(other))])))
        #expect(named.json?["searchedFace"]?.numberValue == Double(other))
        #expect(named.json?["candidates"]?.arrayValue?.first?["subjectReference"] == "biden")

        let missing = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json(justified(["gallery": "custody", "image": .string(Data(probe).base64EncodedString()), "faceIndex": 2])))
        expectProblem(missing, 422, .unprocessableImage, pointer: "/faceIndex")
    }

    @Test func verificationComparesWithASubjectOrASecondImage() async throws {
        let subject = try await client.send(
            .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
            body: .json(justified(["image": try base64("obama2.jpg"), "gallery": "custody", "subjectReference": "obama"])))
        #expect(subject.status == 200)
        #expect(subject.json?["mode"] == "subject")
        #expect(subject.json?["isMatch"] == true)
        let images = try await client.send(
            .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
            body: .multipart([
                .text("purpose", "fraud-prevention"), .text("caseReference", "F-1"),
                .file("image", try Photos.bytes("obama.jpg")), .file("otherImage", try Photos.bytes("biden.jpg")),
            ]))
        #expect(images.status == 200)
        #expect(images.json?["mode"] == "images")
        #expect(images.json?["isMatch"] == false)
        #expect(images.json?["subjectReference"] == .null)
        try await expectUnchanged {
            let both = try await client.send(
                .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
                body: .json(justified([
                    "image": try base64("obama2.jpg"), "gallery": "custody", "subjectReference": "obama",
                    "otherImage": try base64("obama.jpg"),
                ])))
            expectProblem(both, 400, .invalidRequest, pointer: "/otherImage")
            let unknownSubject = try await client.send(
                .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
                body: .json(justified(["image": try base64("obama2.jpg"), "gallery": "custody", "subjectReference": "nobody"])))
            expectProblem(unknownSubject, 404, .notFound)
        }
    }

    // MARK: - Audit

    @Test func checkpointsAndProofsOfTheAuditTreeVerifyWithThePublicKey() async throws {
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        // Something to sign: every API test's requests are audited, but this one may run first.
        let detection = try await client.send(
            .post, "/v1/detect", template: "/v1/detect", key: keys.searcher.secret,
            body: .multipart([.file("image", try Photos.bytes("obama.jpg"))]))
        #expect(detection.status == 200)
        let stored = try #require(try await server.operations.makeAuditCheckpoint(signer: signer))
        let reply = try await client.send(.get, "/v1/audit/checkpoint", template: "/v1/audit/checkpoint", key: keys.auditor.secret)
        #expect(reply.status == 200)
        #expect(reply.mediaType == "text/plain")
        let note = String(decoding: reply.body, as: UTF8.self)
        let (checkpoint, _) = try Checkpoint.verified(note, by: signer.verifier)
        #expect(checkpoint.size >= stored.checkpoint.size)
        let size = checkpoint.size

        let page = try await client.send(
            .get, "/v1/audit?limit=1000", template: "/v1/audit", key: keys.auditor.secret)
        let entries = try #require(page.json?["entries"]?.arrayValue)
        #expect(entries.count >= Int(size))
        var lines: [String] = []
        try await server.operations.auditLog.export { lines += $0 }
        let leafIndex = size / 2
        let inclusion = try await client.send(
            .get, "/v1/audit/proofs/inclusion?leafIndex=\(leafIndex)&treeSize=\(size)", template: "/v1/audit/proofs/inclusion",
            key: keys.auditor.secret)
        #expect(inclusion.status == 200)
        #expect(inclusion.json?["leafIndex"] == .number(Double(leafIndex)))
        let hashes = try #require(inclusion.json?["hashes"]?.arrayValue).compactMap { $0.stringValue.flatMap { Data(base64Encoded: $0) } }
        try MerkleVerification.verifyInclusion(
            proof: hashes, leafHash: MerkleHash.leaf(Data(lines[Int(leafIndex)].utf8)), index: leafIndex, size: size,
            root: checkpoint.rootHash)

        let consistency = try await client.send(
            .get, "/v1/audit/proofs/consistency?from=1&to=\(size)", template: "/v1/audit/proofs/consistency",
            key: keys.admin.secret)
        #expect(consistency.status == 200)
        let consistencyHashes = try #require(consistency.json?["hashes"]?.arrayValue).compactMap {
            $0.stringValue.flatMap { Data(base64Encoded: $0) }
        }
        try MerkleVerification.verifyConsistency(
            proof: consistencyHashes, firstSize: 1, firstRoot: MerkleHash.leaf(Data(lines[0].utf8)), secondSize: size,
            secondRoot: checkpoint.rootHash)

        let searcher = try await client.send(
            .get, "/v1/audit/checkpoint", template: "/v1/audit/checkpoint", key: keys.searcher.secret)
        expectProblem(searcher, 403, .forbidden)
        let beyond = try await client.send(
            .get, "/v1/audit/proofs/inclusion?leafIndex=0&treeSize=\(Int64.max)", template: "/v1/audit/proofs/inclusion",
            key: keys.auditor.secret)
        expectProblem(beyond, 400, .invalidRequest)
        let missing = try await client.send(
            .get, "/v1/audit/proofs/consistency?from=1", template: "/v1/audit/proofs/consistency", key: keys.auditor.secret)
        expectProblem(missing, 400, .invalidRequest, pointer: "#to")
        let backwards = try await client.send(
            .get, "/v1/audit/proofs/consistency?from=3&to=2", template: "/v1/audit/proofs/consistency", key: keys.auditor.secret)
        expectProblem(backwards, 400, .invalidRequest)
        let unknown = try await client.send(
            .get, "/v1/audit/proofs/inclusion?leafIndex=0&treeSize=1&x=1", template: "/v1/audit/proofs/inclusion",
            key: keys.auditor.secret)
        expectProblem(unknown, 400, .invalidRequest, pointer: "#x")
    }

    @Test func auditorsPageThroughTheAuditLog() async throws {
        let first = try await client.send(.get, "/v1/audit?limit=2", template: "/v1/audit", key: keys.auditor.secret)
        #expect(first.status == 200)
        let entries = try #require(first.json?["entries"]?.arrayValue)
        #expect(entries.map { $0["sequence"] } == [1, 2])
        #expect(first.json?["nextAfter"] == 2)
        #expect(entries[1]["previousHash"] == entries[0]["entryHash"])
        let next = try await client.send(.get, "/v1/audit?after=2&limit=1", template: "/v1/audit", key: keys.admin.secret)
        #expect(next.json?["entries"]?.arrayValue?.first?["sequence"] == 3)
        let searcher = try await client.send(.get, "/v1/audit", template: "/v1/audit", key: keys.searcher.secret)
        expectProblem(searcher, 403, .forbidden)
        let badLimit = try await client.send(.get, "/v1/audit?limit=0", template: "/v1/audit", key: keys.auditor.secret)
        expectProblem(badLimit, 400, .invalidRequest, pointer: "/limit")
    }

    // MARK: - Denials

    @Test func missingUnknownMalformedAndRevokedKeysAre401() async throws {
        try await expectUnchanged {
            let search = TestBody.json(justified(["gallery": "custody", "image": try base64("obama2.jpg")]))
            let none = try await client.send(.post, "/v1/search", template: "/v1/search", body: search)
            expectProblem(none, 401, .unauthenticated)
            #expect(none.headers[.wwwAuthenticate] == #"Bearer realm="biomatch""#)
            let unknown = try await client.send(
                .post, "/v1/search", template: "/v1/search", key: APIKeySecret.generate(), body: search)
            expectProblem(unknown, 401, .unauthenticated)
            #expect(unknown.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            let malformed = try await client.send(.post, "/v1/search", template: "/v1/search", key: "letmein", body: search)
            expectProblem(malformed, 401, .unauthenticated)
            let revoked = try await client.send(.post, "/v1/search", template: "/v1/search", key: keys.revoked.secret, body: search)
            expectProblem(revoked, 401, .unauthenticated)
            // The same text whatever the reason, so callers cannot probe which keys exist.
            #expect(Set([none, unknown, malformed, revoked].map { $0.problem?.detail }).count == 1)
            let basic = try await client.send(
                .get, "/v1/galleries", template: "/v1/galleries", headers: [.authorization: "Basic YWRtaW46YWRtaW4="])
            expectProblem(basic, 401, .unauthenticated)
        }
        let viaHeader = try await client.send(
            .get, "/v1/galleries", template: "/v1/galleries", headers: [HTTPField.Name("X-API-Key")!: keys.reviewer.secret])
        #expect(viaHeader.status == 200)
    }

    @Test func wrongRoleOrGalleryIs403() async throws {
        try await expectUnchanged {
            let searcherEnrols = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: keys.searcher.secret,
                body: .json(["reference": "P-300", "images": [try base64("obama2.jpg")]]))
            expectProblem(searcherEnrols, 403, .forbidden)
            let reviewerSearches = try await client.send(
                .post, "/v1/search", template: "/v1/search", key: keys.reviewer.secret,
                body: .json(justified(["gallery": "custody", "image": try base64("obama2.jpg")])))
            expectProblem(reviewerSearches, 403, .forbidden)
            let enrollerCreates = try await client.send(
                .post, "/v1/galleries", template: "/v1/galleries", key: keys.enroller.secret,
                body: .json(["name": "mine", "purpose": "other"]))
            expectProblem(enrollerCreates, 403, .forbidden)
            let otherGallery = try await client.send(
                .post, "/v1/search", template: "/v1/search", key: keys.otherGallerySearcher.secret,
                body: .json(justified(["gallery": "custody", "image": try base64("obama2.jpg")])))
            expectProblem(otherGallery, 403, .forbidden)
            #expect(otherGallery.problem?.detail?.contains("custody") == true)
            let otherGalleryRead = try await client.send(
                .get, "/v1/galleries/custody", template: "/v1/galleries/{gallery}", key: keys.otherGallerySearcher.secret)
            expectProblem(otherGalleryRead, 403, .forbidden)
            // Out of scope is 403 whether or not the gallery exists, so scope does not reveal names.
            let nonexistent = try await client.send(
                .get, "/v1/galleries/secret-unit", template: "/v1/galleries/{gallery}", key: keys.otherGallerySearcher.secret)
            expectProblem(nonexistent, 403, .forbidden)
        }
    }

    @Test func searchesNameTheirEngineAndUnknownEnginesAre400() async throws {
        let reply = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json(justified(["gallery": "custody", "image": try base64("obama2.jpg"), "engine": "sface"])))
        #expect(reply.status == 200)
        #expect(reply.json?["engine"] == "sface")
        #expect(reply.json?["scoreDirection"] == "higher-is-more-alike")
        let first = try #require(reply.json?["candidates"]?.arrayValue?.first)
        #expect(first["engineScores"]?["sface"] == first["score"])
        let gallery = try await client.send(.get, "/v1/galleries/custody", template: "/v1/galleries/{gallery}", key: keys.admin.secret)
        #expect(gallery.json?["defaultEngine"] == "sface")
        #expect(gallery.json?["engines"]?.arrayValue?.map { $0["identifier"] } == ["sface"])
        try await expectUnchanged {
            let image = try base64("obama2.jpg")
            for engine in ["dlib", "arcface"] {
                let search = try await client.send(
                    .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
                    body: .json(justified(["gallery": "custody", "image": image, "engine": .string(engine)])))
                expectProblem(search, 400, .invalidRequest, pointer: "/engine")
                #expect(search.problem?.detail?.contains("gallery 'custody' has no engine '\(engine)'") == true)
                let verify = try await client.send(
                    .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
                    body: .json(justified([
                        "gallery": "custody", "subjectReference": "obama", "image": image, "engine": .string(engine),
                    ])))
                expectProblem(verify, 400, .invalidRequest, pointer: "/engine")
            }
            let created = try await client.send(
                .post, "/v1/galleries", template: "/v1/galleries", key: keys.admin.secret,
                body: .json(["name": "other", "purpose": "other", "engines": ["sface", "arcface"]]))
            expectProblem(created, 400, .invalidRequest, pointer: "/engines")
            #expect(created.problem?.detail?.contains("no engine 'arcface' is installed") == true)
        }
    }

    @Test func searchesAndVerificationsWithoutAUsablePurposeAre400() async throws {
        try await expectUnchanged {
            let image = try base64("obama2.jpg")
            let cases: [(JSON, String)] = [
                (["gallery": "custody", "image": image, "caseReference": "C-1"], "/purpose"),
                (["gallery": "custody", "image": image, "purpose": "curiosity", "caseReference": "C-1"], "/purpose"),
                (["gallery": "custody", "image": image, "purpose": "immigration-check", "caseReference": "C-1"], "/purpose"),
                (["gallery": "custody", "image": image, "purpose": "criminal-investigation"], "/caseReference"),
                (["gallery": "custody", "image": image, "purpose": "criminal-investigation", "caseReference": "  "], "/caseReference"),
            ]
            for (body, pointer) in cases {
                let reply = try await client.send(.post, "/v1/search", template: "/v1/search", key: keys.searcher.secret, body: .json(body))
                expectProblem(reply, 400, .missingJustification, pointer: pointer)
            }
            let verify = try await client.send(
                .post, "/v1/verify", template: "/v1/verify", key: keys.searcher.secret,
                body: .json(["image": image, "otherImage": image, "caseReference": "C-1"]))
            expectProblem(verify, 400, .missingJustification, pointer: "/purpose")
        }
    }

    // MARK: - Limits

    @Test func aBodyOverTheLimitIs413() async throws {
        try await expectUnchanged {
            let oversized = [UInt8](repeating: 0x41, count: TestServer.bodyLimit + 1)
            let reply = try await client.send(
                .post, "/v1/detect", template: "/v1/detect", key: keys.searcher.secret,
                body: .raw(oversized, contentType: "application/json"))
            expectProblem(reply, 413, .bodyTooLarge)
            let unauthenticated = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects",
                body: .raw(oversized, contentType: "multipart/form-data; boundary=x"))
            expectProblem(unauthenticated, 413, .bodyTooLarge)
        }
    }

    @Test func overTheKeysRateIs429WithRetryAfter() async throws {
        let port = try await TestServer.startServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0, maximumBodyBytes: TestServer.bodyLimit,
                rateLimit: RateLimit(requestsPerSecond: 0.01, burst: 2)),
            operations: server.operations, metrics: ServerMetrics())
        let limited = APIClient(port: port, document: server.document)
        for _ in 0..<2 {
            let reply = try await limited.send(.get, "/v1/galleries", template: "/v1/galleries", key: keys.reviewer.secret)
            #expect(reply.status == 200)
        }
        let refused = try await limited.send(.get, "/v1/galleries", template: "/v1/galleries", key: keys.reviewer.secret)
        expectProblem(refused, 429, .rateLimited)
        let retryAfter = try #require(refused.headers[.retryAfter].flatMap(Int.init))
        #expect(retryAfter >= 1 && retryAfter <= 100)
        // The bucket is per key: another key is not held back.
        let other = try await limited.send(.get, "/v1/galleries", template: "/v1/galleries", key: keys.admin.secret)
        #expect(other.status == 200)
    }

    // MARK: - Bad input

    @Test func badInputIsA4xxProblemAndChangesNothing() async throws {
        let searcher = keys.searcher.secret
        let obama = try Photos.bytes("obama2.jpg")
        var hugePNG: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
        hugePNG += [0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10, 8, 2, 0, 0, 0]  // 10000 x 10000, 8-bit RGB
        hugePNG += [0, 0, 0, 0]  // CRC (the decoder must refuse the size first)
        let cases: [(String, TestBody, Int, ProblemType)] = [
            ("not an image", .json(["image": .string(Data("just some text".utf8).base64EncodedString())]), 422, .unprocessableImage),
            ("truncated JPEG", .multipart([.file("image", Array(obama.prefix(obama.count / 3)))]), 422, .unprocessableImage),
            ("100-megapixel PNG header", .multipart([.file("image", hugePNG, filename: "big.png", contentType: "image/png")]), 422, .unprocessableImage),
            ("empty body", .raw([], contentType: nil), 400, .invalidRequest),
            ("empty JSON", .raw([], contentType: "application/json"), 400, .invalidRequest),
            ("empty image", .multipart([.file("image", [])]), 400, .invalidRequest),
            ("wrong content type", .raw(obama, contentType: "image/jpeg"), 415, .unsupportedMediaType),
            ("text content type", .raw(Array("image=abc".utf8), contentType: "text/plain"), 415, .unsupportedMediaType),
            ("malformed JSON", .jsonText(#"{"image": "abc""#), 400, .invalidRequest),
            ("JSON array", .jsonText("[1, 2]"), 400, .invalidRequest),
            ("bad base64", .json(["image": "%%%not base64%%%"]), 400, .invalidRequest),
            ("image of the wrong type", .json(["image": 42]), 400, .invalidRequest),
            ("unknown field", .json(["image": .string(Data(obama).base64EncodedString()), "imgae": "x"]), 400, .invalidRequest),
            ("missing image", .json([:]), 400, .invalidRequest),
            ("multipart without boundary", .raw(Array("--x\r\n".utf8), contentType: "multipart/form-data"), 400, .invalidRequest),
            ("unterminated multipart", .raw(Array("--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc".utf8), contentType: "multipart/form-data; boundary=b"), 400, .invalidRequest),
        ]
        try await expectUnchanged {
            for (name, body, status, type) in cases {
                let reply = try await client.send(.post, "/v1/detect", template: "/v1/detect", key: searcher, body: body)
                #expect(reply.status == status, "\(name): \(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.problem?.type == type.uri, "\(name)")
                // The decoder's own reason reaches the caller: the size is refused from the header alone.
                if name == "100-megapixel PNG header" { #expect(reply.problem?.detail?.contains("10000 x 10000") == true) }
                if name == "truncated JPEG" { #expect(reply.problem?.detail?.contains("JPEG") == true, "\(reply.problem?.detail ?? "")") }
            }
            let searchCases: [(JSON, Int, ProblemType, String)] = [
                (justified(["gallery": "no-such-gallery", "image": .string(Data(obama).base64EncodedString())]), 403, .forbidden, ""),
                (justified(["gallery": "custody", "image": .string(Data(obama).base64EncodedString()), "k": 0]), 400, .invalidRequest, "/k"),
                (justified(["gallery": "custody", "image": .string(Data(obama).base64EncodedString()), "threshold": 0.1]), 400, .invalidRequest, "/threshold"),
                (justified(["gallery": "custody", "image": .string(Data(obama).base64EncodedString()), "k": "ten"]), 400, .invalidRequest, "/k"),
                (justified(["gallery": "custody", "image": .string(Data(obama).base64EncodedString()), "attributeFilter": ["a": 1]]), 400, .invalidRequest, "/attributeFilter/a"),
            ]
            for (body, status, type, pointer) in searchCases {
                let reply = try await client.send(.post, "/v1/search", template: "/v1/search", key: searcher, body: .json(body))
                expectProblem(reply, status, type, pointer: pointer.isEmpty ? nil : pointer)
            }
            let admin = keys.admin.secret
            let unknownGallery = try await client.send(
                .post, "/v1/search", template: "/v1/search", key: admin,
                body: .json(justified(["gallery": "no-such-gallery", "image": .string(Data(obama).base64EncodedString())])))
            expectProblem(unknownGallery, 404, .notFound)
            let unknownSubject = try await client.send(
                .get, "/v1/galleries/custody/subjects/nobody", template: "/v1/galleries/{gallery}/subjects/{reference}", key: admin)
            expectProblem(unknownSubject, 404, .notFound)
            let unknownErase = try await client.send(
                .delete, "/v1/galleries/custody/subjects/nobody", template: "/v1/galleries/{gallery}/subjects/{reference}", key: admin)
            expectProblem(unknownErase, 404, .notFound)
            let unknownAdd = try await client.send(
                .post, "/v1/galleries/custody/subjects/nobody/images", template: "/v1/galleries/{gallery}/subjects/{reference}/images",
                key: admin, body: .json(["images": [.string(Data(obama).base64EncodedString())]]))
            expectProblem(unknownAdd, 404, .notFound)
            let unknownGalleryDelete = try await client.send(.delete, "/v1/galleries/nothing", template: "/v1/galleries/{gallery}", key: admin)
            expectProblem(unknownGalleryDelete, 404, .notFound)
            let badPurpose = try await client.send(
                .post, "/v1/galleries", template: "/v1/galleries", key: admin, body: .json(["name": "x", "purpose": "everything"]))
            expectProblem(badPurpose, 400, .invalidRequest, pointer: "/purpose")
            let missingName = try await client.send(
                .post, "/v1/galleries", template: "/v1/galleries", key: admin, body: .json(["purpose": "other"]))
            expectProblem(missingName, 400, .invalidRequest, pointer: "/name")
            let wrongType = try await client.send(
                .post, "/v1/galleries", template: "/v1/galleries", key: admin,
                body: .multipart([.text("name", "x"), .text("purpose", "other")]))
            expectProblem(wrongType, 415, .unsupportedMediaType)
            let badLimit = try await client.send(
                .get, "/v1/galleries/custody/subjects?limit=lots", template: "/v1/galleries/{gallery}/subjects", key: admin)
            expectProblem(badLimit, 400, .invalidRequest, pointer: "#limit")
            let blank = Array("P6\n240 240\n255\n".utf8) + [UInt8](repeating: 128, count: 240 * 240 * 3)
            let noFaceSearch = try await client.send(
                .post, "/v1/search", template: "/v1/search", key: admin,
                body: .json(justified(["gallery": "custody", "image": .string(Data(blank).base64EncodedString())])))
            expectProblem(noFaceSearch, 422, .unprocessableImage, pointer: "/image")
            let noFaceEnrol = try await client.send(
                .post, "/v1/galleries/custody/subjects", template: "/v1/galleries/{gallery}/subjects", key: admin,
                body: .multipart([.text("reference", "nobody"), .file("images", blank, filename: "blank.ppm", contentType: "image/x-portable-pixmap")]))
            expectProblem(noFaceEnrol, 422, .unprocessableImage, pointer: "/images/0")
        }
    }

    @Test func unknownRoutesAre404AndWrongMethods405() async throws {
        let route = try await client.send(.get, "/v1/nothing-here", template: nil, key: keys.admin.secret)
        expectProblem(route, 404, .routeNotFound)
        let root = try await client.send(.get, "/favicon.ico", template: nil)
        expectProblem(root, 404, .routeNotFound)
        let method = try await client.send(.patch, "/v1/galleries", template: nil, key: keys.admin.secret)
        expectProblem(method, 405, .methodNotAllowed)
        #expect(method.headers[.allow] == "GET, POST")
        let health = try await client.send(.post, "/health", template: nil, body: .json([:]))
        expectProblem(health, 405, .methodNotAllowed)
        #expect(health.headers[.allow] == "GET")
    }

    // MARK: - Metrics

    @Test func metricsExposeRequestsStageTimesAndGallerySizes() async throws {
        _ = try await client.send(
            .post, "/v1/detect", template: "/v1/detect", key: keys.searcher.secret, body: .json(["image": try base64("obama.jpg")]))
        _ = try await client.send(.get, "/v1/galleries", template: "/v1/galleries")
        let reply = try await client.send(.get, "/metrics", template: "/metrics")
        let text = String(decoding: reply.body, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        func value(_ prefix: String) -> Double? {
            lines.first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
        #expect((value(#"biomatch_http_requests_total{route="/v1/detect",method="POST",status="200"}"#) ?? 0) >= 1)
        #expect((value(#"biomatch_http_requests_total{route="/v1/galleries",method="GET",status="401"}"#) ?? 0) >= 1)
        #expect(lines.contains { $0.hasPrefix(#"biomatch_http_request_duration_seconds_bucket{route="/v1/detect""#) })
        #expect((value(#"biomatch_engine_stage_duration_seconds_count{stage="detector_model"}"#) ?? 0) >= 1)
        #expect((value(#"biomatch_engine_stage_duration_seconds_sum{stage="embedder_model"}"#) ?? 0) > 0)
        let counts = try await server.store.counts(in: try await server.store.gallery(named: custody).id)
        #expect(value(#"biomatch_gallery_subjects{gallery="custody"}"#) == Double(counts.subjects))
        #expect(value(#"biomatch_gallery_templates{gallery="custody"}"#) == Double(counts.templates))
        // Raw paths never become labels.
        #expect(!text.contains("watch%20list") && !text.contains("nobody"))
    }
}
