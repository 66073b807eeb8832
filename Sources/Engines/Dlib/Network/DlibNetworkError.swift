/// Why a file is not the dlib network BioMatch converts.
public enum DlibNetworkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes break dlib's serialization rules (or end early, or run on past the network).
    case malformed(DlibSerializationError)
    /// A wrapper's version is not one this reader knows.
    case unexpectedVersion(offset: Int, wrapper: String, found: Int64)
    /// The loss layer is not dlib's metric loss.
    case unexpectedLoss(offset: Int, found: String)
    /// The input layer is not a 150x150 RGB image input.
    case unexpectedInput(offset: Int, reason: String)
    /// A layer (forward index) differs from the architecture.
    case unexpectedLayer(index: Int, offset: Int, expected: String, found: String)
    /// A layer's parameters or shapes do not fit together or with its input.
    case inconsistentLayer(index: Int, reason: String)

    public var description: String {
        switch self {
        case .malformed(let error):
            "not a valid dlib serialization: \(error)"
        case .unexpectedVersion(let offset, let wrapper, let found):
            "byte \(offset): \(wrapper) version \(found) is not supported"
        case .unexpectedLoss(let offset, let found):
            "byte \(offset): loss '\(found)', expected dlib's metric loss"
        case .unexpectedInput(let offset, let reason):
            "byte \(offset): unexpected input layer: \(reason)"
        case .unexpectedLayer(let index, let offset, let expected, let found):
            "byte \(offset): layer \(index) is \(found), expected \(expected)"
        case .inconsistentLayer(let index, let reason):
            "layer \(index): \(reason)"
        }
    }
}
