import Foundation
import Installation
@testable import ONNXRuntime
import Testing

/// Runs `body` and returns the `ORTError` it throws, recording an issue if it throws none.
private func capturedError<T>(_ body: () throws(ORTError) -> T) -> ORTError? {
    do {
        _ = try body()
        Issue.record("expected an ORTError")
        return nil
    } catch {
        return error
    }
}

/// ORT's operation and message, when `error` is `.runtime`.
private func runtimeMessage(_ error: ORTError?) -> (operation: String, code: Int32, message: String)? {
    guard case let .runtime(operation, code, message) = error else { return nil }
    return (operation, code, message)
}

@Suite("Failures become typed errors")
struct ORTErrorTests {
    // MARK: Loading the library

    @Test func missingLibraryIsNotLoaded() {
        let path = "/nonexistent/libonnxruntime.so.1.32.0"
        let error = capturedError { () throws(ORTError) in try ORTEnvironment(libraryPath: path) }
        guard case let .libraryNotLoaded(reportedPath, reason) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(reason.contains("No such file or directory"), "\(reason)")
    }

    @Test func fileThatIsNotALibraryIsNotLoaded() throws {
        let path = try resourcePath("tiny_dense", "onnx")
        let error = capturedError { () throws(ORTError) in try ORTEnvironment(libraryPath: path) }
        guard case let .libraryNotLoaded(_, reason) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(reason.contains("invalid ELF header"), "\(reason)")
    }

    @Test func libraryWithoutTheOrtEntryPointIsRejected() {
        // The C maths library loads fine but is not ONNX Runtime.
        let error = capturedError { () throws(ORTError) in try ORTEnvironment(libraryPath: "libm.so.6") }
        #expect(error == .symbolNotFound("OrtGetApiBase"))
    }

    @Test func errorStatusBecomesARuntimeErrorWithItsCodeAndMessage() throws {
        // Exercises CreateStatus, GetErrorCode, GetErrorMessage and ReleaseStatus (slots 0-2, 93).
        let api = try sharedEnvironment().api
        let error = capturedError { () throws(ORTError) in
            try api.check(api.createStatus(7, "bytes are not a model"), "Probe")
        }
        #expect(error == .runtime(operation: "Probe", code: 7, message: "bytes are not a model"))
        #expect(error?.description == "ONNX Runtime Probe failed (ORT_INVALID_PROTOBUF): bytes are not a model")
        #expect(throws: Never.self) { try api.check(nil, "Success") }
    }

    // MARK: Loading a model

    @Test func missingModelFileReportsOrtsMessage() throws {
        let path = FileManager.default.temporaryDirectory
            .appending(path: "biomatch-ort-\(UUID().uuidString)/absent.onnx").path(percentEncoded: false)
        let error = capturedError { () throws(ORTError) in
            try ORTSession(environment: sharedEnvironment(), modelPath: path)
        }
        let failure = try #require(runtimeMessage(error), "got \(String(describing: error))")
        #expect(failure.operation == "CreateSession")
        #expect(failure.code == 3)  // ORT_NO_SUCHFILE
        #expect(failure.message.contains(path), "\(failure.message)")
        #expect(failure.message.contains("File doesn't exist"), "\(failure.message)")
    }

