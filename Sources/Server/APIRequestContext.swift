import Governance
import Hummingbird

/// The request context of every BioMatch route: Hummingbird's core storage plus the caller the
/// authentication middleware found and the body limit in force.
public struct APIRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller; nil on public routes and before authentication.
    public var principal: Principal?
    /// The largest body the route may read, set from ``ServerConfiguration/maximumBodyBytes``.
    public var maximumBodyBytes: Int

    /// A context for a new request; the body-limit middleware sets the configured limit.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
        maximumBodyBytes = ServerConfiguration.defaultMaximumBodyBytes
    }

    /// Hummingbird's own decoders honour the same limit.
    public var maxUploadSize: Int { maximumBodyBytes }

    /// The authenticated caller, for routes behind the authentication middleware.
    public func requirePrincipal() throws(RequestError) -> Principal {
        guard let principal else { throw .missingPrincipal }
        return principal
    }
}
