#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loaded ONNX Runtime library and its process environment (`OrtEnv`).
///
/// Create one per process and share it; sessions keep their environment alive. Pass the
/// library path from `Installation.fromEnvironment().onnxRuntimeLibrary`, which honours
/// `BIOMATCH_ORT_LIBRARY`. ORT logs warnings and errors only, to standard error.
public final class ORTEnvironment: @unchecked Sendable {  // Immutable after init; ORT's env is thread-safe.
    /// The bound C API table.
    let api: ORTAPI
    /// The `OrtEnv*` this object owns.
    let handle: OpaquePointer
    /// CPU memory description used to wrap caller buffers as input tensors.
    let cpuMemoryInfo: OpaquePointer

    /// The runtime's own version string, for example `"1.32.0"`.
    public var runtimeVersion: String { api.versionString }

    /// Loads the library at `libraryPath` and creates the ORT environment.
    ///
    /// The library stays loaded for the life of the process: unloading ONNX Runtime while
    /// its thread pools and static state exist is not safe, and `dlopen` reference-counts
    /// repeated loads of the same file.
    /// - Parameters:
    ///   - libraryPath: Path of `libonnxruntime.so`.
    ///   - logIdentifier: Name ORT prefixes to its log lines.
    /// - Throws: `ORTError.libraryNotLoaded`, `.symbolNotFound`, `.apiVersionUnsupported`,
    ///   or `.runtime` if ORT refuses to create the environment.
    public init(libraryPath: String, logIdentifier: String = "biomatch") throws(ORTError) {
        guard let library = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw .libraryNotLoaded(path: libraryPath, reason: reason)
        }
        let api = try ORTAPI(libraryHandle: library)

        var environment: OpaquePointer?
        try api.check(
            api.createEnv(ORTConstant.loggingLevelWarning, logIdentifier, &environment), "CreateEnv")
        guard let environment else {
            throw .runtime(operation: "CreateEnv", code: 1, message: "returned no environment")
        }

        var memoryInfo: OpaquePointer?
        do throws(ORTError) {
            try api.check(
                api.createCpuMemoryInfo(ORTConstant.arenaAllocator, ORTConstant.memoryTypeDefault, &memoryInfo),
                "CreateCpuMemoryInfo")
        } catch {
            api.releaseEnv(environment)
            throw error
        }
        guard let memoryInfo else {
            api.releaseEnv(environment)
            throw .runtime(operation: "CreateCpuMemoryInfo", code: 1, message: "returned no memory info")
        }

        self.api = api
        self.handle = environment
        self.cpuMemoryInfo = memoryInfo
    }

    deinit {
        api.releaseMemoryInfo(cpuMemoryInfo)
        api.releaseEnv(handle)
    }
}
