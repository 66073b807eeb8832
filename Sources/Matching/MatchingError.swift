/// Why an index refused a template, a query or a parameter.
public enum MatchingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A vector's length differs from the index's dimension.
    case dimensionMismatch(expected: Int, actual: Int)
    /// Indexes need a positive dimension that is a multiple of 16 (SFace templates have 128).
    case unsupportedDimension(Int)
    /// A vector contains NaN or infinity, or has zero length, so it has no direction to compare.
    case invalidVector(reason: String)
    /// The template identifier is already live in the index (or repeated within one batch).
    case duplicateTemplate(TemplateID)
    /// A batch's identifier, owner and vector counts disagree.
    case malformedBatch(reason: String)
    /// A search or construction parameter is out of range.
    case invalidParameter(name: String, reason: String)
    /// The index holds as many rows as its row numbers can address.
    case capacityExceeded(limit: Int)

    public var description: String {
        switch self {
        case let .dimensionMismatch(expected, actual):
            "vector has \(actual) components, the index expects \(expected)"
        case let .unsupportedDimension(dimension):
            "dimension \(dimension) is not supported: use a positive multiple of 16"
        case let .invalidVector(reason):
            "invalid vector: \(reason)"
        case let .duplicateTemplate(id):
            "\(id) is already in the index"
        case let .malformedBatch(reason):
            "malformed batch: \(reason)"
        case let .invalidParameter(name, reason):
            "invalid parameter \(name): \(reason)"
        case let .capacityExceeded(limit):
            "the index is full (\(limit) rows); compact it or split the gallery"
        }
    }
}
