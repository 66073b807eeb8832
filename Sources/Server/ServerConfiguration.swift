/// Where and how `biomatch serve` listens, and the limits it applies to every caller.
///
/// The CLI fills it from flags, then the environment (``fromEnvironment(_:)``), then these defaults.
/// Keys read from the environment:
///
/// | key | meaning | default |
/// |---|---|---|
/// | `BIOMATCH_HOST` | interface to bind | `127.0.0.1` |
/// | `BIOMATCH_PORT` | TCP port (0: any free port) | `8080` |
/// | `BIOMATCH_MAX_BODY_BYTES` | largest request body accepted | 20 MiB |
/// | `BIOMATCH_RATE_LIMIT` | sustained requests per second per API key | `20` |
/// | `BIOMATCH_RATE_BURST` | requests a key may send at once after a quiet spell | `40` |
public struct ServerConfiguration: Sendable, Equatable {
    /// Interface to bind; loopback by default so nothing is exposed by accident.
    public var host: String
    /// TCP port; 0 asks the system for a free one (tests use it).
    public var port: Int
    /// The largest request body accepted, in bytes; larger ones get 413 (before the body is read
    /// when the request states its length).
    public var maximumBodyBytes: Int
    /// The per-key request rate.
    public var rateLimit: RateLimit

    /// 20 MiB: a few high-resolution photos in one enrolment.
    public static let defaultMaximumBodyBytes = 20 * 1024 * 1024

    /// A configuration for the given address and limits.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, maximumBodyBytes: Int = Self.defaultMaximumBodyBytes,
        rateLimit: RateLimit = RateLimit()
    ) {
        self.host = host
        self.port = port
        self.maximumBodyBytes = maximumBodyBytes
        self.rateLimit = rateLimit
    }

    /// The defaults overridden by whichever `BIOMATCH_*` keys (see the table above) are set and
    /// valid; an unparsable value is reported in the returned list and the default kept.
    public static func fromEnvironment(
        _ environment: [String: String]
    ) -> (configuration: ServerConfiguration, problems: [String]) {
        var configuration = ServerConfiguration()
        var problems: [String] = []
        func read<Value>(_ key: String, _ parse: (String) -> Value?, into value: inout Value) {
            guard let text = environment[key] else { return }
            if let parsed = parse(text) { value = parsed } else { problems.append("\(key)=\(text) is not valid; using the default") }
        }
        read("BIOMATCH_HOST", { $0.isEmpty ? nil : $0 }, into: &configuration.host)
        read("BIOMATCH_PORT", { Int($0).flatMap { (0...65535).contains($0) ? $0 : nil } }, into: &configuration.port)
        read("BIOMATCH_MAX_BODY_BYTES", { Int($0).flatMap { $0 > 0 ? $0 : nil } }, into: &configuration.maximumBodyBytes)
        read("BIOMATCH_RATE_LIMIT", { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } },
             into: &configuration.rateLimit.requestsPerSecond)
        read("BIOMATCH_RATE_BURST", { Int($0).flatMap { $0 > 0 ? $0 : nil } }, into: &configuration.rateLimit.burst)
        return (configuration, problems)
    }
}

/// A token bucket per API key: `burst` tokens, refilled at `requestsPerSecond`; each request
/// takes one.
public struct RateLimit: Sendable, Equatable {
    /// Sustained requests per second.
    public var requestsPerSecond: Double
    /// Bucket size: how many requests may arrive at once.
    public var burst: Int

    /// A limit; the defaults leave room for a client pipelining searches on a two-core machine.
    public init(requestsPerSecond: Double = 20, burst: Int = 40) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}
