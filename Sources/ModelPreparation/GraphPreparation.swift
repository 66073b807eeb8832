import Foundation
import Installation
import ONNXSchema

/// The preparation pass on a decoded model: what makes the int8bq files load and run fast on
/// ONNX Runtime 1.32 while computing the same function (folded weights exactly, rewritten
/// activations to float rounding).
struct GraphPreparation {
    let model: PinnedModel
    /// The file the model came from, named in errors.
    let sourceFile: URL

    /// Rewrites `proto` in place and checks it has the model's signature.
    func run(on proto: inout Onnx_ModelProto) throws(ModelPreparationError) {
        guard proto.hasGraph else { throw .unexpectedGraph(model, file: sourceFile, mismatch: .missingGraph) }
        var graph = proto.graph

        // Initializers listed as inputs are overridable defaults, so ORT neither folds nor
        // pre-packs them; unused inputs are demanded as feeds. Keep only real, used inputs.
        let initializerNames = Set(graph.initializer.map(\.name))
        let consumed = Self.consumedNames(of: graph)
        graph.input.removeAll { initializerNames.contains($0.name) || !consumed.contains($0.name) }

        try foldConstantDequantizations(in: &graph)
        try ChannelSlopeRewrite.apply(to: &graph)

        let stillConsumed = Self.consumedNames(of: graph)
        graph.initializer.removeAll { !stillConsumed.contains($0.name) }

        // Recorded shapes were computed for the fixed input size and name tensors that may be
        // gone; ONNX Runtime infers them again from the symbolic inputs.
        graph.valueInfo.removeAll()

        try checkSignature(of: graph)
        try makeDimensionsSymbolic(in: &graph)

        proto.graph = graph
        proto.irVersion = max(proto.irVersion, Self.minimumIRVersion(forOpset: Self.defaultOpset(of: proto)))
    }

    /// Replaces each `DequantizeLinear` whose inputs are all initializers by its float32 result.
    private func foldConstantDequantizations(in graph: inout Onnx_GraphProto) throws(ModelPreparationError) {
        var initializers = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var keptNodes: [Onnx_NodeProto] = []
        keptNodes.reserveCapacity(graph.node.count)
        for node in graph.node {
            let isDequantize = node.opType == "DequantizeLinear" && Self.isDefaultDomain(node.domain)
            let inputsAreConstant = node.input.allSatisfy { $0.isEmpty || initializers[$0] != nil }
            guard isDequantize, inputsAreConstant else {
                keptNodes.append(node)
                continue
            }
            let tensor = try ConstantDequantization.fold(node, initializers: initializers)
            initializers[tensor.name] = tensor
            graph.initializer.append(tensor)
        }
        graph.node = keptNodes
    }

    /// Checks the runtime inputs and the outputs are exactly the signature's, with its ranks.
    private func checkSignature(of graph: Onnx_GraphProto) throws(ModelPreparationError) {
        let signature = model.signature
        let expectedInputs = signature.inputs.map(\.name)
        let foundInputs = graph.input.map(\.name)
        guard Set(foundInputs) == Set(expectedInputs), foundInputs.count == expectedInputs.count else {
            throw .unexpectedGraph(model, file: sourceFile, mismatch: .inputs(expected: expectedInputs, found: foundInputs))
        }
        let expectedOutputs = signature.outputs.map(\.name)
        let foundOutputs = graph.output.map(\.name)
        guard Set(foundOutputs) == Set(expectedOutputs), foundOutputs.count == expectedOutputs.count else {
            throw .unexpectedGraph(model, file: sourceFile, mismatch: .outputs(expected: expectedOutputs, found: foundOutputs))
        }
        let declared = graph.input + graph.output
        for tensor in signature.inputs + signature.outputs {
            let rank = declared.first { $0.name == tensor.name }?.type.tensorType.shape.dim.count ?? 0
            guard rank == tensor.rank else {
                throw .unexpectedGraph(
                    model, file: sourceFile, mismatch: .rank(tensor: tensor.name, expected: tensor.rank, found: rank)
                )
            }
        }
    }

    /// Turns the signature's varying dimensions into named `dim_param`s.
    private func makeDimensionsSymbolic(in graph: inout Onnx_GraphProto) throws(ModelPreparationError) {
        let signature = model.signature
        func apply(_ tensors: [ModelSignature.Tensor], to values: inout [Onnx_ValueInfoProto]) {
            for tensor in tensors {
                guard let position = values.firstIndex(where: { $0.name == tensor.name }) else { continue }
                for (dimension, name) in tensor.symbolicDimensions {
                    var symbolic = Onnx_TensorShapeProto.Dimension()
                    symbolic.dimParam = name
                    values[position].type.tensorType.shape.dim[dimension] = symbolic
                }
            }
        }
        apply(signature.inputs, to: &graph.input)
        apply(signature.outputs, to: &graph.output)
    }

    /// Every name a node reads (in subgraphs too) or the graph returns.
    static func consumedNames(of graph: Onnx_GraphProto) -> Set<String> {
        var names = Set(graph.output.map(\.name))
        func collect(_ nodes: [Onnx_NodeProto]) {
            for node in nodes {
                names.formUnion(node.input.filter { !$0.isEmpty })
                for attribute in node.attribute {
                    if attribute.hasG { collect(attribute.g.node) }
                    for subgraph in attribute.graphs { collect(subgraph.node) }
                }
            }
        }
        collect(graph.node)
        return names
    }

    /// The version of the default ONNX operator set the model imports.
    static func defaultOpset(of proto: Onnx_ModelProto) -> Int64 {
        proto.opsetImport.first { isDefaultDomain($0.domain) }?.version ?? 1
    }

    /// Whether a node or operator-set domain names ONNX's default operators (empty or "ai.onnx").
    static func isDefaultDomain(_ domain: String) -> Bool {
        domain.isEmpty || domain == "ai.onnx"
    }

    /// The IR version ONNX released with an opset; the shipped files pair opset 21 with IR 6,
    /// which the checker rejects. IR 4 or later also lets initializers stay out of the inputs.
    static func minimumIRVersion(forOpset opset: Int64) -> Int64 {
        switch opset {
        case ..<10: 4
        case 10: 5
        case 11: 6
        case 12...14: 7
        case 15...18: 8
        case 19...20: 9
        case 21...22: 10
        case 23: 11
        case 24: 12
        default: 13
        }
    }
}
