import Foundation
import ONNXSchema

/// Rewrites each per-channel `PRelu` of a 2-D convolution's output as two depthwise 1x1
/// convolutions ONNX Runtime runs in its blocked (NCHWc) layout.
///
/// ONNX Runtime 1.32 runs `PRelu` outside that layout, so every one costs a layout change each
/// way and a slow broadcast: in SFace the 27 of them took 64 % of the model's time (13 of 20 ms
/// on one core). The replacement computes the same function,
/// `y = x + (1 - slope) * max(-x, 0)` (for `x >= 0` that is `x`, for `x < 0` it is `slope * x`),
/// as `Conv(x, -1)` with `Relu` fused, `Conv(., 1 - slope)` with the `Add` of `x` fused; results
/// differ from `PRelu` by float rounding only (about 1e-6 on SFace's template), and SFace runs
/// in ~7.5 ms instead of ~20.
///
/// Only a `PRelu` whose slope is a float32 initializer of shape `[C, 1, 1]` or `[1, C, 1, 1]`
/// and whose input comes from a 2-D `Conv` (directly or through one `BatchNormalization`) is rewritten: there the input is certainly `N x C x H x W`, so the slope
/// is one value per channel. Any other `PRelu` is left as it is.
enum ChannelSlopeRewrite {
    /// Rewrites the qualifying `PRelu` nodes of `graph` in place; returns how many were rewritten.
    @discardableResult
    static func apply(to graph: inout Onnx_GraphProto) throws(ModelPreparationError) -> Int {
        let initializers = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var producers: [String: Onnx_NodeProto] = [:]
        for node in graph.node {
            for output in node.output where !output.isEmpty { producers[output] = node }
        }
        var names = NameAllocator(taken: Set(initializers.keys).union(producers.keys).union(graph.input.map(\.name)))

        var rewritten = 0
        var nodes: [Onnx_NodeProto] = []
        nodes.reserveCapacity(graph.node.count)
        for node in graph.node {
            guard isDefaultDomain(node), node.opType == "PRelu", node.input.count == 2, node.output.count == 1,
                  let slope = initializers[node.input[1]],
                  let channels = channelCount(ofSlope: slope),
                  isFourDimensional(node.input[0], producers: producers, initializers: initializers)
            else {
                nodes.append(node)
                continue
            }
            let slopes = try ConstantDequantization.floats(of: slope)
            let input = node.input[0]
            let output = node.output[0]
            let base = node.name.isEmpty ? output : node.name

            let negation = depthwiseWeight(names.fresh("\(base).negation_weight"), values: Array(repeating: -1, count: channels))
            let complement = depthwiseWeight(names.fresh("\(base).slope_complement_weight"), values: slopes.map { 1 - $0 })
            graph.initializer.append(negation)
            graph.initializer.append(complement)
            let negated = names.fresh("\(base).negated")
            let negativePart = names.fresh("\(base).negative_part")
            let scaled = names.fresh("\(base).scaled_negative_part")

            nodes.append(depthwiseConvolution(
                name: names.fresh("\(base).negate"), input: input, weight: negation.name, output: negated, channels: channels))
            nodes.append(simpleNode("Relu", name: names.fresh("\(base).clamp"), inputs: [negated], output: negativePart))
            nodes.append(depthwiseConvolution(
                name: names.fresh("\(base).scale"), input: negativePart, weight: complement.name, output: scaled,
                channels: channels))
            // The convolution's output first: ONNX Runtime fuses an Add that follows a Conv into it.
            nodes.append(simpleNode("Add", name: names.fresh("\(base).sum"), inputs: [scaled, input], output: output))
            rewritten += 1
        }
        graph.node = nodes
        return rewritten
    }

    /// `C` for a slope of shape `[C, 1, 1]` or `[1, C, 1, 1]` holding float32 values.
    private static func channelCount(ofSlope slope: Onnx_TensorProto) -> Int? {
        guard slope.elementType == .float else { return nil }
        let dims = slope.dims
        switch dims.count {
        case 3 where dims[1] == 1 && dims[2] == 1 && dims[0] > 0: return Int(dims[0])
        case 4 where dims[0] == 1 && dims[2] == 1 && dims[3] == 1 && dims[1] > 0: return Int(dims[1])
        default: return nil
        }
    }

    /// Whether `tensor` is the output of a 2-D `Conv`, or of a `BatchNormalization` of one.
    private static func isFourDimensional(
        _ tensor: String, producers: [String: Onnx_NodeProto], initializers: [String: Onnx_TensorProto]
    ) -> Bool {
        guard var producer = producers[tensor], isDefaultDomain(producer) else { return false }
        if producer.opType == "BatchNormalization" {
            guard let input = producer.input.first, let convolution = producers[input], isDefaultDomain(convolution)
            else { return false }
            producer = convolution
        }
        guard producer.opType == "Conv", producer.input.count >= 2 else { return false }
        // Two spatial dimensions: a 2-D kernel, or a 4-D weight (stored as such or reshaped to it).
        if let kernel = producer.attribute.first(where: { $0.name == "kernel_shape" }) {
            return kernel.ints.count == 2
        }
        let weight = producer.input[1]
        if let stored = initializers[weight] { return stored.dims.count == 4 }
        guard let reshape = producers[weight], isDefaultDomain(reshape), reshape.opType == "Reshape",
              reshape.input.count == 2, let shape = initializers[reshape.input[1]]
        else { return false }
        return shape.dims == [4]
    }

    private static func isDefaultDomain(_ node: Onnx_NodeProto) -> Bool {
        GraphPreparation.isDefaultDomain(node.domain)
    }

    /// A `[C, 1, 1, 1]` float32 weight: one multiplier per channel.
    private static func depthwiseWeight(_ name: String, values: [Float]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.elementType = .float
        tensor.dims = [Int64(values.count), 1, 1, 1]
        var raw = Data(capacity: values.count * MemoryLayout<UInt32>.size)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) }
        }
        tensor.rawData = raw
        return tensor
    }

    private static func depthwiseConvolution(
        name: String, input: String, weight: String, output: String, channels: Int
    ) -> Onnx_NodeProto {
        var node = simpleNode("Conv", name: name, inputs: [input, weight], output: output)
        var group = Onnx_AttributeProto()
        group.name = "group"
        group.type = .int
        group.i = Int64(channels)
        var kernel = Onnx_AttributeProto()
        kernel.name = "kernel_shape"
        kernel.type = .ints
        kernel.ints = [1, 1]
        node.attribute = [group, kernel]
        return node
    }

    private static func simpleNode(_ opType: String, name: String, inputs: [String], output: String) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.input = inputs
        node.output = [output]
        return node
    }
}

/// Hands out tensor and node names the graph does not use yet.
private struct NameAllocator {
    var taken: Set<String>

    mutating func fresh(_ preferred: String) -> String {
        var candidate = preferred
        var suffix = 1
        while taken.contains(candidate) {
            suffix += 1
            candidate = "\(preferred)_\(suffix)"
        }
        taken.insert(candidate)
        return candidate
    }
}
