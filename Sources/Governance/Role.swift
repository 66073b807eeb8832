/// What an API key may do. Each key has exactly one role.
public enum Role: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Manages galleries, thresholds and keys, and may do everything the other roles do, in every gallery.
    case admin
    /// Enrols subjects, adds templates and erases subjects in its galleries.
    case enroller
    /// Runs 1:N searches, 1:1 verifications and face detection in its galleries.
    case searcher
    /// Reads candidate lists and subjects of its galleries and records review decisions.
    case reviewer
    /// Reads and verifies the audit log; touches no gallery.
    case auditor
    /// Answers subject access requests in its galleries: everything held about one subject
    /// (record, templates, kept images and crops, decrypted) and every audit entry naming them.
    /// Nothing else; each access states a purpose and case reference and is itself audited.
    case subjectAccess

    public var description: String { rawValue }

    /// Whether keys of this role name the galleries they may use (false: admin covers every
    /// gallery; auditor uses none).
    public var isGalleryScoped: Bool {
        switch self {
        case .admin, .auditor: false
        case .enroller, .searcher, .reviewer, .subjectAccess: true
        }
    }
}

/// The galleries a key may use, by gallery name.
///
/// Names rather than identifiers: a scope is written by an administrator who knows galleries by
/// name. A gallery erased and created again under the same name is in scope again.
public enum GalleryScope: Sendable, Hashable, CustomStringConvertible {
    /// Every gallery, present and future (admin keys).
    case allGalleries
    /// Only these galleries (empty for auditor keys, which use no gallery).
    case galleries(Set<String>)

    /// Whether the scope includes the gallery with this name.
    public func includes(_ galleryName: String) -> Bool {
        switch self {
        case .allGalleries: true
        case .galleries(let names): names.contains(galleryName)
        }
    }

    /// The named galleries in name order, or nil for ``allGalleries``.
    public var sortedNames: [String]? {
        switch self {
        case .allGalleries: nil
        case .galleries(let names): names.sorted()
        }
    }

    public var description: String {
        switch self {
        case .allGalleries: "all galleries"
        case .galleries(let names) where names.isEmpty: "no galleries"
        case .galleries(let names): names.sorted().joined(separator: ", ")
        }
    }
}

/// Something a request wants to do; permissions on a gallery name it.
public enum Permission: Sendable, Hashable, CustomStringConvertible {
    /// Create a gallery.
    case createGallery
    /// Change a gallery's threshold or retention, or erase the gallery.
    case configureGallery(String)
    /// Read a gallery's settings, counts and subjects.
    case readGallery(String)
    /// Enrol subjects or add templates.
    case enrol(String)
    /// Erase a subject.
    case eraseSubject(String)
    /// Run a 1:N search.
    case search(String)
    /// Run a 1:1 verification against an enrolled subject.
    case verify(String)
    /// Compare two images 1:1 (no gallery involved).
    case compareImages
    /// Detect faces in an image (no gallery involved).
    case detect
    /// Record a review decision on a candidate list.
    case review(String)
    /// Disclose everything held about one subject of the gallery, and the audit entries naming
    /// them (a subject access request).
    case accessSubject(String)
    /// Read, export or verify the audit log.
    case readAudit
    /// Create, list or revoke API keys.
    case manageKeys

    /// The gallery the permission concerns, if any.
    public var galleryName: String? {
        switch self {
        case .configureGallery(let name), .readGallery(let name), .enrol(let name), .eraseSubject(let name),
            .search(let name), .verify(let name), .review(let name), .accessSubject(let name):
            name
        case .createGallery, .compareImages, .detect, .readAudit, .manageKeys:
            nil
        }
    }

    /// The roles that hold the permission (gallery scope is checked separately).
    public var permittedRoles: Set<Role> {
        switch self {
        case .createGallery, .configureGallery, .manageKeys: [.admin]
        case .readGallery: [.admin, .enroller, .searcher, .reviewer]
        case .enrol, .eraseSubject: [.admin, .enroller]
        case .search, .verify: [.admin, .searcher]
        case .compareImages: [.admin, .searcher]
        case .detect: [.admin, .enroller, .searcher]
        case .review: [.admin, .reviewer]
        case .accessSubject: [.admin, .subjectAccess]
        case .readAudit: [.admin, .auditor]
        }
    }

    public var description: String {
        switch self {
        case .createGallery: "create a gallery"
        case .configureGallery(let name): "configure gallery '\(name)'"
        case .readGallery(let name): "read gallery '\(name)'"
        case .enrol(let name): "enrol into gallery '\(name)'"
        case .eraseSubject(let name): "erase subjects of gallery '\(name)'"
        case .search(let name): "search gallery '\(name)'"
        case .verify(let name): "verify against gallery '\(name)'"
        case .compareImages: "compare two images"
        case .detect: "detect faces"
        case .review(let name): "review candidates of gallery '\(name)'"
        case .accessSubject(let name): "disclose a subject's data in gallery '\(name)'"
        case .readAudit: "read the audit log"
        case .manageKeys: "manage API keys"
        }
    }
}

/// The authenticated caller: who holds the key, its role and its galleries.
public struct Principal: Sendable, Hashable {
    /// The key the request presented.
    public var keyID: APIKey.ID
    /// The key's name (a person or a system), for logs and the audit log.
    public var name: String
    /// The key's role.
    public var role: Role
    /// The galleries the key may use.
    public var scope: GalleryScope

    /// Describes a principal; ``KeyRegistry/authenticate(_:)`` builds these from stored keys.
    public init(keyID: APIKey.ID, name: String, role: Role, scope: GalleryScope) {
        self.keyID = keyID
        self.name = name
        self.role = role
        self.scope = scope
    }

    /// Throws ``GovernanceError/forbidden(_:)`` unless the role permits `permission` and the
    /// scope includes its gallery.
    public func authorize(_ permission: Permission) throws(GovernanceError) {
        guard permission.permittedRoles.contains(role) else {
            throw .forbidden(.role(role, permission))
        }
        if let gallery = permission.galleryName, !scope.includes(gallery) {
            throw .forbidden(.gallery(gallery, key: keyID))
        }
    }

    /// Whether ``authorize(_:)`` would succeed.
    public func may(_ permission: Permission) -> Bool {
        do {
            try authorize(permission)
            return true
        } catch {
            return false
        }
    }

    /// Who the audit log records for requests made with this key.
    public var auditActor: AuditActor { .key(keyID, role) }
}
