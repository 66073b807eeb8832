import Foundation
import Gallery
import Governance
import HTTPTypes
import Installation
import Hummingbird
import Operations
import Review
import Testing
@testable import Server

/// A server of its own for the review suites: searches here open review cases and decisions
/// write audit entries, which the shared ``TestServer``'s store-unchanged checks must not see.
/// A real SQLite file, the real models, the `custody` gallery (purpose custody) with obama.jpg
/// and biden.jpg enrolled, and the HTTP server (API and console) on a loopback port.
final class ReviewTestServer: Sendable {
    let store: SQLiteGalleryStore
    let operations: MatcherOperations
    let port: Int
    let keys: TestKeys
    let document: JSON

    private static let shared = Task<ReviewTestServer, any Error> { try await ReviewTestServer.start() }

    static func get() async throws -> ReviewTestServer { try await shared.value }

    private init(store: SQLiteGalleryStore, operations: MatcherOperations, port: Int, keys: TestKeys) {
        self.store = store
        self.operations = operations
        self.port = port
        self.keys = keys
        document = OpenAPIDocument.document(version: BioMatchVersion.current, purposes: operations.purposes.names)
    }

    private static func start() async throws -> ReviewTestServer {
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-review-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "gallery.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let metrics = ServerMetrics()
        let operations = try await TestServer.openOperations(store: store, metrics: metrics)
        let keys = try await TestKeys.create(in: operations)
        let admin = Caller.key(keys.admin.key.principal)
        _ = try await operations.createGallery(GalleryDraft(name: TestServer.custody, purpose: .custody), by: admin)
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            try await operations.enrol(
                EnrolmentRequest(gallery: TestServer.custody, reference: reference, images: [try Photos.bytes(photo)]), by: admin)
        }
        let port = try await TestServer.startServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0, rateLimit: RateLimit(requestsPerSecond: 1_000, burst: 1_000)),
            operations: operations, metrics: metrics)
        return ReviewTestServer(store: store, operations: operations, port: port, keys: keys)
    }

    /// Searches the custody gallery with `photo` through the API as the searcher, and returns
    /// the review case the search opened.
    func searchOpeningCase(_ photo: String, client: APIClient) async throws -> Int64 {
        let reply = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: keys.searcher.secret,
            body: .json([
                "gallery": .string(TestServer.custody), "image": .string(Data(try Photos.bytes(photo)).base64EncodedString()),
                "purpose": "criminal-investigation", "caseReference": "CASE-2026-0077",
            ]))
        #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
        #expect(reply.json?["reviewRequired"] == true)
        let caseID = try #require(reply.json?["reviewCaseID"]?.numberValue)
        return Int64(caseID)
    }
}

/// The review API end to end on the live server: queue, case, decisions, crops, and refusals
/// as problem+json, every response checked against the OpenAPI document.
@Suite(.serialized) struct ReviewAPITests {
    let server: ReviewTestServer
    let client: APIClient

    init() async throws {
        server = try await ReviewTestServer.get()
        client = APIClient(port: server.port, document: server.document)
    }

    var keys: TestKeys { server.keys }

