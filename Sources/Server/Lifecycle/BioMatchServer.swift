import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the HTTP application in a ServiceLifecycle `ServiceGroup`.
///
/// On SIGTERM or SIGINT the group shuts down gracefully, in reverse order of start: the HTTP
/// server stops accepting connections and lets in-flight requests finish, and only then is the
/// store closed (by `closeStore`), so no request ever sees a closed store.
public enum BioMatchServer {
    /// The service group; run it with `run()`, stop it with `triggerGracefulShutdown()` or a signal.
    public static func serviceGroup(
        application: some ApplicationProtocol,
        closeStore: @escaping @Sendable () async -> Void,
        logger: Logger,
        otherServices: [any Service] = [],
        signals: [UnixSignal] = [.sigterm, .sigint]
    ) -> ServiceGroup {
        // Started in order and stopped in reverse: the HTTP server stops before the background
        // services, which stop before the store closes.
        ServiceGroup(
            configuration: .init(
                services: [.init(service: StoreShutdownService(close: closeStore, logger: logger))]
                    + otherServices.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                    + [
                        .init(
                            service: application, successTerminationBehavior: .gracefullyShutdownGroup,
                            failureTerminationBehavior: .gracefullyShutdownGroup)
                    ],
                gracefulShutdownSignals: signals,
                logger: logger))
    }
}

/// Waits for the group's graceful shutdown to reach it (after the HTTP server has finished), then
/// closes the store.
struct StoreShutdownService: Service {
    let close: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        // Cancellation (a failed sibling) also ends the wait; the store is closed either way.
        try? await gracefulShutdown()
        await close()
        logger.info("gallery store closed")
    }
}
