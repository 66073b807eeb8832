import Foundation
import Installation
import ONNXRuntime

extension HealthReport {
    /// Builds the report for an installation: the runtime's version read through ONNX Runtime's
    /// C API and the hash of each prepared model file.
    public static func gather(installation: Installation, runtime: ORTEnvironment) throws -> HealthReport {
        let models = try PinnedModel.allCases.map { model in
            let file = installation.preparedFile(of: model)
            return ModelFile(
                identifier: model.modelIdentifier,
                file: file.lastPathComponent,
                sha256: try FileDigest.sha256(of: file),
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
