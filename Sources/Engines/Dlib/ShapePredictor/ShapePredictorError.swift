import Installation

/// Why a file could not be loaded as dlib's 5-point shape predictor.
public enum ShapePredictorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not the pinned `shape_predictor_5_face_landmarks.dat`.
    case unexpectedFile(path: String, sha256: String, expected: String)
    /// The bytes are not dlib's serialization of a `shape_predictor`.
    case malformed(DlibSerializationError)
    /// The bytes parse but describe a model this evaluator cannot run; the text says why.
    case invalidModel(reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "Could not read the shape predictor at \(path): \(reason)."
        case let .unexpectedFile(path, sha256, expected):
            "\(path) is not dlib's 5-point shape predictor (SHA-256 \(sha256), expected \(expected))."
        case let .malformed(error):
            "The shape predictor file is not dlib's serialization of a shape_predictor: \(error.description)."
        case let .invalidModel(reason):
            "The shape predictor cannot be evaluated: \(reason)."
        }
    }
}
