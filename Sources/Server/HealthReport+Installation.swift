import Foundation
import Installation
import ONNXRuntime

extension HealthReport {
    /// Builds the report for an installation: the runtime's version read through ONNX Runtime's
    /// C API and the hash of each prepared model file.
    /// - Throws: ``StartupError/modelNotPrepared(model:path:)`` when a prepared file is absent
    ///   or unreadable.
    public static func gather(installation: Installation, runtime: ORTEnvironment) throws(StartupError) -> HealthReport {
        let models = try PinnedModel.allCases.map { model throws(StartupError) in
            let file = installation.preparedFile(of: model)
            guard let digest = try? FileDigest.sha256(of: file) else {
                throw .modelNotPrepared(model: model, path: file.path)
            }
            return ModelFile(
                identifier: model.modelIdentifier,
                file: file.lastPathComponent,
                sha256: digest,
                originalSHA256: model.originalSHA256
            )
        }
        return HealthReport(
            version: BioMatchVersion.current,
            onnxRuntimeVersion: runtime.runtimeVersion,
            models: models
        )
    }
}

/// Why the server cannot start.
public enum StartupError: Error, Equatable, CustomStringConvertible {
    /// A prepared model file is missing or unreadable.
    case modelNotPrepared(model: PinnedModel, path: String)

    /// One sentence for the operator.
    public var description: String {
        switch self {
        case let .modelNotPrepared(model, path):
            "The prepared \(model.rawValue) model is missing at \(path); run `biomatch models prepare` first."
        }
    }
}
