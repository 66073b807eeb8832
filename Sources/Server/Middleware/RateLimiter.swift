import Governance
import Hummingbird
import Synchronization

/// A token bucket per API key (see ``RateLimit``). Buckets live as long as the server; there is
/// one per key that has made a request, so memory is bounded by the number of keys.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let limit: RateLimit
    private let buckets = Mutex<[APIKey.ID: Bucket]>([:])
    private let clock = ContinuousClock()

    init(limit: RateLimit) {
        self.limit = limit
    }

    /// Takes a token for `key`; returns nil if one was available, or the whole seconds to wait
    /// until one will be.
    func acquire(for key: APIKey.ID) -> Int? {
        let now = clock.now
        let capacity = Double(limit.burst)
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(capacity, bucket.tokens + seconds * limit.requestsPerSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / limit.requestsPerSecond).rounded(.up)))
        }
    }
}

/// Refuses requests over the caller's rate with 429 and `Retry-After`. Runs after
/// authentication: the rate is per key.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let limiter: RateLimiter

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let principal = try context.requirePrincipal()
        if let wait = limiter.acquire(for: principal.keyID) {
            throw RequestError.rateLimited(retryAfterSeconds: wait)
        }
        return try await next(request, context)
    }
}
