import Hummingbird
import Logging

/// Logs a warning for every request still unanswered after ``threshold`` (and again when it
/// ends), so an operator sees a request held up by a store, a lock or a stalled client
/// instead of a silent hang.
struct SlowRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    let threshold: Duration

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let logger = context.logger
        let started = ContinuousClock.now
        let method = request.method.rawValue
        let path = request.uri.path
        let watchdog = Task {
            try await Task.sleep(for: threshold)
            logger.warning(
                "request still unanswered", metadata: ["http.method": "\(method)", "http.path": "\(path)", "after": "\(threshold)"])
        }
        defer {
            watchdog.cancel()
            let elapsed = ContinuousClock.now - started
            if elapsed >= threshold {
                logger.warning(
                    "slow request ended", metadata: ["http.method": "\(method)", "http.path": "\(path)", "elapsed": "\(elapsed)"])
            }
        }
        return try await next(request, context)
    }
}
