import Foundation
import Installation
@testable import ModelPreparation
import ONNXRuntime
import ONNXSchema
import SwiftProtobuf
import Testing

/// The `PRelu` rewrite computes what `PRelu` computes (ONNX Runtime runs both graphs), touches
/// only the `PRelu`s it can prove are per-channel, and leaves none in the prepared SFace.
@Suite struct ChannelSlopeRewriteTests {
    /// Slopes above one, negative, zero and fractional, on both signs of input, after a 3x3
    /// convolution and after a convolution followed by batch normalisation.
    @Test(arguments: [false, true])
    func rewrittenGraphComputesWhatPReluComputes(throughBatchNormalization: Bool) throws {
        let channels = 4
        let slopes: [Float] = [1.12, -0.81, 0, 0.25]
        let original = tinyModel(channels: channels, slopes: slopes, slopeDims: [Int64(channels), 1, 1],
                                 batchNormalization: throughBatchNormalization)
        var rewritten = original
        #expect(try ChannelSlopeRewrite.apply(to: &rewritten.graph) == 1)
        #expect(!rewritten.graph.node.contains { $0.opType == "PRelu" })
        #expect(rewritten.graph.node.filter { $0.opType == "Conv" }.count == 3)

        let shape = [1, channels, 6, 5]
        let input = (0..<shape.reduce(1, *)).map { Float(($0 * 37) % 23) - 11.5 }
        let expected = try run(original, input: input, shape: shape)
        let actual = try run(rewritten, input: input, shape: shape)
        #expect(expected.count == actual.count)
        #expect(expected.contains { $0 < 0 } && expected.contains { $0 > 0 })
        let largest = expected.map(abs).max() ?? 1
        for (value, reference) in zip(actual, expected) {
            #expect(abs(value - reference) <= 1e-6 * largest, "\(value) vs \(reference)")
        }
    }

    /// A slope of shape `[C]` broadcasts along the last axis (width), not channels, and a
    /// `PRelu` on a graph input has no known rank: both stay as they are.
    @Test func onlyProvablyPerChannelSlopesAreRewritten() throws {
        var widthSlopes = tinyModel(channels: 4, slopes: [0.1, 0.2, 0.3, 0.4], slopeDims: [4], batchNormalization: false)
        #expect(try ChannelSlopeRewrite.apply(to: &widthSlopes.graph) == 0)
        #expect(widthSlopes.graph.node.contains { $0.opType == "PRelu" })

        var onInput = tinyModel(channels: 4, slopes: [0.1, 0.2, 0.3, 0.4], slopeDims: [4, 1, 1], batchNormalization: false)
        onInput.graph.node.removeAll { $0.opType == "Conv" }
        onInput.graph.node[0].input[0] = "input"
        #expect(try ChannelSlopeRewrite.apply(to: &onInput.graph) == 0)
    }

    @Test func preparedSFaceHasNoPReluLeft() throws {
        let original = try loadModel(originalFile(of: .sface)).graph
        let prepared = try loadModel(try SharedPreparation.prepared(.sface).file).graph
        let originalCount = original.node.filter { $0.opType == "PRelu" }.count
        #expect(originalCount == 27)
        #expect(!prepared.node.contains { $0.opType == "PRelu" })
        let depthwise = prepared.node.filter { node in
            node.opType == "Conv" && node.attribute.contains { $0.name == "group" && $0.i > 1 }
                && node.attribute.contains { $0.name == "kernel_shape" && $0.ints == [1, 1] }
        }
        #expect(depthwise.count >= 2 * originalCount)
    }
}

// MARK: - A tiny convolutional graph

/// `input -> Conv 3x3 (-> BatchNormalization) -> PRelu(slope) -> output`, opset 21.
private func tinyModel(channels: Int, slopes: [Float], slopeDims: [Int64], batchNormalization: Bool) -> Onnx_ModelProto {
    let count = Int64(channels)
    var initializers = [
        floatTensor("weight", [count, count, 3, 3],
                    (0..<(channels * channels * 9)).map { Float(($0 * 13) % 7) / 7 - 0.45 }),
        floatTensor("slope", slopeDims, slopes),
    ]
    var convolution = Onnx_NodeProto()
    convolution.opType = "Conv"
    convolution.name = "conv"
    convolution.input = ["input", "weight"]
    convolution.output = ["convolved"]
    var kernel = Onnx_AttributeProto()
    kernel.name = "kernel_shape"
    kernel.type = .ints
    kernel.ints = [3, 3]
    var pads = Onnx_AttributeProto()
    pads.name = "pads"
    pads.type = .ints
    pads.ints = [1, 1, 1, 1]
    convolution.attribute = [kernel, pads]
    var nodes = [convolution]
    var activationInput = "convolved"
    if batchNormalization {
        initializers += [
            floatTensor("scale", [count], (0..<channels).map { 1 + Float($0) * 0.1 }),
            floatTensor("bias", [count], (0..<channels).map { Float($0) * 0.5 - 1 }),
            floatTensor("mean", [count], (0..<channels).map { Float($0) * 0.2 }),
            floatTensor("variance", [count], (0..<channels).map { 1 + Float($0) }),
        ]
        var normalisation = Onnx_NodeProto()
        normalisation.opType = "BatchNormalization"
        normalisation.input = ["convolved", "scale", "bias", "mean", "variance"]
        normalisation.output = ["normalised"]
        nodes.append(normalisation)
        activationInput = "normalised"
    }
    var activation = Onnx_NodeProto()
    activation.opType = "PRelu"
    activation.name = "activation"
    activation.input = [activationInput, "slope"]
    activation.output = ["output"]
    nodes.append(activation)

    var graph = Onnx_GraphProto()
    graph.name = "prelu"
    graph.node = nodes
    graph.initializer = initializers
    graph.input = [valueInfo("input", [1, channels, -1, -1])]
    graph.output = [valueInfo("output", [1, channels, -1, -1])]
    return opset21Model(graph)
}

private func run(_ model: Onnx_ModelProto, input: [Float], shape: [Int]) throws -> [Float] {
    try withTemporaryDirectory { directory in
        let file = directory.appending(path: "model.onnx")
        try (model.serializedBytes() as Data).write(to: file)
        let environment = try ORTEnvironment(
            libraryPath: Installation.fromEnvironment().onnxRuntimeLibrary.path(percentEncoded: false))
        let session = try ORTSession(environment: environment, modelPath: file.path)
        return try #require(try session.run(["input": ORTTensor(shape: shape, values: input)])["output"]?.values)
    }
}


