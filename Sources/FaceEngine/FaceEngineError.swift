import Imaging
import Installation
import ONNXRuntime

/// Why the face engine could not start or analyse an image.
public enum FaceEngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not an image the decoder accepts.
    case decoding(ImageDecodingError)
    /// A prepared model file is absent: run `biomatch models prepare`.
    case modelMissing(model: PinnedModel, path: String)
    /// A model file loaded but does not have the inputs and outputs this engine drives.
    case unexpectedModel(model: PinnedModel, reason: String)
    /// A model ran but produced outputs of the wrong shape.
    case unexpectedModelOutput(model: PinnedModel, reason: String)
    /// ONNX Runtime failed to load, start a session, or run.
    case runtime(ORTError)
    /// The configuration cannot work; the text says which setting.
    case invalidConfiguration(String)
    /// A vector could not become a template.
    case invalidTemplate(reason: String)
    /// Two templates from different models or of different lengths were compared.
    case templateMismatch(String, String)
    /// No recognition engine of this name is installed.
    case unknownEngine(String, installed: [String])
    /// A plug-in recognition engine could not load or run; the text says why.
    case engineFailure(engine: String, reason: String)

    /// One sentence for logs, the CLI and problem responses.
    public var description: String {
        switch self {
        case let .decoding(error):
            "Could not decode the image: \(error.description)"
        case let .modelMissing(model, path):
            "The prepared \(model.rawValue) model is missing at \(path); run `biomatch models prepare` first."
        case let .unexpectedModel(model, reason):
            "The \(model.rawValue) model file is not the prepared model this engine expects: \(reason)."
                + " Run `biomatch models prepare` again."
        case let .unexpectedModelOutput(model, reason):
            "The \(model.rawValue) model produced unexpected output: \(reason)."
        case let .runtime(error):
            "ONNX Runtime failed: \(error.description)"
        case let .invalidConfiguration(reason):
            "Invalid face engine configuration: \(reason)."
        case let .invalidTemplate(reason):
            "Invalid face template: \(reason)."
        case let .templateMismatch(first, second):
            "Templates cannot be compared: \(first) versus \(second)."
        case let .engineFailure(engine, reason):
            "The \(engine) recognition engine failed: \(reason)"
        case let .unknownEngine(name, installed):
            "No recognition engine '\(name)' is installed (installed: \(installed.joined(separator: ", ")))."
        }
    }
}
