import Foundation
import ONNXSchema

/// Folds a `DequantizeLinear` whose inputs are all constants into the float32 tensor it produces.
///
/// Computes `(q - zero_point) * scale` exactly as the operator defines it, for a scalar scale,
/// a per-axis scale (one per index along `axis`) or a blocked scale (one per `block_size`
/// run along `axis`, the last run cut to the axis length).
enum ConstantDequantization {
    /// How the scale and zero point map onto the quantized tensor's elements.
    enum Layout: Equatable {
        /// One scale for every element.
        case perTensor
        /// One scale per index along the axis.
        case perAxis(axis: Int)
        /// One scale per `blockSize` consecutive indices along the axis.
        case blocked(axis: Int, blockSize: Int)
    }

    /// The float32 initializer that replaces `node`, named after its output.
    static func fold(
        _ node: Onnx_NodeProto, initializers: [String: Onnx_TensorProto]
    ) throws(ModelPreparationError) -> Onnx_TensorProto {
        let nodeName = node.name.isEmpty ? node.output.first ?? "?" : node.name
        func unsupported(_ reason: String) -> ModelPreparationError {
            .unsupportedQuantization(node: nodeName, reason: reason)
        }
        guard node.output.count == 1, (2...3).contains(node.input.count) else {
            throw unsupported("expected 2 or 3 inputs and 1 output")
        }
        guard let quantized = initializers[node.input[0]], let scale = initializers[node.input[1]] else {
            throw unsupported("its data and scale are not both initializers")
        }
        let zeroPointName = node.input.count == 3 ? node.input[2] : ""
        let zeroPoint = zeroPointName.isEmpty ? nil : initializers[zeroPointName]
        if !zeroPointName.isEmpty && zeroPoint == nil {
            throw unsupported("its zero point is not an initializer")
        }

        var axis = 1
        var blockSize = 0
        for attribute in node.attribute {
            switch attribute.name {
            case "axis": axis = Int(attribute.i)
            case "block_size": blockSize = Int(attribute.i)
            case "output_dtype" where attribute.i == 0 || attribute.i == Onnx_TensorProto.DataType.float.rawValue:
                break
            default: throw unsupported("attribute '\(attribute.name)' is not supported")
            }
        }
        guard scale.elementType == .float else {
            throw unsupported("only float32 scales are supported")
        }

        let shape = try dimensions(of: quantized)
        let layout = try layout(
            dataShape: shape, scaleShape: try dimensions(of: scale), axis: axis, blockSize: blockSize,
            unsupported: unsupported
        )
        let values = try integers(of: quantized)
        let scales = try floats(of: scale)
        let zeroPoints: [Int32]
        if let zeroPoint {
            guard zeroPoint.dataType == quantized.dataType else {
                throw unsupported("zero point type \(zeroPoint.dataType) differs from data type \(quantized.dataType)")
            }
            guard try dimensions(of: zeroPoint).reduce(1, *) == scales.count else {
                throw unsupported("zero point and scale have different element counts")
            }
            zeroPoints = try integers(of: zeroPoint)
        } else {
            zeroPoints = Array(repeating: 0, count: scales.count)
        }

        var result = Onnx_TensorProto()
        result.name = node.output[0]
        result.dims = quantized.dims
        result.elementType = .float
        result.rawData = dequantize(
            values, shape: shape, layout: layout, scales: scales, zeroPoints: zeroPoints
        )
        return result
    }

    /// Decides the layout from the shapes, checking the scale fits the data.
    private static func layout(
        dataShape: [Int], scaleShape: [Int], axis rawAxis: Int, blockSize: Int,
        unsupported: (String) -> ModelPreparationError
    ) throws(ModelPreparationError) -> Layout {
        // A single scale is per-tensor whatever block_size says: ONNX Runtime rejects
        // block_size with a scalar scale, but that is what the quantizer meant.
        if scaleShape.reduce(1, *) == 1 { return .perTensor }
        let rank = dataShape.count
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        guard (0..<rank).contains(axis) else { throw unsupported("axis \(rawAxis) is outside rank \(rank)") }
        let axisLength = dataShape[axis]
        if blockSize > 0 {
            var expected = dataShape
            expected[axis] = (axisLength + blockSize - 1) / blockSize
            guard scaleShape == expected else {
                throw unsupported("blocked scale shape \(scaleShape) does not match \(expected)")
            }
            return .blocked(axis: axis, blockSize: blockSize)
        }
        guard scaleShape == [axisLength] else {
            throw unsupported("per-axis scale shape \(scaleShape) does not match axis length \(axisLength)")
        }
        return .perAxis(axis: axis)
    }

