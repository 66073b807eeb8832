import FaceEngine
import Gallery
import Hummingbird
import Operations

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
    /// The change-feed position this node's indexes reflect (read at each request); a cluster's
    /// operator compares it with the store's head to see how far the node lags.
    public var feedPosition: Int64?
    /// The PostgreSQL host this node currently writes to (`host:port`), when it knows one.
    public var storePrimary: String?

    /// A report for a running service.
    public init(version: String, onnxRuntimeVersion: String, models: [ModelFile], storage: String? = nil) {
        self.status = "ok"
        self.version = version
        self.onnxRuntimeVersion = onnxRuntimeVersion
        self.models = models
        self.storage = storage
    }
}

/// Serves `GET /health`: the report computed once at start-up (builds and models do not
/// change), with the node's live state (feed position, current primary) filled in at each request.
struct HealthController<Context: RequestContext> {
    let report: HealthReport
    var live: (@Sendable (inout HealthReport) -> Void)? = nil

    func addRoutes(to router: Router<Context>) {
        router.get("/health") { _, _ in
            var current = report
            live?(&current)
            return current
        }
    }
}

extension HealthReport {
    /// Fills in what changes while `operations` runs: its feed position and its store's primary.
    static func liveFields(of operations: MatcherOperations) -> @Sendable (inout HealthReport) -> Void {
        { report in
            report.feedPosition = operations.identification.feedPosition.rawValue
            if let store = operations.store as? PostgresGalleryStore {
                report.storePrimary = store.primary.currentPrimary.map { "\($0)" }
            }
        }
    }
}
