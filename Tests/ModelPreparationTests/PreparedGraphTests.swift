import Foundation
import Installation
import ModelPreparation
import ONNXSchema
import Testing

/// The prepared files of the real models have the structure ONNX Runtime needs.
@Suite struct PreparedGraphTests {
    @Test(arguments: PinnedModel.allCases)
    func constantDequantizationsAreFoldedAway(model: PinnedModel) throws {
        let original = try loadModel(originalFile(of: model)).graph
        let prepared = try loadModel(try SharedPreparation.prepared(model).file).graph
        let originalInitializers = Set(original.initializer.map(\.name))
        let preparedInitializers = Dictionary(uniqueKeysWithValues: prepared.initializer.map { ($0.name, $0) })

        let constantDequantizations = original.node.filter { node in
            node.opType == "DequantizeLinear" && node.input.allSatisfy { $0.isEmpty || originalInitializers.contains($0) }
        }
        #expect(!constantDequantizations.isEmpty)
        #expect(!prepared.node.contains { $0.opType == "DequantizeLinear" })
        // Each rewritten PRelu became four nodes (ChannelSlopeRewriteTests checks them).
        let rewrittenPRelus = original.node.filter { $0.opType == "PRelu" }.count
            - prepared.node.filter { $0.opType == "PRelu" }.count
        #expect(prepared.node.count == original.node.count - constantDequantizations.count + 3 * rewrittenPRelus)
        for node in constantDequantizations {
            let folded = try #require(preparedInitializers[node.output[0]])
            #expect(folded.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue))
            #expect(folded.dims == original.initializer.first { $0.name == node.input[0] }?.dims)
        }
    }

    @Test(arguments: PinnedModel.allCases)
    func onlyRealInputsAndUsedInitializersRemain(model: PinnedModel) throws {
        let graph = try loadModel(try SharedPreparation.prepared(model).file).graph
        let initializers = Set(graph.initializer.map(\.name))
        #expect(graph.input.map(\.name) == model.signature.inputs.map(\.name))
        #expect(!graph.input.contains { initializers.contains($0.name) })
        #expect(Set(graph.output.map(\.name)) == Set(model.signature.outputs.map(\.name)))

        let consumed = Set(graph.node.flatMap(\.input))
        let unused = initializers.subtracting(consumed)
        #expect(unused.isEmpty, "unused initializers: \(unused.sorted())")
        #expect(graph.valueInfo.isEmpty)
    }

    @Test func yunetTakesAnyImageSize() throws {
        let graph = try loadModel(try SharedPreparation.prepared(.yunet).file).graph
        let input = try #require(graph.input.first)
        #expect(input.type.tensorType.shape.dim.map(describe) == ["1", "3", "height", "width"])
        for output in graph.output {
            let stride = try #require(output.name.split(separator: "_").last)
            let dims = output.type.tensorType.shape.dim.map(describe)
            #expect(dims.count == 3)
            #expect(dims.first == "1")
            #expect(dims.dropFirst().first == "anchors_\(stride)")
        }
    }

    @Test func sfaceTakesABatch() throws {
        let graph = try loadModel(try SharedPreparation.prepared(.sface).file).graph
        #expect(graph.input.first?.type.tensorType.shape.dim.map(describe) == ["batch", "3", "112", "112"])
        #expect(graph.output.first?.type.tensorType.shape.dim.map(describe) == ["batch", "128"])
    }

    @Test(arguments: PinnedModel.allCases)
    func irVersionMatchesTheOpset(model: PinnedModel) throws {
        let original = try loadModel(originalFile(of: model))
        let prepared = try loadModel(try SharedPreparation.prepared(model).file)
        #expect(prepared.opsetImport == original.opsetImport)
        // ONNX 1.16 introduced opset 21 together with IR version 10.
        #expect(original.opsetImport.first?.version == 21)
        #expect(prepared.irVersion == 10)
    }

