import FaceEngine
import Hummingbird

/// What `GET /health` reports: enough to tell which build and which models answer.
public struct HealthReport: ResponseEncodable, Decodable, Sendable, Equatable {
    /// One model file the engine has loaded.
    public struct ModelFile: Codable, Sendable, Equatable {
        /// Model name and version, as recorded with templates.
        public var identifier: String
        /// File name of the prepared model in use.
        public var file: String
        /// SHA-256 of the prepared file ONNX Runtime loaded.
        public var sha256: String
        /// SHA-256 of the file as shipped, before preparation.
        public var originalSHA256: String

        /// Describes one loaded model file.
        public init(identifier: String, file: String, sha256: String, originalSHA256: String) {
            self.identifier = identifier
            self.file = file
            self.sha256 = sha256
            self.originalSHA256 = originalSHA256
        }
    }

    /// `ok` while the service answers.
    public var status: String
    /// BioMatch's own version.
    public var version: String
    /// ONNX Runtime's version string, read through its C API.
    public var onnxRuntimeVersion: String
    /// The model files in use.
    public var models: [ModelFile]
    /// Where galleries are stored, e.g. `sqlite` and the file's path.
    public var storage: String?
    /// The recognition engines installed, with their model files' digests, default first.
    public var engines: [RecognitionEngineProfile]?

    /// A report for a running service.
    public init(version: String, onnxRuntimeVersion: String, models: [ModelFile], storage: String? = nil) {
        self.status = "ok"
        self.version = version
        self.onnxRuntimeVersion = onnxRuntimeVersion
        self.models = models
        self.storage = storage
    }
}

/// Serves `GET /health`; the report is computed once at start-up since none of it changes.
struct HealthController<Context: RequestContext> {
    let report: HealthReport

    func addRoutes(to router: Router<Context>) {
        router.get("/health") { _, _ in report }
    }
}
