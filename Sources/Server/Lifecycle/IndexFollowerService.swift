import Identification
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the node's gallery indexes current with changes committed through other nodes or
/// processes (``GalleryFeedFollower``), until the service group shuts down. Start it before the
/// HTTP server, so it stops after the last request.
public struct IndexFollowerService: Service {
    let follower: GalleryFeedFollower

    /// A follower of `service`'s store; `pollInterval` as ``GalleryFeedFollower/init(service:pollInterval:retryDelay:onEvent:)``.
    public init(service: GallerySearchService, pollInterval: Duration? = nil, logger: Logger) {
        let divergencesLogged = Mutex(0)
        follower = GalleryFeedFollower(service: service, pollInterval: pollInterval) { event in
            switch event {
            case let .caughtUp(position):
                logger.debug("indexes caught up with the change feed", metadata: ["feed.position": "\(position.rawValue)"])
                let divergences = service.feedDivergenceCount
                if divergencesLogged.withLock({ logged in defer { logged = divergences }; return divergences > logged }) {
                    logger.warning(
                        "the store's change feed differed from the one this node followed (a failover lost committed changes); every index was rebuilt from the store",
                        metadata: ["feed.position": "\(position.rawValue)"])
                }
            case let .catchUpFailed(error):
                logger.warning("catching up with the change feed failed; retrying", metadata: ["error": "\(error)"])
            case let .listeningFailed(error):
                logger.warning("listening for gallery changes failed; listening again", metadata: ["error": "\(error)"])
            }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await follower.run() }
    }
}
