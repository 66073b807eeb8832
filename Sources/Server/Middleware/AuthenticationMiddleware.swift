import Governance
import Hummingbird

/// Authenticates every request to the routes it guards: the key comes from
/// `Authorization: Bearer <key>` or `X-API-Key: <key>`, and ``KeyRegistry/authenticate(_:)``
/// turns it into the ``Principal`` routes find in ``APIRequestContext/principal``. A missing,
/// malformed, unknown or revoked key is a 401 (same text for each).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let keys: KeyRegistry

    /// The alternative header, by canonical (lower-case) name.
    static let apiKeyHeader = "x-api-key"

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let principal: Principal
        do {
            principal = try await keys.authenticate(Self.presentedKey(in: request.headers))
        } catch {
            if case .unauthenticated(let reason) = error {
                // The reason goes to the log only; the caller always reads the same 401.
                context.logger.notice("authentication failed", metadata: ["auth.reason": "\(reason)"])
            }
            throw error
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "auth.key_id"] = "\(principal.keyID.rawValue)"
        return try await next(request, context)
    }

    /// The presented key: the Bearer credential if `Authorization` holds one, else `X-API-Key`.
    static func presentedKey(in headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return "" }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
        return headers.first { $0.name.canonicalName == apiKeyHeader }?.value.trimmingCharacters(in: .whitespaces)
    }
}
