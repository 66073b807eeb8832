/// Anything the audit log can name as the one who acted.
public protocol AuditActing: Sendable {
    /// Who the audit log records.
    var auditActor: AuditActor { get }
}

extension Principal: AuditActing {}

/// Who asks for an operation: a request carrying an API key, or the operator at the machine
/// that holds the store (the `biomatch` CLI).
///
/// A local operator can already read and write the database file, so key checks would protect
/// nothing; what still applies is everything the audit log needs: the purpose and case reference
/// of searches, and an entry for every action, recorded as the system actor `cli:<name>`.
public enum Caller: AuditActing, Hashable {
    /// A request authenticated with an API key.
    case key(Principal)
    /// The CLI run by someone with access to the store itself, named by login name.
    case localOperator(name: String)

    /// Throws ``GovernanceError/forbidden(_:)`` unless the caller may do this.
    public func authorize(_ permission: Permission) throws(GovernanceError) {
        if case .key(let principal) = self { try principal.authorize(permission) }
    }

    /// Whether ``authorize(_:)`` would succeed.
    public func may(_ permission: Permission) -> Bool {
        switch self {
        case .key(let principal): principal.may(permission)
        case .localOperator: true
        }
    }

    /// The galleries the caller may see.
    public var scope: GalleryScope {
        switch self {
        case .key(let principal): principal.scope
        case .localOperator: .allGalleries
        }
    }

    public var auditActor: AuditActor {
        switch self {
        case .key(let principal): principal.auditActor
        case .localOperator(let name): .system("cli:\(name)")
        }
    }
}