    @Test func aSearchOpensACaseThatOnlyAConfirmedDecisionTurnsIntoAnIdentification() async throws {
        let caseID = try await server.searchOpeningCase("obama2.jpg", client: client)
        let reviewer = keys.reviewer.secret

        let queue = try await client.send(.get, "/v1/reviews", template: "/v1/reviews", key: reviewer)
        #expect(queue.status == 200)
        let queued = queue.json?["entries"]?.arrayValue?.compactMap { $0["caseID"]?.numberValue } ?? []
        #expect(queued.contains(Double(caseID)))

        let path = "/v1/reviews/\(caseID)"
        let opened = try await client.send(.get, path, template: "/v1/reviews/{case}", key: reviewer)
        #expect(opened.status == 200)
        #expect(opened.json?["status"] == "awaitingReview")
        #expect(opened.json?["identifications"]?.arrayValue?.isEmpty == true)
        let candidates = try #require(opened.json?["candidates"]?.arrayValue)
        let top = try #require(candidates.first)
        #expect(top["subjectReference"] == "obama")
        #expect(top["rank"] == 1)
        #expect(top["decision"] == .null)
        let subjectID = try #require(top["subjectID"]?.numberValue)

        // Crops: PNG for the reviewer, refused to the searcher (who may read the case, not faces).
        let probe = try await client.send(.get, "\(path)/probe/0.png", template: "/v1/reviews/{case}/probe/{face}.png", key: reviewer)
        #expect(probe.status == 200)
        #expect(probe.mediaType == "image/png")
        #expect(Array(probe.body.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let candidateTemplate = "/v1/reviews/{case}/candidates/{subject}.png"
        let face = try await client.send(.get, "\(path)/candidates/\(Int64(subjectID)).png", template: candidateTemplate, key: reviewer)
        #expect(face.status == 200)
        #expect(face.mediaType == "image/png")
        let refusedCrop = try await client.send(
            .get, "\(path)/candidates/\(Int64(subjectID)).png", template: candidateTemplate, key: keys.searcher.secret)
        #expect(refusedCrop.status == 403)

        // A rejected decision on the top candidate is no identification.
        let decisions = "/v1/reviews/{case}/decisions"
        let empty = try await client.send(
            .post, "\(path)/decisions", template: decisions, key: reviewer,
            body: .json(["subjectID": .number(subjectID), "decision": "confirmed", "note": "  "]))
        #expect(empty.status == 400)
        let unknownVerdict = try await client.send(
            .post, "\(path)/decisions", template: decisions, key: reviewer,
            body: .json(["subjectID": .number(subjectID), "decision": "probably", "note": "looks alike"]))
        #expect(unknownVerdict.status == 400)
        let bySearcher = try await client.send(
            .post, "\(path)/decisions", template: decisions, key: keys.searcher.secret,
            body: .json(["subjectID": .number(subjectID), "decision": "confirmed", "note": "mine"]))
        #expect(bySearcher.status == 403)

        let recorded = try await client.send(
            .post, "\(path)/decisions", template: decisions, key: reviewer,
            body: .json(["subjectID": .number(subjectID), "decision": "confirmed", "note": "Same person: ears, brow and jaw line agree."]))
        #expect(recorded.status == 201)
        #expect(recorded.headers[.location] == path)
        #expect(recorded.json?["decision"] == "confirmed")
        let again = try await client.send(
            .post, "\(path)/decisions", template: decisions, key: reviewer,
            body: .json(["subjectID": .number(subjectID), "decision": "rejected", "note": "second thoughts"]))
        #expect(again.status == 409)

        let decided = try await client.send(.get, path, template: "/v1/reviews/{case}", key: reviewer)
        let identifications = decided.json?["identifications"]?.arrayValue ?? []
        #expect(identifications.count == 1)
        #expect(identifications.first?["subjectReference"] == "obama")
        #expect(decided.json?["candidates"]?.arrayValue?.first?["decision"]?["decision"] == "confirmed")

        let auditSequence = try #require(recorded.json?["auditSequence"]?.numberValue)
        let entry = try #require(try await server.operations.auditLog.entries(after: Int64(auditSequence) - 1, limit: 1).first)
        #expect(entry.action == .reviewDecision)
        #expect(entry.parameters.contains("\"caseID\":\(caseID)"))
    }

    @Test func refusalsAreProblems() async throws {
        let reviewer = keys.reviewer.secret
        let missing = try await client.send(.get, "/v1/reviews/999999", template: "/v1/reviews/{case}", key: reviewer)
        #expect(missing.status == 404)
        let malformed = try await client.send(.get, "/v1/reviews/abc", template: "/v1/reviews/{case}", key: reviewer)
        #expect(malformed.status == 400)
        let anonymous = try await client.send(.get, "/v1/reviews", template: "/v1/reviews")
        #expect(anonymous.status == 401)
        let enroller = try await client.send(.get, "/v1/reviews", template: "/v1/reviews", key: keys.enroller.secret)
        #expect(enroller.status == 403)
        // The console's cookie is no API credential.
        var cookie = HTTPFields()
        cookie[.cookie] = "\(ConsoleSession.cookieName)=\(reviewer)"
        let byCookie = try await client.send(.get, "/v1/reviews", template: "/v1/reviews", headers: cookie)
        #expect(byCookie.status == 401)
    }
}
