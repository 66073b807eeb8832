/// Why an ONNX Runtime call failed.
public enum ORTError: Error, Equatable, CustomStringConvertible {
    /// `dlopen` could not load the runtime library; `reason` is `dlerror()`'s text.
    case libraryNotLoaded(path: String, reason: String)
    /// The library loaded but lacks a symbol or an API table slot this binding needs.
    case symbolNotFound(String)
    /// The library does not offer the C API version this binding was written against.
    case apiVersionUnsupported(UInt32)
    /// ONNX Runtime returned an error status; `code` is its `OrtErrorCode`, `message` its own text.
    case runtime(operation: String, code: Int32, message: String)
    /// A tensor does not fit: shape and element count disagree, an unknown input or output name,
    /// or an element type other than float32.
    case invalidTensor(String)

    /// A one-line explanation for logs and error responses.
    public var description: String {
        switch self {
        case let .libraryNotLoaded(path, reason):
            "could not load the ONNX Runtime library at \(path): \(reason)"
        case let .symbolNotFound(symbol):
            "the ONNX Runtime library lacks \(symbol)"
        case let .apiVersionUnsupported(version):
            "the ONNX Runtime library does not offer C API version \(version)"
        case let .runtime(operation, code, message):
            "ONNX Runtime \(operation) failed (\(ORTError.errorCodeName(code))): \(message)"
        case let .invalidTensor(reason):
            "invalid tensor: \(reason)"
        }
    }

    /// The name of an `OrtErrorCode` value, for messages.
    static func errorCodeName(_ code: Int32) -> String {
        let names = [
            "ORT_OK", "ORT_FAIL", "ORT_INVALID_ARGUMENT", "ORT_NO_SUCHFILE", "ORT_NO_MODEL",
            "ORT_ENGINE_ERROR", "ORT_RUNTIME_EXCEPTION", "ORT_INVALID_PROTOBUF", "ORT_MODEL_LOADED",
            "ORT_NOT_IMPLEMENTED", "ORT_INVALID_GRAPH", "ORT_EP_FAIL",
        ]
        return names.indices.contains(Int(code)) ? names[Int(code)] : "code \(code)"
    }
}
