/// Why a gallery store refused or failed an operation. A refused operation changed nothing.
public enum GalleryError: Error, CustomStringConvertible {
    /// No gallery has this identifier.
    case unknownGallery(GalleryRecord.ID)
    /// No gallery has this name.
    case unknownGalleryName(String)
    /// No subject has this identifier.
    case unknownSubject(SubjectRecord.ID)
    /// No subject of the gallery has this external reference.
    case unknownExternalReference(String, gallery: GalleryRecord.ID)
    /// Another gallery already has this name.
    case duplicateGalleryName(String)
    /// Another subject of the gallery already has this external reference.
    case duplicateExternalReference(String, gallery: GalleryRecord.ID)
    /// A template vector does not have the stored dimension.
    case wrongTemplateDimension(expected: Int, actual: Int)
    /// A template comes from another face model than the gallery's.
    case wrongModelIdentifier(expected: String, actual: String)
    /// A template vector is not L2-normalised (or has a non-finite component).
    case templateNotNormalised(norm: Float)
    /// Some other argument is out of range or malformed.
    case invalidInput(field: String, reason: String)
    /// The database holds gallery migrations this build does not know: a newer build wrote it.
    case unknownSchemaMigrations([String])
    /// A companion record could not be built or written; the change it accompanied was rolled back.
    case companionRecordFailed(table: String, underlying: any Error)
    /// The database failed; the operation's transaction was rolled back.
    case storageFailure(operation: String, underlying: any Error)
    /// No primary database server is reachable (it is down, or failing over): nothing was
    /// changed. Try again after `retryAfterSeconds`.
    case unavailable(retryAfterSeconds: Int, reason: String)
    /// The connection to the database failed while the change was being committed: it may or
    /// may not have been made. Never report this as a failure; retry (with an idempotency key
    /// where the caller has one) after `retryAfterSeconds`, or read back to find out.
    case outcomeUnknown(operation: String, retryAfterSeconds: Int)

    public var description: String {
        switch self {
        case .unknownGallery(let id):
            "unknown \(id)"
        case .unknownGalleryName(let name):
            "no gallery is named '\(name)'"
        case .unknownSubject(let id):
            "unknown \(id)"
        case .unknownExternalReference(let reference, let gallery):
            "\(gallery) has no subject with reference '\(reference)'"
        case .duplicateGalleryName(let name):
            "a gallery named '\(name)' already exists"
        case .duplicateExternalReference(let reference, let gallery):
            "\(gallery) already has a subject with reference '\(reference)'"
        case .wrongTemplateDimension(let expected, let actual):
            "template has \(actual) components; \(expected) expected"
        case .wrongModelIdentifier(let expected, let actual):
            "template comes from model '\(actual)' but the gallery holds '\(expected)' templates"
        case .templateNotNormalised(let norm):
            "template is not L2-normalised (norm \(norm))"
        case .invalidInput(let field, let reason):
            "invalid \(field): \(reason)"
        case .unknownSchemaMigrations(let identifiers):
            "the database was migrated by a newer build (unknown migrations: \(identifiers.joined(separator: ", ")))"
        case .companionRecordFailed(let table, let underlying):
            "could not append the companion record to '\(table)': \(String(reflecting: underlying))"
        case .storageFailure(let operation, let underlying):
            "storage failure during \(operation): \(String(reflecting: underlying))"
        case .unavailable(let seconds, let reason):
            "the gallery store is unavailable (\(reason)); nothing was changed; try again in \(seconds) s"
        case .outcomeUnknown(let operation, let seconds):
            "the connection to the gallery store failed while \(operation) was being committed: it may or may not have been made; try again in \(seconds) s (a retry with the same idempotency key is safe)"
        }
    }
}
