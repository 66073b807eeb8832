import Foundation
import Gallery
import HTTPTypes
import Hummingbird
import Operations
import Synchronization

/// `Idempotency-Key` for enrolment, added images and review decisions (the IETF httpapi draft's
/// semantics): a request repeated with the same key gets the first one's response again and
/// changes nothing more.
///
/// - The key (1-255 visible ASCII characters, optionally as a quoted structured-field string)
///   is scoped to the API key that sent it.
/// - The first request's fingerprint (method, path and the request's fields and image digests)
///   and its response (status, `Location`, body) are stored in the change's own transaction
///   (``IdempotencyRecords``), so a change and its stored response exist together or not at all.
/// - A retry with the same fingerprint replays the stored response, marked
///   `Idempotent-Replayed: true`; the same key with another fingerprint is 422
///   (`idempotency-key-reused`); a retry while the first is still being processed on this node is
///   409 (`request-in-progress`). On two nodes at once, the second request's change is rolled
///   back by the stored outcome's unique key and it replays the first's response.
/// - Only successful outcomes are stored: a refused request changed nothing and may be retried
///   with the same key. Outcomes are replayed for 24 hours (``IdempotencyRecords/lifetime``).
struct IdempotentRequests: Sendable {
    static let header = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    let records: IdempotencyRecords
    let inFlight: InFlightKeys

    init(operations: MatcherOperations, inFlight: InFlightKeys) {
        records = operations.idempotency
        self.inFlight = inFlight
    }

    /// What a route needs to store its outcome: the scoped key and the request's fingerprint.
    struct Claim: Sendable {
        let key: IdempotencyRecords.Key
        let fingerprint: String

        /// The record storing the response rendered from the change (enrolment, added images).
        func record(_ respond: @escaping @Sendable (CompanionContext) throws -> IdempotencyRecords.StoredResponse) -> CompanionRecord {
            IdempotencyRecords.record(for: key, fingerprint: fingerprint, respond: respond)
        }
    }

    /// The request's key, or nil when it sends none.
    static func key(of request: Request, context: APIRequestContext) throws -> IdempotencyRecords.Key? {
        guard var value = request.headers[header] else { return nil }
        value = value.trimmingCharacters(in: .whitespaces)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        let visible = value.unicodeScalars.allSatisfy { (0x21...0x7E).contains($0.value) && $0 != "\"" && $0 != "\\" }
        guard !value.isEmpty, value.count <= IdempotencyRecords.maximumKeyLength, visible else {
            throw RequestError.invalidField(
                pointer: "#Idempotency-Key",
                reason: "must be 1-\(IdempotencyRecords.maximumKeyLength) visible ASCII characters (a UUID, say)")
        }
        return IdempotencyRecords.Key(apiKeyID: try context.requirePrincipal().keyID.rawValue, value: value)
    }

    /// Runs `perform` for a request with `key` (or without one), replaying a stored response
    /// instead when the key was used before. `content` is the request's meaning for the fingerprint.
    func run(
        _ request: Request, key: IdempotencyRecords.Key?, content: [String: String],
        perform: (Claim?) async throws -> IdempotencyRecords.StoredResponse
    ) async throws -> Response {
        guard let key else { return Self.response(try await perform(nil), replayed: false) }
        let fingerprint = IdempotencyRecords.fingerprint(
            method: request.method.rawValue, path: request.uri.path, content: content)
        if let stored = try await records.outcome(for: key) {
            return try Self.replay(stored, fingerprint: fingerprint)
        }
        guard inFlight.begin(key) else {
            throw ProblemDetails(
                .requestInProgress,
                detail: "A request with this Idempotency-Key is still being processed; retry after it has finished.")
        }
        defer { inFlight.end(key) }
        do {
            return Self.response(try await perform(Claim(key: key, fingerprint: fingerprint)), replayed: false)
        } catch {
            // Another node may have committed a request with this key meanwhile: this one's change
            // was rolled back by the stored outcome's unique key, and the first one's answer stands.
            if let stored = try? await records.outcome(for: key) {
                return try Self.replay(stored, fingerprint: fingerprint)
            }
            throw error
        }
    }

    private static func replay(_ stored: IdempotencyRecords.Outcome, fingerprint: String) throws -> Response {
        guard stored.fingerprint == fingerprint else {
            throw ProblemDetails(
                .idempotencyKeyReused,
                detail: "This Idempotency-Key was used for a different request; use a new key for a new request.")
        }
        return response(stored.response, replayed: true)
    }

    static func response(_ stored: IdempotencyRecords.StoredResponse, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: stored.contentType]
        if let location = stored.location { headers[.location] = location }
        if replayed { headers[replayedHeader] = "true" }
        return Response(
            status: HTTPResponse.Status(code: stored.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    /// A JSON response as stored.
    static func json(
        _ value: some Encodable, status: HTTPResponse.Status, location: String?
    ) throws -> IdempotencyRecords.StoredResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return IdempotencyRecords.StoredResponse(
            status: Int(status.code), contentType: "application/json", location: location, body: try encoder.encode(value))
    }
}

/// The idempotency keys whose requests are being processed on this node.
final class InFlightKeys: Sendable {
    private let keys = Mutex(Set<IdempotencyRecords.Key>())

    /// Marks `key` in flight; false when it already is.
    func begin(_ key: IdempotencyRecords.Key) -> Bool {
        keys.withLock { $0.insert(key).inserted }
    }

    /// Marks `key` finished.
    func end(_ key: IdempotencyRecords.Key) {
        _ = keys.withLock { $0.remove(key) }
    }
}
