import Gallery

/// Why a governance check or operation failed. The comment on each case gives the HTTP status
/// the server answers with.
public enum GovernanceError: Error, CustomStringConvertible {
    /// No usable API key was presented (401).
    case unauthenticated(UnauthenticatedReason)
    /// The key is valid but may not do this (403).
    case forbidden(ForbiddenReason)
    /// A search or verification stated a purpose that is not in the configured list (400).
    case unknownPurpose(String, allowed: [String])
    /// The stated purpose is configured, but not for galleries with this purpose (400).
    case purposeNotForGallery(String, galleryPurpose: GalleryPurpose)
    /// A search or verification gave no case reference, or an unusable one (400).
    case invalidCaseReference(reason: String)
    /// A key request is malformed: empty name, a scope the role cannot have, and so on (400).
    case invalidKeyRequest(reason: String)
    /// An audit event is incomplete or does not match the change it records (500: a caller bug).
    case invalidAuditEvent(reason: String)
    /// No key has this identifier (404).
    case unknownKey(APIKey.ID)
    /// The key was already revoked (409).
    case keyAlreadyRevoked(APIKey.ID)
    /// A stored governance row could not be read (500).
    case malformedRow(table: String, reason: String)
    /// An audit export line could not be read (400).
    case malformedExport(line: Int, reason: String)
    /// A proof or tree head was asked for sizes or an entry the log does not have (400).
    case invalidProofRequest(reason: String)
    /// The Merkle tree over the audit log is missing nodes or does not match the log (500).
    case auditTreeInconsistent(reason: String)
    /// No checkpoint signing key is configured, or it cannot be read (500).
    case signingKeyUnavailable(reason: String)
    /// The gallery store failed or refused; its error says why.
    case store(GalleryError)

    public var description: String {
        switch self {
        case .unauthenticated(let reason):
            "unauthenticated: \(reason)"
        case .forbidden(let reason):
            "forbidden: \(reason)"
        case .unknownPurpose(let purpose, let allowed):
            "purpose '\(purpose)' is not one of: \(allowed.joined(separator: ", "))"
        case .purposeNotForGallery(let purpose, let galleryPurpose):
            "purpose '\(purpose)' does not permit searching a \(galleryPurpose.rawValue) gallery"
        case .invalidCaseReference(let reason):
            "invalid case reference: \(reason)"
        case .invalidKeyRequest(let reason):
            "invalid key request: \(reason)"
        case .invalidAuditEvent(let reason):
            "invalid audit event: \(reason)"
        case .unknownKey(let id):
            "no API key has id \(id.rawValue)"
        case .keyAlreadyRevoked(let id):
            "API key \(id.rawValue) is already revoked"
        case .malformedRow(let table, let reason):
            "malformed row in \(table): \(reason)"
        case .malformedExport(let line, let reason):
            "malformed audit export line \(line): \(reason)"
        case .invalidProofRequest(let reason):
            "invalid proof request: \(reason)"
        case .auditTreeInconsistent(let reason):
            "the audit log's Merkle tree is inconsistent: \(reason)"
        case .signingKeyUnavailable(let reason):
            "no audit signing key: \(reason)"
        case .store(let error):
            error.description
        }
    }
}

/// Why a request is not authenticated. The server answers all of them with the same 401 text so
/// a caller cannot probe which keys exist; the reason is for the server's own log.
public enum UnauthenticatedReason: Sendable, Hashable, CustomStringConvertible {
    /// No key was presented.
    case missingKey
    /// The presented string is not shaped like a key.
    case malformedKey
    /// No stored key matches.
    case unknownKey
    /// The key was revoked.
    case revokedKey(APIKey.ID)

    public var description: String {
        switch self {
        case .missingKey: "no API key was presented"
        case .malformedKey: "the API key is malformed"
        case .unknownKey: "the API key is not known"
        case .revokedKey(let id): "API key \(id.rawValue) was revoked"
        }
    }
}

/// Why an authenticated key may not do something.
public enum ForbiddenReason: Sendable, Hashable, CustomStringConvertible {
    /// The key's role lacks the permission.
    case role(Role, Permission)
    /// The key's scope does not include the gallery.
    case gallery(String, key: APIKey.ID)

    public var description: String {
        switch self {
        case .role(let role, let permission): "the \(role) role may not \(permission)"
        case .gallery(let gallery, let key): "API key \(key.rawValue) may not use gallery '\(gallery)'"
        }
    }
}
