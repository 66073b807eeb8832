import Hummingbird

/// Counts and times every request by route template, method and status. Outermost, so it sees
/// the final status of problem responses too; unmatched paths share the route label `unmatched`.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Only reached if an error escapes the problem middleware, which answers them all.
            let problem = ProblemMapping.problem(for: error)
            metrics.recordRequest(
                route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: problem.status,
                duration: start.duration(to: .now))
            throw error
        }
        metrics.recordRequest(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: Int(response.status.code),
            duration: start.duration(to: .now))
        return response
    }
}
