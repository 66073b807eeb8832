import Hummingbird
import Logging

/// The router with every route BioMatch serves.
public func buildRouter(health: HealthReport) -> Router<BasicRequestContext> {
    let router = Router()
    HealthController(report: health).addRoutes(to: router)
    return router
}

/// The HTTP application, ready to run as a service with graceful shutdown on SIGTERM.
public func buildApplication(
    configuration: ServerConfiguration,
    health: HealthReport,
    logger: Logger
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(health: health),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "BioMatch/\(health.version)"
        ),
        logger: logger
    )
}
