import Foundation

/// Reads a dlib DNN file of a known architecture into a ``DlibNetwork``.
///
/// dlib writes a network the way its C++ types nest: the loss's version and details, then one
/// version per wrapper from the outermost layer inwards (tags and skips carry nothing else), the
/// input layer, and then, from the innermost layer outwards, each layer's details followed by its
/// training state (three bools and three tensors, empty in a cleaned network). Which wrapper
/// comes where is not written down, so the reader follows the expected architecture and refuses a
/// file that departs from it, ends early or runs on past the network.
public struct DlibNetworkParser: Sendable {
    /// The layers the file must hold, in forward order.
    public let architecture: [DlibLayerSpec]
    /// The input image side the file must declare.
    public let inputSide: Int

    public init(architecture: [DlibLayerSpec], inputSide: Int) {
        self.architecture = architecture
        self.inputSide = inputSide
    }

    /// The parser for `dlib_face_recognition_resnet_model_v1.dat`.
    public static let resNet = DlibNetworkParser(
        architecture: DlibResNetArchitecture.layers, inputSide: DlibResNetArchitecture.inputSide
    )

    /// Parses `bytes`, which must hold exactly one network of this architecture.
    public func parse(_ bytes: [UInt8]) throws(DlibNetworkError) -> DlibNetwork {
        var reading = Reading(reader: DlibDeserializer(bytes: bytes))
        let network = try reading.network(architecture: architecture, inputSide: inputSide)
        do {
            try reading.reader.expectEnd()
        } catch {
            throw .malformed(error)
        }
        _ = try network.activationShapes()
        return network
    }
}

/// One pass over the bytes.
private struct Reading {
    var reader: DlibDeserializer

    /// Runs a read, turning its serialization error into a network error.
    mutating func read<T>(_ body: (inout DlibDeserializer) throws(DlibSerializationError) -> T) throws(DlibNetworkError) -> T {
        do {
            return try body(&reader)
        } catch {
            throw .malformed(error)
        }
    }

    mutating func network(architecture: [DlibLayerSpec], inputSide: Int) throws(DlibNetworkError) -> DlibNetwork {
        let loss = try metricLoss()

        // One version per wrapper, outermost first; the innermost wraps the input layer.
        var versions = [Int64](repeating: 0, count: architecture.count)
        for index in architecture.indices.reversed() {
            let offset = reader.offset
            let version = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
            let spec = architecture[index]
            let allowed: ClosedRange<Int64> = spec.isWrapperOnly ? 1...1 : (index == 0 ? 2...3 : 1...2)
            guard allowed.contains(version) else {
                throw .unexpectedVersion(offset: offset, wrapper: "layer \(index) (\(spec))", found: version)
            }
            versions[index] = version
        }
        guard let first = architecture.first, !first.isWrapperOnly else {
            throw .unexpectedLayer(index: 0, offset: reader.offset, expected: "a layer on the input",
                                   found: architecture.first.map(String.init(describing:)) ?? "nothing")
        }

        let input = try imageInput(side: inputSide)
        var layers: [DlibLayer] = []
        for (index, spec) in architecture.enumerated() {
            switch spec {
            case .tag(let id): layers.append(.tag(id)); continue
            case .skip(let id): layers.append(.skip(id)); continue
            default: break
            }
            let offset = reader.offset
            let layer = try layerDetails(index: index, expected: spec)
            guard layer.spec == spec else {
                throw .unexpectedLayer(index: index, offset: offset, expected: spec.description, found: layer.spec.description)
            }
            layers.append(layer)
            try trainingState(version: versions[index], onInput: index == 0)
        }
        return DlibNetwork(input: input, layers: layers, loss: loss)
    }

    // MARK: - Loss and input

    mutating func metricLoss() throws(DlibNetworkError) -> DlibMetricLoss {
        let offset = reader.offset
        let version = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        guard version == 1 else { throw .unexpectedVersion(offset: offset, wrapper: "loss layer", found: version) }
        let nameOffset = reader.offset
        let name = try read { r throws(DlibSerializationError) in try r.readString() }
        switch name {
        case "loss_metric_":
            // dlib's first metric loss had these values built in.
            return DlibMetricLoss(margin: 0.1, distanceThreshold: 0.75)
        case "loss_metric_2":
            let margin = try read { r throws(DlibSerializationError) in try r.readFloat() }
            let threshold = try read { r throws(DlibSerializationError) in try r.readFloat() }
            return DlibMetricLoss(margin: margin, distanceThreshold: threshold)
        default:
            throw .unexpectedLoss(offset: nameOffset, found: name)
        }
    }

