#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The part of ONNX Runtime's `OrtApi` function table this binding calls.
///
/// The table is append-only upstream, so a slot index never changes meaning. Every slot
/// used here exists since C API version 1; each was checked against the upstream header's
/// struct order and by behaviour against libonnxruntime 1.32.0. ORT objects are opaque
/// pointers; `size_t` is passed as `Int` and C enums as `Int32` (same ABI on 64-bit Linux).
struct ORTAPI: @unchecked Sendable {  // An immutable table of C function pointers.
    typealias Status = OpaquePointer?

    /// The C API version requested from `OrtApiBase.GetApi`; all slots below exist since 1.
    static let requestedVersion: UInt32 = 1

    // Status (slots 0, 1, 2, 93). CreateStatus lets tests drive the error path without a failing model.
    let createStatus: @convention(c) (Int32, UnsafePointer<CChar>?) -> OpaquePointer?
    let getErrorCode: @convention(c) (OpaquePointer?) -> Int32
    let getErrorMessage: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    let releaseStatus: @convention(c) (OpaquePointer?) -> Void

    // Environment (slots 3, 92).
    let createEnv: @convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let releaseEnv: @convention(c) (OpaquePointer?) -> Void

    // Session options (slots 10, 23, 24, 25, 100).
    let createSessionOptions: @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let setSessionGraphOptimizationLevel: @convention(c) (OpaquePointer?, Int32) -> Status
    let setIntraOpNumThreads: @convention(c) (OpaquePointer?, Int32) -> Status
    let setInterOpNumThreads: @convention(c) (OpaquePointer?, Int32) -> Status
    let releaseSessionOptions: @convention(c) (OpaquePointer?) -> Void

