import Foundation
import Installation
@testable import ModelPreparation
import ONNXRuntime
import ONNXSchema
import SwiftProtobuf
import Testing

/// Layouts and encodings the shipped models do not use (uint8, `int32_data`, per-axis scales,
/// a missing zero point, a cut last block), checked against ONNX Runtime dequantizing the
/// same constants itself.
@Suite struct ConstantDequantizationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var type: Onnx_TensorProto.DataType
        var dims: [Int64]
        var values: [Int32]
        var scaleDims: [Int64]
        var scales: [Float]
        var zeroPoints: [Int32]?
        var axis: Int64?
        var blockSize: Int64?
        var typedStorage: Bool

        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(
            label: "uint8 per-axis in int32_data", type: .uint8, dims: [2, 3], values: [0, 17, 128, 200, 255, 3],
            scaleDims: [3], scales: [0.5, 0.25, 0.125], zeroPoints: [128, 10, 3], axis: 1, blockSize: nil,
            typedStorage: true
        ),
        Case(
            label: "int8 per-tensor without zero point", type: .int8, dims: [4], values: [-128, -1, 0, 127],
            scaleDims: [], scales: [0.03], zeroPoints: nil, axis: nil, blockSize: nil, typedStorage: false
        ),
        Case(
            label: "int8 blocked along axis 0 with a cut last block", type: .int8, dims: [5, 2],
            values: [-5, 4, 3, -2, 1, 0, 9, -9, 100, -100],
            scaleDims: [3, 2], scales: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], zeroPoints: [1, -1, 2, -2, 0, 3],
            axis: 0, blockSize: 2, typedStorage: false
        ),
        Case(
            label: "int8 per-axis along a negative axis", type: .int8, dims: [2, 2, 2],
            values: [1, 2, 3, 4, -1, -2, -3, -4],
            scaleDims: [2], scales: [2, 0.5], zeroPoints: [1, -1], axis: -1, blockSize: nil, typedStorage: true
        ),
    ]

    @Test(arguments: cases)
    func foldingMatchesONNXRuntime(_ testCase: Case) throws {
        var node = Onnx_NodeProto()
        node.opType = "DequantizeLinear"
        node.name = "dequantize"
        node.input = ["q", "scale"] + (testCase.zeroPoints == nil ? [] : ["zero_point"])
        node.output = ["weights"]
        if let axis = testCase.axis { node.attribute.append(integerAttribute("axis", axis)) }
        if let blockSize = testCase.blockSize { node.attribute.append(integerAttribute("block_size", blockSize)) }

        var initializers = [
            integerTensor("q", testCase.type, testCase.dims, testCase.values, typed: testCase.typedStorage),
            floatTensor("scale", testCase.scaleDims, testCase.scales),
        ]
        if let zeroPoints = testCase.zeroPoints {
            initializers.append(integerTensor("zero_point", testCase.type, testCase.scaleDims, zeroPoints, typed: testCase.typedStorage))
        }

        let folded = try ConstantDequantization.fold(node, initializers: Dictionary(uniqueKeysWithValues: initializers.map { ($0.name, $0) }))
        #expect(folded.name == "weights")
        #expect(folded.dims == testCase.dims)
        let foldedValues = try ConstantDequantization.floats(of: folded)

        let shape = testCase.dims.map { Int($0) }
        let expected = try runOnRuntime(node: node, initializers: initializers, shape: shape)
        #expect(foldedValues == expected)
    }

    @Test func aScaleThatFitsNoLayoutIsRefused() throws {
        var node = Onnx_NodeProto()
        node.opType = "DequantizeLinear"
        node.name = "mismatched"
        node.input = ["q", "scale"]
        node.output = ["weights"]
        node.attribute = [integerAttribute("axis", 0)]
        let initializers = [
            integerTensor("q", .int8, [2, 3], [1, 2, 3, 4, 5, 6], typed: false),
            floatTensor("scale", [3], [1, 2, 3]),
        ]
        #expect(throws: ModelPreparationError.unsupportedQuantization(
            node: "mismatched", reason: "per-axis scale shape [3] does not match axis length 2"
        )) {
            try ConstantDequantization.fold(node, initializers: Dictionary(uniqueKeysWithValues: initializers.map { ($0.name, $0) }))
        }
    }

    @Test func dataShorterThanItsShapeIsRefused() throws {
        let tensor = integerTensor("q", .int8, [2, 3], [1, 2, 3], typed: false)
        #expect(throws: ModelPreparationError.invalidTensor(name: "q", reason: "holds 3 elements, its shape needs 6")) {
            try ConstantDequantization.integers(of: tensor)
        }
    }
}

// MARK: - Building and running tiny graphs

/// `output = input + DequantizeLinear(...)`, run with a zero input, so ORT computes the weights.
private func runOnRuntime(node: Onnx_NodeProto, initializers: [Onnx_TensorProto], shape: [Int]) throws -> [Float] {
    var add = Onnx_NodeProto()
    add.opType = "Add"
    add.input = ["input", "weights"]
    add.output = ["output"]

    var graph = Onnx_GraphProto()
    graph.name = "dequantize"
    graph.node = [node, add]
    graph.initializer = initializers
    graph.input = [valueInfo("input", shape)]
    graph.output = [valueInfo("output", shape)]

    let model = opset21Model(graph)

    let count = shape.reduce(1, *)
    return try withTemporaryDirectory { directory in
        let file = directory.appending(path: "dequantize.onnx")
        try (model.serializedBytes() as Data).write(to: file)
        let environment = try ORTEnvironment(
            libraryPath: Installation.fromEnvironment().onnxRuntimeLibrary.path(percentEncoded: false)
        )
        let session = try ORTSession(environment: environment, modelPath: file.path)
        let zeros = try ORTTensor(shape: shape, values: Array(repeating: 0, count: count))
        return try #require(try session.run(["input": zeros])["output"]?.values)
    }
}

private func integerAttribute(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .int
    attribute.i = value
    return attribute
}

private func integerTensor(
    _ name: String, _ type: Onnx_TensorProto.DataType, _ dims: [Int64], _ values: [Int32], typed: Bool
) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = Int32(type.rawValue)
    tensor.dims = dims
    if typed {
        tensor.int32Data = values
    } else {
        tensor.rawData = Data(values.map { UInt8(truncatingIfNeeded: $0) })
    }
    return tensor
}


