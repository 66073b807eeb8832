import ONNXSchema

/// Writes a ``DlibNetwork`` as a standard ONNX graph (operator set 17) that computes what dlib
/// computes, for ONNX Runtime.
///
/// The graph takes `chips`, Nx3xRxC float32 RGB in raw 0-255, and applies dlib's input
/// normalisation itself, `(pixel - mean) / 256`; it returns `descriptors`, NxD unnormalised, as
/// dlib's network does. The batch dimension is symbolic. dlib's layers map one to one onto
/// standard operators: `con_` to Conv, `affine_` to Mul then Add, `relu_` to Relu, pools to
/// MaxPool/AveragePool (dlib pools the window clipped to the image, as ONNX's padding-excluded
/// pools do) or GlobalAveragePool, `fc_` to Flatten then MatMul (then Add). dlib's `add_prev`
/// adds tensors of different shapes by treating missing elements as zero, so each smaller
/// operand is zero-padded (extra channels, bottom rows, right columns) before the Add.
public enum DlibONNXBuilder {
    /// Name of the graph input.
    public static let inputName = "chips"
    /// Name of the graph output.
    public static let outputName = "descriptors"
    /// The operator set the graph is written for.
    public static let opset: Int64 = 17

    /// The ONNX model of `network`.
    /// - Parameter producerVersion: recorded in the model as the version of the tool that wrote it.
    public static func model(of network: DlibNetwork, producerVersion: String) throws(DlibNetworkError) -> Onnx_ModelProto {
        let shapes = try network.activationShapes()
        var graph = GraphWriter()
        let input = DlibActivationShape(channels: network.input.means.count, rows: network.input.rows,
                                        columns: network.input.columns)

        // dlib's input layer: (pixel - mean) / 256 per channel.
        let means = graph.constant("input_means", dims: [1, Int64(input.channels), 1, 1], values: network.input.means)
        let divisor = graph.constant("input_divisor", dims: [], values: [256])
        var current = graph.node("Sub", inputs: [inputName, means], name: "input_centre")
        current = graph.node("Div", inputs: [current, divisor], name: "input_scale")
        var currentShape = input
        var tagged: [Int: (name: String, shape: DlibActivationShape)] = [:]

        for (index, layer) in network.layers.enumerated() {
            let prefix = "layer\(index)"
            let outputShape = shapes[index]
            switch layer {
            case .convolution(let c):
                let weights = graph.constant(prefix + "_weights", dims: [c.filters, c.inputChannels, c.kernelRows, c.kernelColumns].map(Int64.init),
                                             values: c.weights)
                let bias = graph.constant(prefix + "_bias", dims: [Int64(c.filters)], values: c.bias)
                current = graph.node("Conv", inputs: [current, weights, bias], name: prefix + "_conv", attributes: [
                    .ints("kernel_shape", [c.kernelRows, c.kernelColumns]),
                    .ints("strides", [c.strideY, c.strideX]),
                    .ints("pads", [c.paddingY, c.paddingX, c.paddingY, c.paddingX]),
                ])
            case .affine(let a):
                let channels = Int64(a.gamma.count)
                let gamma = graph.constant(prefix + "_gamma", dims: [1, channels, 1, 1], values: a.gamma)
                let beta = graph.constant(prefix + "_beta", dims: [1, channels, 1, 1], values: a.beta)
                current = graph.node("Mul", inputs: [current, gamma], name: prefix + "_scale")
                current = graph.node("Add", inputs: [current, beta], name: prefix + "_shift")
            case .relu:
                current = graph.node("Relu", inputs: [current], name: prefix + "_relu")
            case .maxPool(let p), .averagePool(let p):
                let isMax = if case .maxPool = layer { true } else { false }
                if p.isGlobal {
                    current = graph.node(isMax ? "GlobalMaxPool" : "GlobalAveragePool", inputs: [current], name: prefix + "_pool")
                } else {
                    current = graph.node(isMax ? "MaxPool" : "AveragePool", inputs: [current], name: prefix + "_pool", attributes: [
                        .ints("kernel_shape", [p.windowRows, p.windowColumns]),
                        .ints("strides", [p.strideY, p.strideX]),
                        .ints("pads", [p.paddingY, p.paddingX, p.paddingY, p.paddingX]),
                    ])
                }
            case .tag(let id):
                tagged[id] = (current, currentShape)
            case .skip(let id):
                guard let source = tagged[id] else { throw .inconsistentLayer(index: index, reason: "skip\(id) before tag\(id)") }
                current = source.name
            case .addTagged(let id):
                guard let other = tagged[id] else { throw .inconsistentLayer(index: index, reason: "add_prev\(id) before tag\(id)") }
                let left = graph.zeroPadded(current, from: currentShape, to: outputShape, name: prefix + "_pad_input")
                let right = graph.zeroPadded(other.name, from: other.shape, to: outputShape, name: prefix + "_pad_tagged")
                current = graph.node("Add", inputs: [left, right], name: prefix + "_add")
            case .fullyConnected(let f):
                let weights = graph.constant(prefix + "_weights", dims: [Int64(f.inputs), Int64(f.outputs)], values: f.weights)
                current = graph.node("Flatten", inputs: [current], name: prefix + "_flatten", attributes: [.int("axis", 1)])
                current = graph.node("MatMul", inputs: [current, weights], name: prefix + "_matmul")
                if let bias = f.bias {
                    let biasName = graph.constant(prefix + "_bias", dims: [Int64(f.outputs)], values: bias)
                    current = graph.node("Add", inputs: [current, biasName], name: prefix + "_bias_add")
                }
            }
            currentShape = outputShape
        }
        guard case .fullyConnected(let head)? = network.layers.last else {
            throw .inconsistentLayer(index: network.layers.count - 1, reason: "the network does not end in a fully connected layer")
        }
        graph.node("Identity", inputs: [current], output: outputName, name: "output")

        var proto = Onnx_GraphProto()
        proto.name = "dlib_resnet"
        proto.node = graph.nodes
        proto.initializer = graph.initializers
        proto.input = [valueInfo(inputName, [nil, input.channels, input.rows, input.columns])]
        proto.output = [valueInfo(outputName, [nil, head.outputs])]

        var model = Onnx_ModelProto()
        model.irVersion = 8  // the IR version of operator set 17
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.version = opset
        model.opsetImport = [opsetImport]
        model.producerName = "BioMatch"
        model.producerVersion = producerVersion
        model.docString = "dlib's ResNet face descriptor, converted from dlib's serialization by BioMatch."
        model.graph = proto
        return model
    }

