/// Where and how `biomatch serve` listens.
///
/// The CLI fills it from flags, then `BIOMATCH_HOST` / `BIOMATCH_PORT`, then these defaults.
public struct ServerConfiguration: Sendable, Equatable {
    /// Interface to bind; loopback by default so nothing is exposed by accident.
    public var host: String
    /// TCP port; 0 asks the system for a free one (tests use it).
    public var port: Int

    /// A configuration for the given address.
    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}