    @Test func corruptModelFileReportsOrtsMessage() throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4096).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let url = FileManager.default.temporaryDirectory.appending(path: "biomatch-ort-corrupt-\(UUID().uuidString).onnx")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }

        let error = capturedError { () throws(ORTError) in
            try ORTSession(environment: sharedEnvironment(), modelPath: url.path(percentEncoded: false))
        }
        let failure = try #require(runtimeMessage(error), "got \(String(describing: error))")
        #expect(failure.code == 7)  // ORT_INVALID_PROTOBUF
        #expect(failure.message.contains("Protobuf parsing failed"), "\(failure.message)")
        #expect(error?.description.contains(failure.message) == true)
    }

    @Test func originalInt8YuNetLoadsButFailsToRunOnItsBlockSize() throws {
        // ORT 1.32 accepts the file; its DequantizeLinear kernel rejects the attribute on first use.
        let path = Installation.fromEnvironment().originalFile(of: .yunet).path(percentEncoded: false)
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/setup first: \(path)")
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: path)
        let input = try #require(session.inputs.first)
        #expect(input == ORTValueInfo(name: "input", shape: [1, 3, 640, 640]))
        let zeros = try ORTTensor(shape: input.shape, values: Array(repeating: 0, count: 3 * 640 * 640))

        let error = capturedError { () throws(ORTError) in try session.run([input.name: zeros]) }

        let failure = try #require(runtimeMessage(error), "got \(String(describing: error))")
        #expect(failure.operation == "Run")
        #expect(failure.message.contains("block_size must be 0 for per-tensor quantization"), "\(failure.message)")
    }

    // MARK: Running

    @Test func unknownInputNameIsAnInvalidTensor() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let error = capturedError { () throws(ORTError) in
            try session.run(["input": ORTTensor(shape: [1, 4], values: [1, 2, 3, 4])])
        }
        guard case let .invalidTensor(reason) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(reason.contains("'input'") && reason.contains("x"), "\(reason)")
    }

    @Test func unknownOutputNameIsAnInvalidTensor() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let error = capturedError { () throws(ORTError) in
            try session.run(["x": ORTTensor(shape: [1, 4], values: [1, 2, 3, 4])], outputNames: ["z"])
        }
        guard case let .invalidTensor(reason) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(reason.contains("'z'"), "\(reason)")
    }

    @Test func tensorWhoseShapeDoesNotMatchItsValuesIsRejected() {
        let error = capturedError { () throws(ORTError) in try ORTTensor(shape: [2, 4], values: [1, 2, 3]) }
        #expect(error == .invalidTensor("shape [2, 4] holds 8 elements but 3 values were given"))
        let negative = capturedError { () throws(ORTError) in try ORTTensor(shape: [-1, 4], values: []) }
        guard case .invalidTensor = negative else {
            Issue.record("got \(String(describing: negative))")
            return
        }
    }

    @Test func zeroCopyBufferShorterThanItsShapeIsRejected() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let error = values.withUnsafeBufferPointer { buffer in
            capturedError { () throws(ORTError) in try session.run(inputName: "x", shape: [2, 4], data: buffer) }
        }
        #expect(error == .invalidTensor("shape [2, 4] holds 8 elements but the buffer has 6"))
    }

    @Test func wrongWidthIsRejectedByOrtWithItsMessage() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let error = capturedError { () throws(ORTError) in
            try session.run(["x": ORTTensor(shape: [2, 5], values: Array(repeating: 1, count: 10))])
        }
        let failure = try #require(runtimeMessage(error), "got \(String(describing: error))")
        #expect(failure.operation == "Run")
        #expect(failure.message.contains("invalid dimensions for input: x"), "\(failure.message)")
    }

    @Test func wrongRankIsRejectedByOrtWithItsMessage() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let error = capturedError { () throws(ORTError) in
            try session.run(["x": ORTTensor(shape: [4], values: [1, 2, 3, 4])])
        }
        let failure = try #require(runtimeMessage(error), "got \(String(describing: error))")
        #expect(failure.message.contains("Invalid rank for input: x"), "\(failure.message)")
    }

    @Test func missingFeedIsAnInvalidTensor() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let error = capturedError { () throws(ORTError) in try session.run([:]) }
        #expect(error == .invalidTensor("no tensor fed for input 'x'"))
    }

    @Test func nonFloatOutputIsAnInvalidTensor() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_argmax", "onnx"))
        #expect(session.outputs == [ORTValueInfo(name: "index", shape: [-1])])
        let error = capturedError { () throws(ORTError) in
            try session.run(["x": ORTTensor(shape: [1, 4], values: [1, 2, 3, 4])])
        }
        #expect(error == .invalidTensor("output 'index' is int64, not float32"))
    }

    @Test func sessionStillRunsAfterAFailedRun() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        _ = capturedError { () throws(ORTError) in try session.run(["x": ORTTensor(shape: [4], values: [1, 2, 3, 4])]) }
        let input: [Float] = [1, -2, 3, -4]
        let results = try session.run(["x": ORTTensor(shape: [1, 4], values: input)])
        #expect(isClose(results["logits"]?.values ?? [], try DenseModelWeights.load().logits(for: input)))
    }
}
