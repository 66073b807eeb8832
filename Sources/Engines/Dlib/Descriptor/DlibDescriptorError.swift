import Foundation
import ONNXRuntime

/// Why dlib's descriptor model could not load or describe a chip.
public enum DlibDescriptorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The converted model file is absent: run `biomatch models prepare`.
    case modelMissing(path: String)
    /// The file loaded but does not have the input and output this model drives.
    case unexpectedModel(reason: String)
    /// A chip is not a 150x150 image.
    case invalidChip(index: Int, width: Int, height: Int)
    /// The model ran but its output has the wrong shape.
    case unexpectedOutput(reason: String)
    /// ONNX Runtime failed to start a session or run.
    case runtime(ORTError)

    public var description: String {
        switch self {
        case .modelMissing(let path):
            "The prepared dlib ResNet model is missing at \(path); run `biomatch models prepare` first."
        case .unexpectedModel(let reason):
            "The dlib ResNet model file is not the converted model this engine expects: \(reason). "
                + "Run `biomatch models prepare --force`."
        case .invalidChip(let index, let width, let height):
            "Chip \(index) is \(width)x\(height); dlib's descriptor takes \(DlibDescriptorModel.chipSide)x\(DlibDescriptorModel.chipSide) chips."
        case .unexpectedOutput(let reason):
            "The dlib ResNet model produced unexpected output: \(reason)."
        case .runtime(let error):
            "ONNX Runtime failed: \(error)"
        }
    }
}
