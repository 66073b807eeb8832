import Foundation
import Hummingbird

/// An RFC 9457 problem: the body of every error response, served as `application/problem+json`.
///
/// Standard members are `type`, `title`, `status`, `detail` and `instance`; BioMatch adds
/// `errors` (which fields of the request were wrong and why) and `requestID` (the identifier the
/// server's log uses for the request, so an operator can find it).
public struct ProblemDetails: Error, Sendable, Equatable, Codable {
    /// One wrong part of a request.
    public struct FieldProblem: Sendable, Equatable, Codable {
        /// A JSON Pointer (RFC 6901) into the request body (`/purpose`, `/images/1`), or the name
        /// of a query parameter or multipart part prefixed with `#` (`#limit`).
        public var pointer: String
        /// What is wrong with it.
        public var detail: String

        /// Names a wrong part of a request.
        public init(pointer: String, detail: String) {
            self.pointer = pointer
            self.detail = detail
        }
    }

    /// The problem type's URI (see ``ProblemType``).
    public var type: String
    /// The problem type's short, fixed summary.
    public var title: String
    /// The HTTP status code.
    public var status: Int
    /// What went wrong with this request, for the caller to read.
    public var detail: String?
    /// The request path the problem concerns.
    public var instance: String?
    /// The fields of the request that were wrong.
    public var errors: [FieldProblem]?
    /// The request's identifier in the server's log.
    public var requestID: String?
    /// Response headers the problem needs (`WWW-Authenticate`, `Retry-After`, `Allow`); not part
    /// of the body.
    public var headers: HTTPFields

    private enum CodingKeys: String, CodingKey {
        case type, title, status, detail, instance, errors, requestID
    }

    /// A problem of the given type.
    public init(
        _ problemType: ProblemType, detail: String? = nil, errors: [FieldProblem]? = nil, headers: HTTPFields = [:]
    ) {
        type = problemType.uri
        title = problemType.title
        status = Int(problemType.status.code)
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    /// Decodes a problem body (headers are not in the body and come back empty).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        title = try container.decode(String.self, forKey: .title)
        status = try container.decode(Int.self, forKey: .status)
        detail = try container.decodeIfPresent(String.self, forKey: .detail)
        instance = try container.decodeIfPresent(String.self, forKey: .instance)
        errors = try container.decodeIfPresent([FieldProblem].self, forKey: .errors)
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
        headers = [:]
    }

    /// Encodes the body members only.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(title, forKey: .title)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(detail, forKey: .detail)
        try container.encodeIfPresent(instance, forKey: .instance)
        try container.encodeIfPresent(errors, forKey: .errors)
        try container.encodeIfPresent(requestID, forKey: .requestID)
    }

    /// The media type of problem bodies.
    public static let mediaType = "application/problem+json"

    /// The HTTP response carrying this problem.
    public func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings and integers cannot fail; the fallback keeps the status regardless.
        let body = (try? encoder.encode(self)) ?? Data(#"{"status":\#(status)}"#.utf8)
        var fields = headers
        fields[.contentType] = Self.mediaType
        return Response(
            status: HTTPResponse.Status(code: status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The kinds of problem BioMatch reports; each has a fixed URI, title and status.
public enum ProblemType: String, CaseIterable, Sendable {
    /// The request is malformed: bad JSON, a missing or invalid field or parameter (400).
    case invalidRequest = "invalid-request"
    /// A search or verification gave no usable purpose or case reference (400).
    case missingJustification = "missing-justification"
    /// No valid API key was presented (401).
    case unauthenticated
    /// The key's role or gallery scope does not allow this (403).
    case forbidden
    /// The gallery, subject or key does not exist (404).
    case notFound = "not-found"
    /// No route has this path (404).
    case routeNotFound = "route-not-found"
    /// The path exists but not with this method (405).
    case methodNotAllowed = "method-not-allowed"
    /// The request conflicts with stored state: a name or reference already taken (409).
    case conflict
    /// The body is larger than the server accepts (413).
    case bodyTooLarge = "body-too-large"
    /// The body's media type is not one the route accepts (415).
    case unsupportedMediaType = "unsupported-media-type"
    /// An image cannot be decoded, is too large in pixels, or holds no usable face (422).
    case unprocessableImage = "unprocessable-image"
    /// The key sent more requests than its rate allows (429).
    case rateLimited = "rate-limited"
    /// The server failed; the detail says nothing of its internals (500).
    case internalError = "internal-error"
    /// The database has no reachable primary (down or failing over); nothing was changed.
    /// `Retry-After` says when to try again (503).
    case unavailable
    /// The database connection failed while the change was being committed: it may or may not
    /// have been made. Retry with the same `Idempotency-Key` after `Retry-After` (503).
    case outcomeUnknown = "outcome-unknown"
    /// The `Idempotency-Key` was used before for a different request (422).
    case idempotencyKeyReused = "idempotency-key-reused"
    /// A request with this `Idempotency-Key` is still being processed (409).
    case requestInProgress = "request-in-progress"

    /// The type's URI; a URN, since the problem types are documented in the OpenAPI document
    /// rather than at a web address.
    public var uri: String { "urn:biomatch:problem:\(rawValue)" }

    /// The fixed summary.
    public var title: String {
        switch self {
        case .invalidRequest: "The request is invalid"
        case .missingJustification: "A purpose and case reference are required"
        case .unauthenticated: "Authentication required"
        case .forbidden: "Not permitted"
        case .notFound: "Not found"
        case .routeNotFound: "No such route"
        case .methodNotAllowed: "Method not allowed"
        case .conflict: "Conflict"
        case .bodyTooLarge: "Request body too large"
        case .unsupportedMediaType: "Unsupported media type"
        case .unprocessableImage: "The image cannot be used"
        case .rateLimited: "Too many requests"
        case .internalError: "Internal server error"
        case .unavailable: "Service unavailable"
        case .outcomeUnknown: "Outcome unknown"
        case .idempotencyKeyReused: "Idempotency key reused"
        case .requestInProgress: "Request in progress"
        }
    }

    /// The HTTP status.
    public var status: HTTPResponse.Status {
        switch self {
        case .invalidRequest, .missingJustification: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound, .routeNotFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .conflict, .requestInProgress: .conflict
        case .idempotencyKeyReused: .unprocessableContent
        case .unavailable, .outcomeUnknown: .serviceUnavailable
        case .bodyTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .unprocessableImage: .unprocessableContent
        case .rateLimited: .tooManyRequests
        case .internalError: .internalServerError
        }
    }
}
