import Hummingbird
import Logging

/// Turns every error thrown below it, domain or Hummingbird's own, into a problem+json response
/// (see ``ProblemMapping``), and logs the errors that are the server's fault with their detail.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var problem = ProblemMapping.problem(for: error)
            problem.instance = request.uri.path
            problem.requestID = context.id
            if ProblemMapping.isServerFault(problem) {
                context.logger.error(
                    "request failed", metadata: ["error": "\(String(reflecting: error))", "http.route": "\(context.endpointPath ?? "unmatched")"])
            } else {
                context.logger.debug("request refused", metadata: ["problem.type": "\(problem.type)", "problem.status": "\(problem.status)"])
            }
            return problem.response()
        }
    }
}
