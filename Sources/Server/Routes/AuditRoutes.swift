import Foundation
import HTTPTypes
import Hummingbird
import Operations

/// The audit log's routes (auditors and admins): `GET /v1/audit`, the chain a page at a time;
/// `GET /v1/audit/checkpoint`, the newest signed checkpoint of its Merkle tree; and the tree's
/// inclusion and consistency proofs.
struct AuditRoutes {
    let operations: MatcherOperations

    /// Entries per page when the request does not say.
    static let defaultPageSize = 100

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("audit", use: entries)
        group.get("audit/checkpoint", use: checkpoint)
        group.get("audit/proofs/inclusion", use: inclusionProof)
        group.get("audit/proofs/consistency", use: consistencyProof)
    }

    @Sendable func entries(_ request: Request, context: APIRequestContext) async throws -> AuditPageBody {
        try request.requireOnlyQuery(["after", "limit"])
        let limit = try request.integerQuery("limit") ?? Self.defaultPageSize
        let entries = try await operations.auditEntries(
            after: try request.integerQuery("after").map(Int64.init), limit: limit, by: try context.caller())
        // A full page may have a successor; a short one is the end of the log for now.
        return AuditPageBody(
            entries: entries.map(AuditEntryBody.init), nextAfter: entries.count == limit ? entries.last?.sequence : nil)
    }

    /// The signed note as text, the way transparency-log clients and witnesses read checkpoints.
    @Sendable func checkpoint(_ request: Request, context: APIRequestContext) async throws -> Response {
        try request.requireOnlyQuery([])
        guard let stored = try await operations.latestAuditCheckpoint(by: try context.caller()) else {
            throw ProblemDetails(.notFound, detail: "No checkpoint has been signed yet: the log is empty or just started.")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: stored.note)))
    }

    @Sendable func inclusionProof(_ request: Request, context: APIRequestContext) async throws -> AuditProofBody {
        try request.requireOnlyQuery(["leafIndex", "treeSize"])
        let proof = try await operations.auditInclusionProof(
            leafIndex: try Self.required("leafIndex", request), treeSize: try Self.required("treeSize", request),
            by: try context.caller())
        return AuditProofBody(proof, fromName: "leafIndex")
    }

    @Sendable func consistencyProof(_ request: Request, context: APIRequestContext) async throws -> AuditProofBody {
        try request.requireOnlyQuery(["from", "to"])
        let proof = try await operations.auditConsistencyProof(
            from: try Self.required("from", request), to: try Self.required("to", request), by: try context.caller())
        return AuditProofBody(proof, fromName: "from")
    }

    private static func required(_ name: String, _ request: Request) throws -> Int64 {
        guard let value = try request.integerQuery(name) else {
            throw RequestError.invalidField(pointer: "#\(name)", reason: "required")
        }
        return Int64(value)
    }
}

/// An inclusion proof (`leafIndex`, `treeSize`, `hashes`) or a consistency proof (`from`, `to`,
/// `hashes`); hashes are base64, in RFC 9162 order.
struct AuditProofBody: APIResponseBody {
    var proof: AuditProof
    var fromName: String

    init(_ proof: AuditProof, fromName: String) {
        self.proof = proof
        self.fromName = fromName
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(proof.from, forKey: Key(stringValue: fromName))
        try container.encode(proof.treeSize, forKey: Key(stringValue: fromName == "from" ? "to" : "treeSize"))
        try container.encode(proof.hashes.map { $0.base64EncodedString() }, forKey: Key(stringValue: "hashes"))
    }
}
