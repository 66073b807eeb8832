import Foundation
import Installation

/// Why a model could not be prepared or its prepared copy could not be read.
public enum ModelPreparationError: Error, Equatable, CustomStringConvertible {
    /// The shipped model file is not where preparation looked for it.
    case missingSource(PinnedModel, file: URL)
    /// The source file is not the pinned one and custom models were not allowed.
    case checksumMismatch(PinnedModel, file: URL, expected: String, actual: String)
    /// A file could not be read (permissions, I/O).
    case unreadableFile(URL, reason: String)
    /// The bytes are not an ONNX model protobuf.
    case malformedModel(file: URL, reason: String)
    /// The graph does not have the inputs and outputs BioMatch feeds and reads.
    case unexpectedGraph(PinnedModel, file: URL, mismatch: GraphMismatch)
    /// A constant `DequantizeLinear` uses a layout or type this pass does not fold.
    case unsupportedQuantization(node: String, reason: String)
    /// A tensor's stored data does not match its declared type or shape.
    case invalidTensor(name: String, reason: String)
    /// The prepared file or the manifest could not be written.
    case writeFailed(URL, reason: String)
    /// The manifest beside the prepared files exists but cannot be decoded.
    case unreadableManifest(URL, reason: String)

    public var description: String {
        switch self {
        case .missingSource(let model, let file):
            "The \(model.rawValue) model file is missing: \(file.path) (run scripts/setup, or pass --input-dir)."
        case .checksumMismatch(let model, let file, let expected, let actual):
            "The \(model.rawValue) model file \(file.path) has sha256 \(actual), expected the pinned \(expected); "
                + "refusing it (pass --custom to prepare a model you trust)."
        case .unreadableFile(let file, let reason):
            "Cannot read \(file.path): \(reason)."
        case .malformedModel(let file, let reason):
            "\(file.path) is not a valid ONNX model: \(reason)."
        case .unexpectedGraph(let model, let file, let mismatch):
            "\(file.path) is not a usable \(model.rawValue) model: \(mismatch)."
        case .unsupportedQuantization(let node, let reason):
            "Cannot fold DequantizeLinear node '\(node)': \(reason)."
        case .invalidTensor(let name, let reason):
            "Tensor '\(name)' is invalid: \(reason)."
        case .writeFailed(let file, let reason):
            "Cannot write \(file.path): \(reason)."
        case .unreadableManifest(let file, let reason):
            "Cannot read the prepared-model manifest \(file.path): \(reason) (run `biomatch models prepare --force`)."
        }
    }
}

/// How a model's graph differs from what BioMatch expects of it.
public enum GraphMismatch: Equatable, Sendable, CustomStringConvertible {
    /// The file holds no graph at all.
    case missingGraph
    /// The graph's runtime inputs (initializers and unused inputs excluded) differ.
    case inputs(expected: [String], found: [String])
    /// The graph's outputs differ.
    case outputs(expected: [String], found: [String])
    /// An input or output does not have the rank BioMatch feeds or reads.
    case rank(tensor: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .missingGraph:
            "the file holds no graph"
        case .inputs(let expected, let found):
            "its inputs are \(found), expected \(expected)"
        case .outputs(let expected, let found):
            "its outputs are \(found), expected \(expected)"
        case .rank(let tensor, let expected, let found):
            "'\(tensor)' has rank \(found), expected \(expected)"
        }
    }
}
