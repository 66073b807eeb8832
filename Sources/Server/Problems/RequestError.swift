/// What the HTTP layer itself finds wrong with a request, before any domain code runs.
public enum RequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body's media type is not one the route accepts.
    case unsupportedMediaType(received: String?, accepted: [String])
    /// The body is longer than the configured limit.
    case bodyTooLarge(limit: Int)
    /// The route needs a body and none was sent.
    case emptyBody
    /// The body is not valid JSON, or not the JSON the route expects; `pointer` locates the
    /// offending member when known.
    case malformedJSON(pointer: String?, reason: String)
    /// The multipart body cannot be parsed.
    case malformedMultipart(reason: String)
    /// A field, part or parameter is missing or has an unusable value; `pointer` follows
    /// ``ProblemDetails/FieldProblem/pointer``.
    case invalidField(pointer: String, reason: String)
    /// No route has this path.
    case routeNotFound(path: String)
    /// The path exists, but only with other methods.
    case methodNotAllowed(method: String, allowed: [String])
    /// The key has used up its request allowance; it may retry after this many seconds.
    case rateLimited(retryAfterSeconds: Int)
    /// A route that needs an authenticated caller ran without one: a wiring mistake (500).
    case missingPrincipal

    public var description: String {
        switch self {
        case .unsupportedMediaType(let received, let accepted):
            "the body's media type is \(received.map { "'\($0)'" } ?? "not stated"); this route accepts "
                + accepted.joined(separator: ", ")
        case .bodyTooLarge(let limit):
            "the request body is larger than the limit of \(limit) bytes"
        case .emptyBody:
            "the request body is empty"
        case .malformedJSON(let pointer, let reason):
            "the JSON body is malformed\(pointer.map { " at \($0)" } ?? ""): \(reason)"
        case .malformedMultipart(let reason):
            "the multipart body is malformed: \(reason)"
        case .invalidField(let pointer, let reason):
            "\(pointer): \(reason)"
        case .routeNotFound(let path):
            "no route serves \(path)"
        case .methodNotAllowed(let method, let allowed):
            "\(method) is not allowed here; use \(allowed.joined(separator: ", "))"
        case .rateLimited(let seconds):
            "the request rate of this API key is exceeded; retry after \(seconds) s"
        case .missingPrincipal:
            "a route that needs an authenticated caller ran without one"
        }
    }
}