    /// `(q - zero_point) * scale` for every element, as little-endian float32 bytes.
    static func dequantize(
        _ values: [Int32], shape: [Int], layout: Layout, scales: [Float], zeroPoints: [Int32]
    ) -> Data {
        let axis: Int
        switch layout {
        case .perTensor: axis = 0
        case .perAxis(let perAxis): axis = perAxis
        case .blocked(let blockedAxis, _): axis = blockedAxis
        }
        // Elements are visited as (outer, index along axis, inner) in row-major order; the
        // scale of one is scales[rowBase(outer, index) + inner * innerStride].
        let outerCount = shape.isEmpty ? 1 : shape[..<axis].reduce(1, *)
        let axisLength = shape.isEmpty ? 1 : shape[axis]
        let innerCount = shape.isEmpty ? 1 : shape[(axis + 1)...].reduce(1, *)
        let innerStride: Int
        let rowBase: (_ outer: Int, _ index: Int) -> Int
        switch layout {
        case .perTensor:
            innerStride = 0
            rowBase = { _, _ in 0 }
        case .perAxis:
            innerStride = 0
            rowBase = { _, index in index }
        case .blocked(_, let blockSize):
            let blocksPerOuter = (axisLength + blockSize - 1) / blockSize
            innerStride = 1
            rowBase = { outer, index in (outer * blocksPerOuter + index / blockSize) * innerCount }
        }

        var bytes = Data(count: values.count * MemoryLayout<UInt32>.size)
        bytes.withUnsafeMutableBytes { output in
            values.withUnsafeBufferPointer { values in
                scales.withUnsafeBufferPointer { scales in
                    zeroPoints.withUnsafeBufferPointer { zeroPoints in
                        var element = 0
                        for outer in 0..<outerCount {
                            for index in 0..<axisLength {
                                let base = rowBase(outer, index)
                                for inner in 0..<innerCount {
                                    let scaleIndex = base + inner * innerStride
                                    let value = Float(values[element] - zeroPoints[scaleIndex]) * scales[scaleIndex]
                                    output.storeBytes(
                                        of: value.bitPattern.littleEndian,
                                        toByteOffset: element * MemoryLayout<UInt32>.size, as: UInt32.self
                                    )
                                    element += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return bytes
    }
}

// MARK: - Reading tensor data

extension ConstantDequantization {
    /// The tensor's dimensions, checked to be non-negative, for a tensor whose data is stored inline.
    static func dimensions(of tensor: Onnx_TensorProto) throws(ModelPreparationError) -> [Int] {
        guard tensor.dims.allSatisfy({ $0 >= 0 }) else {
            throw .invalidTensor(name: tensor.name, reason: "negative dimension in \(tensor.dims)")
        }
        guard tensor.dataLocation != .external else {
            throw .invalidTensor(name: tensor.name, reason: "external data is not supported")
        }
        return tensor.dims.map { Int($0) }
    }

    /// The elements of an int8 or uint8 tensor, widened to Int32, from `raw_data` or `int32_data`.
    static func integers(of tensor: Onnx_TensorProto) throws(ModelPreparationError) -> [Int32] {
        let count = try dimensions(of: tensor).reduce(1, *)
        let values: [Int32]
        switch tensor.elementType {
        case .int8 where tensor.hasRawData:
            values = tensor.rawData.map { Int32(Int8(bitPattern: $0)) }
        case .uint8 where tensor.hasRawData:
            values = tensor.rawData.map { Int32($0) }
        case .int8, .uint8:
            // The typed field stores each 8-bit element in its own int32.
            let range: ClosedRange<Int32> = tensor.elementType == .int8 ? -128...127 : 0...255
            if let outlier = tensor.int32Data.first(where: { !range.contains($0) }) {
                throw .invalidTensor(name: tensor.name, reason: "int32_data holds \(outlier), outside \(range)")
            }
            values = tensor.int32Data
        default:
            throw .invalidTensor(name: tensor.name, reason: "data type \(tensor.dataType) is not int8 or uint8")
        }
        guard values.count == count else {
            throw .invalidTensor(name: tensor.name, reason: "holds \(values.count) elements, its shape needs \(count)")
        }
        return values
    }

    /// The elements of a float32 tensor, from `raw_data` (little-endian) or `float_data`.
    static func floats(of tensor: Onnx_TensorProto) throws(ModelPreparationError) -> [Float] {
        let count = try dimensions(of: tensor).reduce(1, *)
        guard tensor.elementType == .float else {
            throw .invalidTensor(name: tensor.name, reason: "data type \(tensor.dataType) is not float32")
        }
        let values: [Float]
        if tensor.hasRawData {
            let raw = tensor.rawData
            guard raw.count == count * MemoryLayout<UInt32>.size else {
                throw .invalidTensor(name: tensor.name, reason: "holds \(raw.count) bytes, its shape needs \(count * 4)")
            }
            values = raw.withUnsafeBytes { bytes in
                (0..<count).map { index in
                    Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(
                        fromByteOffset: index * MemoryLayout<UInt32>.size, as: UInt32.self
                    )))
                }
            }
        } else {
            values = tensor.floatData
        }
        guard values.count == count else {
            throw .invalidTensor(name: tensor.name, reason: "holds \(values.count) elements, its shape needs \(count)")
        }
        return values
    }
}

extension Onnx_TensorProto {
    /// `data_type` as the schema's enum (nil for codes this schema does not know).
    var elementType: DataType? {
        get { DataType(rawValue: Int(dataType)) }
        set { dataType = Int32(newValue?.rawValue ?? 0) }
    }
}