    /// Every folded weight equals `(q - zero_point) * scale` computed here, element by element,
    /// from the original's initializers (a strided sample of each large tensor).
    @Test(arguments: PinnedModel.allCases)
    func foldedWeightsEqualTheDequantizationFormula(model: PinnedModel) throws {
        let original = try loadModel(originalFile(of: model)).graph
        let prepared = try loadModel(try SharedPreparation.prepared(model).file).graph
        let originalTensors = Dictionary(uniqueKeysWithValues: original.initializer.map { ($0.name, $0) })
        let preparedTensors = Dictionary(uniqueKeysWithValues: prepared.initializer.map { ($0.name, $0) })

        var checked = 0
        for node in original.node where node.opType == "DequantizeLinear" {
            let data = try #require(originalTensors[node.input[0]])
            let scale = try #require(originalTensors[node.input[1]])
            let zeroPoint = node.input.count > 2 ? originalTensors[node.input[2]] : nil
            let folded = try #require(preparedTensors[node.output[0]])
            let attributes = Dictionary(uniqueKeysWithValues: node.attribute.map { ($0.name, Int($0.i)) })

            let quantized = signedBytes(data)
            let scales = float32Values(scale)
            let zeroPoints = zeroPoint.map(signedBytes) ?? Array(repeating: 0, count: scales.count)
            let result = float32Values(folded)
            #expect(result.count == quantized.count)

            let dims = data.dims.map { Int($0) }
            let scaleDims = scale.dims.map { Int($0) }
            let axis = attributes["axis"] ?? 1
            let blockSize = attributes["block_size"] ?? 0
            let stride = max(1, quantized.count / 20_000)
            for element in Swift.stride(from: 0, to: quantized.count, by: stride) {
                let scaleIndex = scaleElement(
                    for: element, dims: dims, scaleDims: scaleDims, axis: axis, blockSize: blockSize
                )
                let expected = Float(Int(quantized[element]) - Int(zeroPoints[scaleIndex])) * scales[scaleIndex]
                if result[element] != expected {
                    Issue.record("\(folded.name)[\(element)] = \(result[element]), expected \(expected)")
                    return
                }
                checked += 1
            }
        }
        #expect(checked > 1_000)
    }

    @Test func preparedModelsListsWhatTheManifestRecords() throws {
        let fixture = try SharedPreparation.fixture.get()
        let listed = try fixture.preparer.preparedModels()
        #expect(listed == fixture.prepared)
        for (model, prepared) in listed {
            #expect(try FileDigest.sha256(of: prepared.file) == prepared.sha256)
            #expect(prepared.sourceSHA256 == model.originalSHA256)
            #expect(prepared.isFromPinnedSource)
            #expect(prepared.toolVersion == ModelPreparer.toolVersion)
            #expect(try fixture.preparer.status(of: model).isUpToDate)
        }
    }
}

// MARK: - Independent decoding (deliberately not the library's code)

private func describe(_ dimension: Onnx_TensorShapeProto.Dimension) -> String {
    switch dimension.value {
    case .dimValue(let value)?: String(value)
    case .dimParam(let name)?: name
    case nil: "?"
    }
}

private func signedBytes(_ tensor: Onnx_TensorProto) -> [Int8] {
    tensor.hasRawData ? tensor.rawData.map { Int8(bitPattern: $0) } : tensor.int32Data.map { Int8($0) }
}

private func float32Values(_ tensor: Onnx_TensorProto) -> [Float] {
    guard tensor.hasRawData else { return tensor.floatData }
    let bytes = [UInt8](tensor.rawData)
    return stride(from: 0, to: bytes.count, by: 4).map { offset in
        let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
            | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        return Float(bitPattern: bits)
    }
}

/// The flat index of the scale that applies to flat element `element` of a tensor of `dims`.
private func scaleElement(for element: Int, dims: [Int], scaleDims: [Int], axis: Int, blockSize: Int) -> Int {
    if scaleDims.reduce(1, *) == 1 { return 0 }
    var coordinates = Array(repeating: 0, count: dims.count)
    var remainder = element
    for dimension in dims.indices.reversed() {
        coordinates[dimension] = remainder % dims[dimension]
        remainder /= dims[dimension]
    }
    if blockSize == 0 { return coordinates[axis] }
    coordinates[axis] /= blockSize
    return zip(coordinates, scaleDims).reduce(0) { flat, pair in flat * pair.1 + pair.0 }
}