    mutating func imageInput(side: Int) throws(DlibNetworkError) -> DlibImageInput {
        let offset = reader.offset
        let name = try read { r throws(DlibSerializationError) in try r.readString() }
        guard name == "input_rgb_image_sized" else {
            throw .unexpectedInput(offset: offset, reason: "'\(name)', expected input_rgb_image_sized")
        }
        var means: [Float] = []
        for _ in 0..<3 { means.append(try read { r throws(DlibSerializationError) in try r.readFloat() }) }
        let rows = try read { r throws(DlibSerializationError) in try r.readInteger(UInt64.self) }
        let columns = try read { r throws(DlibSerializationError) in try r.readInteger(UInt64.self) }
        guard rows == side, columns == side else {
            throw .unexpectedInput(offset: offset, reason: "\(rows)x\(columns) images, expected \(side)x\(side)")
        }
        return DlibImageInput(means: means, rows: Int(rows), columns: Int(columns))
    }

    // MARK: - Layers

    /// Reads one layer's details, dispatching on the name dlib writes first.
    mutating func layerDetails(index: Int, expected: DlibLayerSpec) throws(DlibNetworkError) -> DlibLayer {
        let offset = reader.offset
        let name = try read { r throws(DlibSerializationError) in try r.readString() }
        switch name {
        case "con_4", "con_5", "con_6": return try convolution(version: name, index: index)
        case "affine_", "affine_2": return try affine(version: name, index: index, offset: offset)
        case "relu_", "relu_2":
            if name == "relu_2", try read({ r throws(DlibSerializationError) in try r.readBool() }) {
                throw .unexpectedLayer(index: index, offset: offset, expected: "an enabled relu", found: "a disabled relu")
            }
            return .relu
        case "add_prev_":
            // The tag it adds is part of the C++ type, not the file; the architecture names it.
            if case .addTagged(let id) = expected { return .addTagged(id) }
            return .addTagged(-1)
        case "max_pool_2": return .maxPool(try pooling())
        case "avg_pool_2": return .averagePool(try pooling())
        case "fc_2", "fc_3": return try fullyConnected(version: name, index: index)
        default:
            throw .unexpectedLayer(index: index, offset: offset, expected: "a known layer", found: "'\(name)'")
        }
    }

    mutating func convolution(version: String, index: Int) throws(DlibNetworkError) -> DlibLayer {
        let params = try read { r throws(DlibSerializationError) in try r.readTensor() }
        let filters = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        let kernelRows = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        let kernelColumns = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        var geometry: [Int32] = []
        for _ in 0..<4 { geometry.append(try read { r throws(DlibSerializationError) in try r.readInteger(Int32.self) }) }
        let filterShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        let biasShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        try skipLearningRates()
        var usesBias = true
        if version != "con_4" { usesBias = try read { r throws(DlibSerializationError) in try r.readBool() } }
        if version == "con_6", try read({ r throws(DlibSerializationError) in try r.readBool() }) {
            throw .inconsistentLayer(index: index, reason: "a convolution with a fused relu is not supported")
        }
        guard usesBias else { throw .inconsistentLayer(index: index, reason: "a convolution without bias is not supported") }
        guard let values = params.values,
              filterShape.n == filters, filterShape.nr == kernelRows, filterShape.nc == kernelColumns,
              biasShape.elementCount == filters,
              values.count == filterShape.elementCount + biasShape.elementCount
        else {
            throw .inconsistentLayer(index: index, reason: "convolution parameters \(params.shape) do not match "
                                     + "filters \(filterShape) and biases \(biasShape)")
        }
        let weightCount = filterShape.elementCount
        return .convolution(DlibConvolution(
            filters: Int(filters), inputChannels: filterShape.k, kernelRows: Int(kernelRows), kernelColumns: Int(kernelColumns),
            strideY: Int(geometry[0]), strideX: Int(geometry[1]), paddingY: Int(geometry[2]), paddingX: Int(geometry[3]),
            weights: Array(values[..<weightCount]), bias: Array(values[weightCount...])
        ))
    }

