import Foundation
import Gallery
import Governance
import HTTPTypes
import Installation
import Hummingbird
import Operations
import Testing
import Transparency
@testable import Server

/// `GET /v1/galleries/{gallery}/subject-access` on a server of its own (accesses write audit
/// entries, which the shared server's store-unchanged checks must not see): a real SQLite file,
/// the real models, obama.jpg and biden.jpg enrolled in `custody`, and real keys.
@Suite(.serialized) struct SubjectAccessAPITests {
    struct Server: Sendable {
        let operations: MatcherOperations
        let client: APIClient
        let admin: String
        let searcher: String
        let officer: String
        let otherGalleryOfficer: String
        let auditor: String
        let obama: EnrolledSubject
        let obamaBytes: [UInt8]
    }

    private static let shared = Task<Server, any Error> { try await start() }

    private static func start() async throws -> Server {
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "gallery.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let metrics = ServerMetrics()
        let operations = try await TestServer.openOperations(store: store, metrics: metrics)
        let registry = operations.keys
        guard let admin = try await registry.bootstrapAdminKey() else { throw TestSetupError.keysExist }
        let actor = AuditActor.system("test")
        let custody: GalleryScope = .galleries([TestServer.custody])
        let adminCaller = Caller.key(admin.key.principal)
        _ = try await operations.createGallery(GalleryDraft(name: TestServer.custody, purpose: .custody), by: adminCaller)
        _ = try await operations.createGallery(GalleryDraft(name: TestServer.evaluation, purpose: .other), by: adminCaller)
        let obamaBytes = try Photos.bytes("obama.jpg")
        let obama = try await operations.enrol(
            EnrolmentRequest(gallery: TestServer.custody, reference: "obama", images: [obamaBytes]), by: adminCaller)
        try await operations.enrol(
            EnrolmentRequest(gallery: TestServer.custody, reference: "biden", images: [try Photos.bytes("biden.jpg")]),
            by: adminCaller)
        let port = try await TestServer.startServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0, rateLimit: RateLimit(requestsPerSecond: 1_000, burst: 1_000)),
            operations: operations, metrics: metrics)
        return Server(
            operations: operations,
            client: APIClient(
                port: port, document: OpenAPIDocument.document(version: BioMatchVersion.current, purposes: operations.purposes.names)),
            admin: admin.secret,
            searcher: try await registry.create(name: "searcher", role: .searcher, scope: custody, by: actor).secret,
            officer: try await registry.create(name: "officer", role: .subjectAccess, scope: custody, by: actor).secret,
            otherGalleryOfficer: try await registry.create(
                name: "evaluation officer", role: .subjectAccess, scope: .galleries([TestServer.evaluation]), by: actor
            ).secret,
            auditor: try await registry.create(name: "auditor", role: .auditor, scope: .galleries([]), by: actor).secret,
            obama: obama, obamaBytes: obamaBytes)
    }

    static let template = "/v1/galleries/{gallery}/subject-access"
    static func path(_ query: String) -> String { "/v1/galleries/custody/subject-access?\(query)" }
    static let justified = "purpose=subject-access-request&caseReference=SAR-2026-7"

    /// The officer sees the record, the template with its vector and crop, the enrolment image
    /// byte for byte, and the entries naming obama (enrolment, the search that listed them),
    /// the access itself last; the response matches the OpenAPI schema and the access is in
    /// the log the auditor reads.
    @Test func theOfficerGetsEverythingHeldAndTheAccessIsAudited() async throws {
        let server = try await Self.shared.value
        let client = server.client
        let search = try await client.send(
            .post, "/v1/search", template: "/v1/search", key: server.admin,
            body: .multipart([
                .text("gallery", TestServer.custody), .text("purpose", "criminal-investigation"),
                .text("caseReference", "CASE-5"), .file("image", try Photos.bytes("obama2.jpg")),
            ]))
        #expect(search.status == 200)
        let searchSequence = try #require(search.json?["auditSequence"]?.numberValue)
        let checkpoint = try #require(
            try await server.operations.makeAuditCheckpoint(signer: try NoteSigner.generate(name: "biomatch.test/audit")))

        let reply = try await client.send(
            .get, Self.path("reference=obama&\(Self.justified)"), template: Self.template, key: server.officer)
        #expect(reply.status == 200)
        let body = try #require(reply.json)
        #expect(body["status"] == "enrolled")
        #expect(body["subjectID"]?.numberValue == Double(server.obama.subject.id.rawValue))
        #expect(body["subject"]?["reference"] == "obama")
        let templates = try #require(body["templates"]?.arrayValue)
        #expect(templates.count == server.obama.templates.count)
        let vectorText = try #require(templates.first?["vector"]?["base64"]?.stringValue)
        let vectorBytes = try #require(Data(base64Encoded: vectorText))
        let vector = stride(from: 0, to: vectorBytes.count, by: 4).map { offset in
            Float(bitPattern: vectorBytes[offset..<offset + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) })
        }
        #expect(vector == server.obama.templates[0].vector)
        #expect(templates.first?["crop"]?["mediaType"] == "image/png")
        let images = try #require(body["images"]?.arrayValue)
        let imageText = try #require(images.first?["base64"]?.stringValue)
        #expect(Array(try #require(Data(base64Encoded: imageText))) == server.obamaBytes)
        #expect(images.first?["mediaType"] == "image/jpeg")
        let entries = try #require(body["auditEntries"]?.arrayValue)
        #expect(entries.compactMap { $0["relation"]?.stringValue } == ["enrolled", "searchCandidate", "accessed"])
        #expect(entries[1]["entry"]?["sequence"]?.numberValue == searchSequence)
        for entry in entries {
            #expect(entry["leafIndex"]?.numberValue == (entry["position"]?.numberValue).map { $0 - 1 })
        }
        // Each entry up to the checkpoint proves its inclusion in it; the access itself is newer.
        #expect(body["checkpoint"]?["signedNote"]?.stringValue == checkpoint.note)
        #expect(body["checkpoint"]?["treeSize"]?.numberValue == Double(checkpoint.checkpoint.size))
        let log = try await server.operations.auditLog.entries(limit: 10_000)
        for entry in entries.dropLast() {
            let hashes = try #require(entry["inclusionProof"]?.arrayValue).compactMap { $0.stringValue.flatMap { Data(base64Encoded: $0) } }
            let sequence = try #require(entry["entry"]?["sequence"]?.numberValue)
            let stored = try #require(log.first { Double($0.sequence) == sequence })
            // The line served is the stored entry's, and its leaf hash is all a verifier needs.
            let line = try #require(entry["exportLine"]?.stringValue)
            #expect(line == AuditExport.line(for: stored))
            let root = try MerkleVerification.root(
                fromInclusionProof: hashes, leafHash: MerkleHash.leaf(Data(line.utf8)),
                index: Int64(try #require(entry["leafIndex"]?.numberValue)), size: checkpoint.checkpoint.size)
            #expect(root == checkpoint.checkpoint.rootHash)
        }
        #expect(entries.last?["inclusionProof"] == .null)
        let accessSequence = try #require(body["accessSequence"]?.numberValue)
        #expect(entries.last?["entry"]?["sequence"]?.numberValue == accessSequence)

        let audit = try await client.send(
            .get, "/v1/audit?after=\(Int(accessSequence) - 1)&limit=1", template: "/v1/audit", key: server.auditor)
        let recorded = try #require(audit.json?["entries"]?.arrayValue?.first)
        #expect(recorded["action"] == "subjectAccessed")
        #expect(recorded["purpose"] == "subject-access-request" && recorded["caseReference"] == "SAR-2026-7")
        #expect(recorded["actor"]?["role"] == "subjectAccess")
        #expect(recorded["parameters"]?["subjectID"]?.numberValue == Double(server.obama.subject.id.rawValue))
    }

    /// Without the role, out of scope, without a purpose or case reference, with a search
    /// purpose, or naming the subject twice: refused, and nothing is written.
    @Test func refusals() async throws {
        let server = try await Self.shared.value
        let client = server.client
        let before = try await server.operations.auditLog.entries(limit: 10_000).count
        for key in [server.searcher, server.auditor, server.otherGalleryOfficer] {
            let reply = try await client.send(
                .get, Self.path("reference=obama&\(Self.justified)"), template: Self.template, key: key)
            #expect(reply.status == 403)
        }
        for query in [
            "reference=obama&caseReference=SAR-1", "reference=obama&purpose=subject-access-request",
            "reference=obama&purpose=criminal-investigation&caseReference=SAR-1",
            "reference=obama&subjectID=\(server.obama.subject.id.rawValue)&\(Self.justified)", Self.justified,
            "reference=obama&\(Self.justified)&extra=1",
        ] {
            let reply = try await client.send(.get, Self.path(query), template: Self.template, key: server.officer)
            #expect(reply.status == 400, "\(query)")
        }
        for query in ["reference=nobody&\(Self.justified)", "subjectID=999999&\(Self.justified)"] {
            let reply = try await client.send(.get, Self.path(query), template: Self.template, key: server.officer)
            #expect(reply.status == 404, "\(query)")
        }
        let unauthenticated = try await client.send(.get, Self.path("reference=obama&\(Self.justified)"), template: Self.template)
        #expect(unauthenticated.status == 401)
        #expect(try await server.operations.auditLog.entries(limit: 10_000).count == before)
    }
}
