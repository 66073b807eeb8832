import Hummingbird

/// Applies the configured body limit: a request whose `Content-Length` exceeds it is refused
/// with 413 before any of its body is read; for the rest, the limit is put in the context, where
/// ``IncomingBody`` enforces it while reading (bodies sent without a length).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let maximumBodyBytes: Int

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodyBytes {
            throw RequestError.bodyTooLarge(limit: maximumBodyBytes)
        }
        var context = context
        context.maximumBodyBytes = maximumBodyBytes
        return try await next(request, context)
    }
}
