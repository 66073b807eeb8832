import Foundation
import Gallery

/// Keeps a ``GallerySearchService``'s indexes current with changes other nodes (or processes)
/// commit to the shared store: runs ``GallerySearchService/catchUp()`` whenever the change feed
/// may have grown.
///
/// Wake-ups: a store that notifies (``ChangeNotifyingStore``, PostgreSQL's LISTEN) wakes the
/// follower on every commit and each time listening (re)starts, so a change committed while the
/// listening connection was down is read as soon as it is back; a slow poll covers a wake-up
/// lost anyway. Other stores (SQLite, which another process may write) are polled. A failed
/// catch-up is retried after `retryDelay`; nothing is skipped, because the feed is read on from
/// the last position applied.
public struct GalleryFeedFollower: Sendable {
    /// What the follower went through, for logs and metrics.
    public enum Event: Sendable {
        /// Caught up to this position (reported when it moved).
        case caughtUp(ChangeFeedPosition)
        /// A catch-up failed; it is retried.
        case catchUpFailed(IdentificationError)
        /// The listening connection failed; it is reopened after `retryDelay`.
        case listeningFailed(GalleryError)
    }

    /// The service kept current.
    public let service: GallerySearchService
    /// How often the feed is read without a wake-up.
    public let pollInterval: Duration
    /// How long to wait before retrying a failed catch-up or listening connection.
    public let retryDelay: Duration
    let onEvent: @Sendable (Event) -> Void

    /// Poll intervals when none is given: with notifications the poll only backs them up.
    public static let notifiedPollInterval = Duration.seconds(10)
    public static let unnotifiedPollInterval = Duration.milliseconds(250)

    /// A follower of `service`'s store; `pollInterval` defaults to 10 s with notifications and
    /// 250 ms without.
    public init(
        service: GallerySearchService, pollInterval: Duration? = nil, retryDelay: Duration = .milliseconds(500),
        onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.service = service
        self.pollInterval =
            pollInterval ?? (service.store is any ChangeNotifyingStore ? Self.notifiedPollInterval : Self.unnotifiedPollInterval)
        self.retryDelay = retryDelay
        self.onEvent = onEvent
    }

    /// Follows the feed until the task is cancelled.
    public func run() async {
        let (wakeUps, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            if let store = service.store as? any ChangeNotifyingStore {
                group.addTask { await listen(to: store, wake: wake) }
            }
            group.addTask {
                while !Task.isCancelled {
                    wake.yield()
                    try? await Task.sleep(for: pollInterval)
                }
            }
            group.addTask {
                var reported = service.feedPosition
                for await _ in wakeUps {
                    do throws(IdentificationError) {
                        let position = try await service.catchUp()
                        if position != reported {
                            reported = position
                            onEvent(.caughtUp(position))
                        }
                    } catch {
                        onEvent(.catchUpFailed(error))
                        try? await Task.sleep(for: retryDelay)
                        wake.yield()
                    }
                }
            }
            // Every task ends when the run is cancelled (a stream's iteration too).
            await group.waitForAll()
        }
    }

    private func listen(to store: any ChangeNotifyingStore, wake: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            do {
                try await store.listenForChanges {
                    wake.yield()
                }
            } catch {
                onEvent(.listeningFailed(error))
            }
            if Task.isCancelled { return }
            // A wake-up follows as soon as listening starts again; until then the poll covers.
            try? await Task.sleep(for: retryDelay)
        }
    }
}