    mutating func affine(version: String, index: Int, offset: Int) throws(DlibNetworkError) -> DlibLayer {
        let params = try read { r throws(DlibSerializationError) in try r.readTensor() }
        let gammaShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        let betaShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        let mode = try read { r throws(DlibSerializationError) in try r.readInteger(Int32.self) }
        if version == "affine_2", try read({ r throws(DlibSerializationError) in try r.readBool() }) {
            throw .unexpectedLayer(index: index, offset: offset, expected: "an enabled affine", found: "a disabled affine")
        }
        // Mode 0 is dlib's CONV_MODE: one gamma and beta per channel.
        guard mode == 0, let values = params.values,
              gammaShape == betaShape, gammaShape.n == 1, gammaShape.nr == 1, gammaShape.nc == 1,
              values.count == 2 * gammaShape.k
        else {
            throw .inconsistentLayer(index: index, reason: "affine mode \(mode) with parameters \(params.shape), "
                                     + "gamma \(gammaShape), beta \(betaShape) is not per-channel")
        }
        return .affine(DlibAffine(gamma: Array(values[..<gammaShape.k]), beta: Array(values[gammaShape.k...])))
    }

    mutating func pooling() throws(DlibNetworkError) -> DlibPooling {
        let rows = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        let columns = try read { r throws(DlibSerializationError) in try r.readInteger(Int64.self) }
        var geometry: [Int32] = []
        for _ in 0..<4 { geometry.append(try read { r throws(DlibSerializationError) in try r.readInteger(Int32.self) }) }
        return DlibPooling(windowRows: Int(rows), windowColumns: Int(columns), strideY: Int(geometry[0]),
                           strideX: Int(geometry[1]), paddingY: Int(geometry[2]), paddingX: Int(geometry[3]))
    }

    mutating func fullyConnected(version: String, index: Int) throws(DlibNetworkError) -> DlibLayer {
        let outputs = try read { r throws(DlibSerializationError) in try r.readInteger(UInt64.self) }
        let inputs = try read { r throws(DlibSerializationError) in try r.readInteger(UInt64.self) }
        let params = try read { r throws(DlibSerializationError) in try r.readTensor() }
        let weightShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        let biasShape = try read { r throws(DlibSerializationError) in try r.readTensor() }.shape
        let biasMode = try read { r throws(DlibSerializationError) in try r.readInteger(Int32.self) }
        try skipLearningRates()
        if version == "fc_3" { _ = try read { r throws(DlibSerializationError) in try r.readBool() } }
        // dlib's FC_HAS_BIAS is 0, FC_NO_BIAS 1; the parameters hold the weights, then the bias row.
        let hasBias = biasMode == 0
        guard biasMode == 0 || biasMode == 1, let values = params.values,
              outputs > 0, inputs > 0, outputs < 1 << 20, inputs < 1 << 20,
              params.shape.elementCount == Int(inputs + (hasBias ? 1 : 0)) * Int(outputs),
              weightShape.elementCount == Int(inputs * outputs)
        else {
            throw .inconsistentLayer(index: index, reason: "fc \(inputs) -> \(outputs) (bias mode \(biasMode)) with parameters "
                                     + "\(params.shape), weights \(weightShape), bias \(biasShape)")
        }
        let weightCount = Int(inputs * outputs)
        return .fullyConnected(DlibFullyConnected(
            outputs: Int(outputs), inputs: Int(inputs), weights: Array(values[..<weightCount]),
            bias: hasBias ? Array(values[weightCount...]) : nil
        ))
    }

    /// The learning-rate and weight-decay multipliers: training settings, not needed for inference.
    mutating func skipLearningRates() throws(DlibNetworkError) {
        for _ in 0..<4 { _ = try read { r throws(DlibSerializationError) in try r.readFloat() } }
    }

    /// The training state dlib writes after each layer's details.
    mutating func trainingState(version: Int64, onInput: Bool) throws(DlibNetworkError) {
        for _ in 0..<3 { _ = try read { r throws(DlibSerializationError) in try r.readBool() } }
        // x_grad and cached_output, then params_grad (version 2) or grad_final (on the input).
        let tensors = onInput || version == 2 ? 3 : 2
        for _ in 0..<tensors { _ = try read { r throws(DlibSerializationError) in try r.readTensor() } }
        if onInput && version == 3 {
            _ = try read { r throws(DlibSerializationError) in try r.readInteger(UInt32.self) }  // sample expansion factor
        }
    }
}
