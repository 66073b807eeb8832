import Foundation
import ModelPreparation

/// Why dlib's ResNet could not be converted, or its converted copy recorded.
public enum DlibPreparationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The shipped `.dat` file is not where preparation looked.
    case missingSource(URL)
    /// The source is not the pinned file and custom models were not allowed.
    case checksumMismatch(file: URL, expected: String, actual: String)
    /// A file could not be read.
    case unreadableFile(URL, reason: String)
    /// The file is not dlib's ResNet face descriptor.
    case invalidNetwork(file: URL, DlibNetworkError)
    /// The converted graph or the manifest could not be written or serialised.
    case writeFailed(URL, reason: String)
    /// The shared manifest could not be read or written.
    case manifest(ModelPreparationError)

    public var description: String {
        switch self {
        case .missingSource(let file):
            "dlib's ResNet model file is missing: \(file.path) (run scripts/setup, or pass --input-dir)."
        case .checksumMismatch(let file, let expected, let actual):
            "dlib's ResNet model file \(file.path) has sha256 \(actual), expected the pinned \(expected); "
                + "refusing it (pass --custom to prepare a model you trust)."
        case .unreadableFile(let file, let reason):
            "Cannot read \(file.path): \(reason)."
        case .invalidNetwork(let file, let error):
            "\(file.path) is not dlib's ResNet face descriptor: \(error)."
        case .writeFailed(let file, let reason):
            "Cannot write \(file.path): \(reason)."
        case .manifest(let error):
            error.description
        }
    }
}
