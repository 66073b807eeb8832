import Foundation
import Installation
import ModelPreparation
import ONNXRuntime
import ONNXSchema
import SwiftProtobuf
import Testing

/// The prepared files load in ONNX Runtime 1.32, take the symbolic sizes, and compute what
/// ONNX Runtime's own `DequantizeLinear` computes on the originals.
@Suite struct PreparedRuntimeTests {
    @Test func sfaceGivesOneTemplatePerCrop() throws {
        let session = try ORTSession(
            environment: try runtimeEnvironment(), modelPath: try SharedPreparation.prepared(.sface).file.path
        )
        #expect(session.inputs == [ORTValueInfo(name: "data", shape: [-1, 3, 112, 112])])
        #expect(session.outputs == [ORTValueInfo(name: "fc1", shape: [-1, 128])])

        let first = syntheticImage(channels: 3, height: 112, width: 112, seed: 1)
        let second = syntheticImage(channels: 3, height: 112, width: 112, seed: 2)
        let single = try session.run(["data": ORTTensor(shape: [1, 3, 112, 112], values: first)])["fc1"]
        #expect(single?.shape == [1, 128])
        #expect(single?.values.allSatisfy(\.isFinite) == true)

        let batch = try session.run(["data": ORTTensor(shape: [2, 3, 112, 112], values: first + second)])["fc1"]
        let batchValues = try #require(batch?.values)
        #expect(batch?.shape == [2, 128])
        #expect(isClose(Array(batchValues[..<128]), try #require(single?.values)))
        #expect(!isClose(Array(batchValues[..<128]), Array(batchValues[128...])))
    }

    @Test(arguments: [(320, 320), (480, 640)])
    func yunetGivesAnchorsForAnyImageSize(height: Int, width: Int) throws {
        let session = try ORTSession(
            environment: try runtimeEnvironment(), modelPath: try SharedPreparation.prepared(.yunet).file.path
        )
        #expect(session.inputs == [ORTValueInfo(name: "input", shape: [1, 3, -1, -1])])
        let outputs = try session.run([
            "input": ORTTensor(shape: [1, 3, height, width], values: syntheticImage(channels: 3, height: height, width: width, seed: 3)),
        ])
        #expect(outputs.count == 12)
        for (head, channels) in [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)] {
            for stride in [8, 16, 32] {
                let anchors = (height / stride) * (width / stride)
                #expect(outputs["\(head)_\(stride)"]?.shape == [1, anchors, channels], "\(head)_\(stride)")
            }
        }
    }

    /// The shipped SFace runs on ORT once its 29 unused weight inputs are dropped, with ORT
    /// dequantizing the weights itself; the prepared file must give the same template.
    @Test func sfaceMatchesTheOriginalRunByONNXRuntime() throws {
        let original = try loadModel(originalFile(of: .sface))

        let input = try ORTTensor(shape: [1, 3, 112, 112], values: syntheticImage(channels: 3, height: 112, width: 112, seed: 4))
        let expected = try run(original, feeds: ["data": input])["fc1"]
        let actual = try ORTSession(
            environment: try runtimeEnvironment(), modelPath: try SharedPreparation.prepared(.sface).file.path
        ).run(["data": input])["fc1"]
        let expectedValues = try #require(expected?.values)
        let actualValues = try #require(actual?.values)
        #expect(isClose(actualValues, expectedValues, tolerance: 1e-4 * (expectedValues.map(abs).max() ?? 1)))
    }

    /// The shipped YuNet runs on ORT once its single-scale dequantizations are written the way
    /// ORT accepts per-tensor ones (scalar scale and zero point, no `block_size`); the prepared
    /// file must give the same outputs at the shipped 640 x 640.
    @Test func yunetMatchesTheOriginalRunByONNXRuntime() throws {
        var original = try loadModel(originalFile(of: .yunet))
        var scalarTensors = Set<String>()
        for index in original.graph.node.indices where original.graph.node[index].opType == "DequantizeLinear" {
            let node = original.graph.node[index]
            guard original.graph.initializer.contains(where: { $0.name == node.input[1] && $0.dims.reduce(1, *) == 1 })
            else { continue }
            original.graph.node[index].attribute.removeAll { $0.name == "block_size" }
            scalarTensors.formUnion(node.input.dropFirst())
        }
        #expect(!scalarTensors.isEmpty)
        for index in original.graph.initializer.indices where scalarTensors.contains(original.graph.initializer[index].name) {
            original.graph.initializer[index].dims = []
        }

        let input = try ORTTensor(shape: [1, 3, 640, 640], values: syntheticImage(channels: 3, height: 640, width: 640, seed: 5))
        let expected = try run(original, feeds: ["input": input])
        let actual = try ORTSession(
            environment: try runtimeEnvironment(), modelPath: try SharedPreparation.prepared(.yunet).file.path
        ).run(["input": input])
        #expect(expected.count == 12)
        for (name, tensor) in expected {
            let values = try #require(actual[name]?.values)
            #expect(actual[name]?.shape == tensor.shape)
            #expect(isClose(values, tensor.values, tolerance: 1e-4 * max(1, tensor.values.map(abs).max() ?? 1)), "\(name)")
        }
    }
}

// MARK: - Helpers

private let environmentResult = Result { () throws(ORTError) -> ORTEnvironment in
    try ORTEnvironment(libraryPath: Installation.fromEnvironment().onnxRuntimeLibrary.path(percentEncoded: false))
}

private func runtimeEnvironment() throws -> ORTEnvironment {
    try environmentResult.get()
}

/// Runs a model held in memory by writing it to a temporary file, after dropping the inputs
/// ORT would demand as feeds (unused) or warn about (initializers) and unused initializers.
private func run(_ original: Onnx_ModelProto, feeds: [String: ORTTensor]) throws -> [String: ORTTensor] {
    var proto = original
    let consumed = Set(proto.graph.node.flatMap(\.input))
    let initializers = Set(proto.graph.initializer.map(\.name))
    proto.graph.input.removeAll { !consumed.contains($0.name) || initializers.contains($0.name) }
    proto.graph.initializer.removeAll { !consumed.contains($0.name) }
    return try withTemporaryDirectory { directory in
        let file = directory.appending(path: "model.onnx")
        try (proto.serializedBytes() as Data).write(to: file)
        return try ORTSession(environment: try runtimeEnvironment(), modelPath: file.path).run(feeds)
    }
}

/// A smooth, seed-dependent planar image with values in 0...255, like raw pixel input.
private func syntheticImage(channels: Int, height: Int, width: Int, seed: Int) -> [Float] {
    var values: [Float] = []
    values.reserveCapacity(channels * height * width)
    for channel in 0..<channels {
        for row in 0..<height {
            for column in 0..<width {
                let phase = Float(seed) * 0.7 + Float(channel) * 1.3
                let wave = sin(Float(row) * 0.05 + phase) * cos(Float(column) * 0.07 - phase)
                values.append(127.5 + 127.5 * wave)
            }
        }
    }
    return values
}

private func isClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4) -> Bool {
    actual.count == expected.count && zip(actual, expected).allSatisfy { abs($0 - $1) <= tolerance }
}