    // Session (slots 7, 9, 30, 31, 33, 34, 36, 37, 95).
    let createSession: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?
    ) -> Status
    let run: @convention(c) (
        OpaquePointer?, OpaquePointer?,
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<OpaquePointer?>?, Int,
        UnsafePointer<UnsafePointer<CChar>?>?, Int, UnsafeMutablePointer<OpaquePointer?>?
    ) -> Status
    let sessionGetInputCount: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Status
    let sessionGetOutputCount: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Status
    let sessionGetInputTypeInfo: @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let sessionGetOutputTypeInfo: @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let sessionGetInputName: @convention(c) (
        OpaquePointer?, Int, OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Status
    let sessionGetOutputName: @convention(c) (
        OpaquePointer?, Int, OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Status
    let releaseSession: @convention(c) (OpaquePointer?) -> Void

    // Values and tensors (slots 49, 51, 65, 96).
    let createTensorWithDataAsOrtValue: @convention(c) (
        OpaquePointer?, UnsafeMutableRawPointer?, Int, UnsafePointer<Int64>?, Int, Int32,
        UnsafeMutablePointer<OpaquePointer?>?
    ) -> Status
    let getTensorMutableData: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Status
    let getTensorTypeAndShape: @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let releaseValue: @convention(c) (OpaquePointer?) -> Void

    // Type and shape information (slots 55, 60, 61, 62, 98, 99).
    let castTypeInfoToTensorInfo: @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let getTensorElementType: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?) -> Status
    let getDimensionsCount: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Status
    let getDimensions: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int64>?, Int) -> Status
    let releaseTypeInfo: @convention(c) (OpaquePointer?) -> Void
    let releaseTensorTypeAndShapeInfo: @convention(c) (OpaquePointer?) -> Void

    // Memory (slots 69, 76, 78, 94).
    let createCpuMemoryInfo: @convention(c) (Int32, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let allocatorFree: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Status
    let getAllocatorWithDefaultOptions: @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Status
    let releaseMemoryInfo: @convention(c) (OpaquePointer?) -> Void

    /// `GetVersionString` from `OrtApiBase`.
    let versionString: String

    /// Binds the table that `OrtApiBase.GetApi(requestedVersion)` returns.
    init(libraryHandle: UnsafeMutableRawPointer) throws(ORTError) {
        typealias GetAPIBase = @convention(c) () -> UnsafePointer<UnsafeRawPointer?>?
        typealias GetAPI = @convention(c) (UInt32) -> UnsafePointer<UnsafeRawPointer?>?
        typealias GetVersionString = @convention(c) () -> UnsafePointer<CChar>?

        guard let symbol = dlsym(libraryHandle, "OrtGetApiBase") else {
            throw .symbolNotFound("OrtGetApiBase")
        }
        // OrtApiBase is two function pointers: GetApi, then GetVersionString.
        guard let base = unsafeBitCast(symbol, to: GetAPIBase.self)(),
              let getAPIPointer = base[0], let getVersionPointer = base[1]
        else { throw .symbolNotFound("OrtApiBase") }
        let getVersion = unsafeBitCast(getVersionPointer, to: GetVersionString.self)
        versionString = getVersion().map { String(cString: $0) } ?? ""
        guard let table = unsafeBitCast(getAPIPointer, to: GetAPI.self)(Self.requestedVersion) else {
            throw .apiVersionUnsupported(Self.requestedVersion)
        }

        func slot<Function>(_ index: Int, _ name: String) throws(ORTError) -> Function {
            guard let pointer = table[index] else { throw .symbolNotFound("OrtApi.\(name) (slot \(index))") }
            return unsafeBitCast(pointer, to: Function.self)
        }

        createStatus = try slot(0, "CreateStatus")
        getErrorCode = try slot(1, "GetErrorCode")
        getErrorMessage = try slot(2, "GetErrorMessage")
        createEnv = try slot(3, "CreateEnv")
        createSession = try slot(7, "CreateSession")
        run = try slot(9, "Run")
        createSessionOptions = try slot(10, "CreateSessionOptions")
        setSessionGraphOptimizationLevel = try slot(
            23, "SetSessionGraphOptimizationLevel")
        setIntraOpNumThreads = try slot(24, "SetIntraOpNumThreads")
        setInterOpNumThreads = try slot(25, "SetInterOpNumThreads")
        sessionGetInputCount = try slot(30, "SessionGetInputCount")
        sessionGetOutputCount = try slot(31, "SessionGetOutputCount")
        sessionGetInputTypeInfo = try slot(33, "SessionGetInputTypeInfo")
        sessionGetOutputTypeInfo = try slot(34, "SessionGetOutputTypeInfo")
        sessionGetInputName = try slot(36, "SessionGetInputName")
        sessionGetOutputName = try slot(37, "SessionGetOutputName")
        createTensorWithDataAsOrtValue = try slot(
            49, "CreateTensorWithDataAsOrtValue")
        getTensorMutableData = try slot(51, "GetTensorMutableData")
        castTypeInfoToTensorInfo = try slot(55, "CastTypeInfoToTensorInfo")
        getTensorElementType = try slot(60, "GetTensorElementType")
        getDimensionsCount = try slot(61, "GetDimensionsCount")
        getDimensions = try slot(62, "GetDimensions")
        getTensorTypeAndShape = try slot(65, "GetTensorTypeAndShape")
        createCpuMemoryInfo = try slot(69, "CreateCpuMemoryInfo")
        allocatorFree = try slot(76, "AllocatorFree")
        getAllocatorWithDefaultOptions = try slot(
            78, "GetAllocatorWithDefaultOptions")
        releaseEnv = try slot(92, "ReleaseEnv")
        releaseStatus = try slot(93, "ReleaseStatus")
        releaseMemoryInfo = try slot(94, "ReleaseMemoryInfo")
        releaseSession = try slot(95, "ReleaseSession")
        releaseValue = try slot(96, "ReleaseValue")
        releaseTypeInfo = try slot(98, "ReleaseTypeInfo")
        releaseTensorTypeAndShapeInfo = try slot(
            99, "ReleaseTensorTypeAndShapeInfo")
        releaseSessionOptions = try slot(100, "ReleaseSessionOptions")
    }

    /// Turns a non-null status into `ORTError.runtime`, releasing the status either way.
    func check(_ status: Status, _ operation: @autoclosure () -> String) throws(ORTError) {
        guard let status else { return }
        let code = getErrorCode(status)
        let message = getErrorMessage(status).map { String(cString: $0) } ?? "(no message)"
        releaseStatus(status)
        throw .runtime(operation: operation(), code: code, message: message)
    }
}

/// ONNX Runtime enum values this binding passes (from the C API header).
enum ORTConstant {
    /// `ORT_LOGGING_LEVEL_WARNING`.
    static let loggingLevelWarning: Int32 = 2
    /// `ORT_ENABLE_ALL`.
    static let graphOptimizationEnableAll: Int32 = 99
    /// `OrtArenaAllocator`.
    static let arenaAllocator: Int32 = 1
    /// `OrtMemTypeDefault`.
    static let memoryTypeDefault: Int32 = 0
    /// `ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`.
    static let elementTypeFloat: Int32 = 1
}
