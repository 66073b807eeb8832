import Foundation
import Installation
import ONNXRuntime
import Testing

/// The runtime library setup installed (or `BIOMATCH_ORT_LIBRARY`).
let runtimeLibraryPath = Installation.fromEnvironment().onnxRuntimeLibrary.path(percentEncoded: false)

/// One environment shared by the tests, as an application would share it.
private let sharedEnvironmentResult = Result { () throws(ORTError) -> ORTEnvironment in
    try ORTEnvironment(libraryPath: runtimeLibraryPath)
}

/// The shared environment; throws the load error into the calling test if the library is unusable.
func sharedEnvironment() throws(ORTError) -> ORTEnvironment {
    try sharedEnvironmentResult.get()
}

/// The path of a file in the test resources (made by `tools/make_test_model.py`).
func resourcePath(_ name: String, _ fileExtension: String) throws -> String {
    let url = try #require(
        Bundle.module.url(forResource: name, withExtension: fileExtension, subdirectory: "Resources"),
        "missing test resource \(name).\(fileExtension)")
    return url.path(percentEncoded: false)
}

/// The weights of `tiny_dense.onnx`: logits = x·W + b, y = relu(logits).
struct DenseModelWeights: Decodable {
    /// 4 rows (inputs) by 3 columns (outputs).
    let W: [[Float]]
    /// One bias per output.
    let b: [Float]

    static func load() throws -> DenseModelWeights {
        let data = try Data(contentsOf: URL(filePath: try resourcePath("tiny_dense", "json")))
        return try JSONDecoder().decode(DenseModelWeights.self, from: data)
    }

    /// The pre-activation outputs for a row-major `[batch, 4]` input, computed in Double.
    func logits(for input: [Float]) -> [Float] {
        let inputWidth = W.count
        let outputWidth = b.count
        let batch = input.count / inputWidth
        var result: [Float] = []
        for row in 0..<batch {
            for column in 0..<outputWidth {
                var sum = Double(b[column])
                for k in 0..<inputWidth {
                    sum += Double(input[row * inputWidth + k]) * Double(W[k][column])
                }
                result.append(Float(sum))
            }
        }
        return result
    }
}

/// True when every pair of values differs by at most `tolerance`.
func isClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5) -> Bool {
    actual.count == expected.count && zip(actual, expected).allSatisfy { abs($0 - $1) <= tolerance }
}

/// A deterministic input of `batch` rows of 4 values spread over [-3, 3].
func sampleInput(batch: Int, seed: Int = 0) -> [Float] {
    (0..<(batch * 4)).map { index in
        let phase = Float((index + seed) % 13) / 12  // 0...1
        return (phase * 6 - 3) * (index % 2 == 0 ? 1 : -0.5)
    }
}