    /// A float32 value of `shape`; nil dimensions are the symbolic batch `N`.
    private static func valueInfo(_ name: String, _ shape: [Int?]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        info.type.tensorType.shape.dim = shape.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let size { dimension.dimValue = Int64(size) } else { dimension.dimParam = "N" }
            return dimension
        }
        return info
    }
}

/// An attribute of a node.
private enum Attribute {
    case int(String, Int)
    case ints(String, [Int])

    var proto: Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        switch self {
        case .int(let name, let value):
            attribute.name = name
            attribute.type = .int
            attribute.i = Int64(value)
        case .ints(let name, let values):
            attribute.name = name
            attribute.type = .ints
            attribute.ints = values.map(Int64.init)
        }
        return attribute
    }
}

/// Accumulates nodes and initializers, naming each node's single output after the node.
private struct GraphWriter {
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []

    /// Adds a node and returns its output's name.
    @discardableResult
    mutating func node(_ opType: String, inputs: [String], output: String? = nil, name: String,
                       attributes: [Attribute] = []) -> String {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.input = inputs
        node.output = [output ?? name]
        node.attribute = attributes.map(\.proto)
        nodes.append(node)
        return output ?? name
    }

    /// Adds a float32 initializer and returns its name.
    mutating func constant(_ name: String, dims: [Int64], values: [Float]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = dims
        tensor.floatData = values
        initializers.append(tensor)
        return name
    }

    /// `value` zero-padded at the end of channels, rows and columns up to `target`, or `value`
    /// itself when it already has that shape.
    mutating func zeroPadded(_ value: String, from shape: DlibActivationShape, to target: DlibActivationShape,
                             name: String) -> String {
        guard shape != target else { return value }
        var pads = Onnx_TensorProto()
        pads.name = name + "_amounts"
        pads.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        pads.dims = [8]
        // Begins for N, C, H, W, then ends: only the ends of C, H and W grow.
        pads.int64Data = [0, 0, 0, 0, 0, Int64(target.channels - shape.channels),
                          Int64(target.rows - shape.rows), Int64(target.columns - shape.columns)]
        initializers.append(pads)
        return node("Pad", inputs: [value, pads.name], name: name, attributes: [])
    }
}
