import Hummingbird
import Logging
import NIOCore
import Operations

/// What the HTTP application serves: the governed operations, the health report and the
/// metrics registry.
public struct ServerDependencies: Sendable {
    /// The governed facade every `/v1` route calls.
    public var operations: MatcherOperations
    /// What `/health` reports.
    public var health: HealthReport
    /// The metrics `/metrics` exposes; pass the same object to
    /// ``MatcherOperations/open(store:engine:purposes:analysisObserver:)`` as
    /// `analysisObserver: metrics.record` so engine stage times are recorded.
    public var metrics: ServerMetrics
    /// Runs the engine templating jobs the API starts (and, under ``EngineJobService``, resumes
    /// unfinished ones).
    public var engineJobs: EngineJobRunner

    /// Bundles the dependencies; without `engineJobs`, a runner of this process's own.
    public init(
        operations: MatcherOperations, health: HealthReport, metrics: ServerMetrics, engineJobs: EngineJobRunner? = nil
    ) {
        self.operations = operations
        self.health = health
        self.metrics = metrics
        self.engineJobs = engineJobs ?? EngineJobRunner(operations: operations, logger: Logger(label: "biomatch.engine-jobs"))
    }
}

/// The router with every route BioMatch serves.
///
/// Middleware, outermost first: request metrics, problem+json for every error, the body limit;
/// then, on `/v1` only, authentication and the per-key rate limit. Public routes: `/health`,
/// `/openapi.json`, `/metrics`. A known path asked with another method gets 405 with `Allow`.
public func buildRouter(configuration: ServerConfiguration, dependencies: ServerDependencies) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: dependencies.metrics))
    router.add(middleware: SlowRequestMiddleware(threshold: .seconds(10)))
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: BodyLimitMiddleware(maximumBodyBytes: configuration.maximumBodyBytes))

    let operations = dependencies.operations
    HealthController<APIRequestContext>(
        report: dependencies.health, live: HealthReport.liveFields(of: dependencies.operations)
    ).addRoutes(to: router)
    let document = OpenAPIDocument.document(
        version: dependencies.health.version, purposes: operations.purposes.names,
        engines: operations.identification.installedEngines)
    ServiceRoutes(operations: operations, metrics: dependencies.metrics, openAPIDocument: document.encoded())
        .addRoutes(to: router)

    let v1 = router.group("v1")
        .add(middleware: AuthenticationMiddleware(keys: operations.keys))
        .add(middleware: RateLimitMiddleware(limiter: RateLimiter(limit: configuration.rateLimit)))
    let idempotent = IdempotentRequests(operations: operations, inFlight: InFlightKeys())
    GalleryRoutes(operations: operations).addRoutes(to: v1)
    EngineRoutes(operations: operations, runner: dependencies.engineJobs).addRoutes(to: v1)
    SubjectRoutes(operations: operations, idempotent: idempotent).addRoutes(to: v1)
    MatchingRoutes(operations: operations).addRoutes(to: v1)
    AuditRoutes(operations: operations).addRoutes(to: v1)
    ReviewRoutes(operations: operations, idempotent: idempotent).addRoutes(to: v1)
    SubjectAccessRoutes(operations: operations).addRoutes(to: v1)

    addMethodNotAllowedRoutes(to: router)
    return router
}

/// Registers, for every path, the methods it does not serve, answering 405 with the ones it does
/// (before authentication: the answer depends only on the path).
func addMethodNotAllowedRoutes(to router: Router<APIRequestContext>) {
    var methodsByPath: [String: [HTTPRequest.Method]] = [:]
    for route in router.routes {
        methodsByPath[route.path.description, default: []].append(route.method)
    }
    let candidates: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
    for (path, methods) in methodsByPath {
        let allowed = methods.map(\.rawValue).sorted()
        for method in candidates where !methods.contains(method) {
            router.on(RouterPath(path), method: method) { request, _ -> Response in
                throw RequestError.methodNotAllowed(method: request.method.rawValue, allowed: allowed)
            }
        }
    }
}

/// The HTTP application, a ServiceLifecycle service (see ``BioMatchServer``): the API router
/// plus the review console under `/console` (``ConsoleRoutes``).
/// `onServerRunning` receives the bound port (useful with port 0).
public func buildApplication(
    configuration: ServerConfiguration,
    dependencies: ServerDependencies,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int?) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, dependencies: dependencies)
    ConsoleRoutes(operations: dependencies.operations).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "BioMatch/\(dependencies.health.version)"
        ),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port) },
        logger: logger
    )
}
