/// What a layer must be, without its trained values: the architecture a file is checked against.
public enum DlibLayerSpec: Sendable, Equatable, CustomStringConvertible {
    /// A convolution with bias: filters, kernel size, strides and zero padding.
    case convolution(filters: Int, kernelRows: Int, kernelColumns: Int, strideY: Int, strideX: Int,
                     paddingY: Int, paddingX: Int)
    /// A per-channel scale and shift.
    case affine
    /// A rectifier.
    case relu
    /// A max pool; window 0x0 means the whole plane.
    case maxPool(windowRows: Int, windowColumns: Int, strideY: Int, strideX: Int, paddingY: Int, paddingX: Int)
    /// An average pool; window 0x0 means the whole plane.
    case averagePool(windowRows: Int, windowColumns: Int, strideY: Int, strideX: Int, paddingY: Int, paddingX: Int)
    /// Remembers the current output under a tag.
    case tag(Int)
    /// Continues from a tagged output.
    case skip(Int)
    /// Adds a tagged output, zero-padding the smaller operand.
    case addTagged(Int)
    /// A fully connected layer with or without bias.
    case fullyConnected(outputs: Int, hasBias: Bool)

    /// A square convolution.
    static func convolution(filters: Int, kernel: Int, stride: Int, padding: Int) -> DlibLayerSpec {
        .convolution(filters: filters, kernelRows: kernel, kernelColumns: kernel, strideY: stride, strideX: stride,
                     paddingY: padding, paddingX: padding)
    }

    /// True for dlib's tag and skip wrappers, which carry no layer details in the file.
    var isWrapperOnly: Bool {
        switch self {
        case .tag, .skip: true
        default: false
        }
    }

    /// The layer as dlib prints it, briefly.
    public var description: String {
        switch self {
        case .convolution(let filters, let kr, let kc, let sy, let sx, let py, let px):
            "con(\(filters), \(kr)x\(kc), stride \(sy)x\(sx), pad \(py)x\(px))"
        case .affine: "affine"
        case .relu: "relu"
        case .maxPool(let wr, let wc, let sy, let sx, let py, let px):
            "max_pool(\(wr)x\(wc), stride \(sy)x\(sx), pad \(py)x\(px))"
        case .averagePool(let wr, let wc, let sy, let sx, let py, let px):
            "avg_pool(\(wr)x\(wc), stride \(sy)x\(sx), pad \(py)x\(px))"
        case .tag(let id): "tag\(id)"
        case .skip(let id): "skip\(id)"
        case .addTagged(let id): "add_prev\(id)"
        case .fullyConnected(let outputs, let hasBias): hasBias ? "fc(\(outputs))" : "fc_no_bias(\(outputs))"
        }
    }
}

extension DlibLayer {
    /// The layer's architecture, without its trained values.
    public var spec: DlibLayerSpec {
        switch self {
        case .convolution(let c):
            .convolution(filters: c.filters, kernelRows: c.kernelRows, kernelColumns: c.kernelColumns,
                         strideY: c.strideY, strideX: c.strideX, paddingY: c.paddingY, paddingX: c.paddingX)
        case .affine: .affine
        case .relu: .relu
        case .maxPool(let p):
            .maxPool(windowRows: p.windowRows, windowColumns: p.windowColumns, strideY: p.strideY, strideX: p.strideX,
                     paddingY: p.paddingY, paddingX: p.paddingX)
        case .averagePool(let p):
            .averagePool(windowRows: p.windowRows, windowColumns: p.windowColumns, strideY: p.strideY,
                         strideX: p.strideX, paddingY: p.paddingY, paddingX: p.paddingX)
        case .tag(let id): .tag(id)
        case .skip(let id): .skip(id)
        case .addTagged(let id): .addTagged(id)
        case .fullyConnected(let f): .fullyConnected(outputs: f.outputs, hasBias: f.bias != nil)
        }
    }
}

/// The architecture of dlib's face descriptor `dlib_face_recognition_resnet_model_v1.dat`
/// (dlib's `dnn_face_recognition_ex.cpp`), in forward order.
public enum DlibResNetArchitecture {
    /// The input image side, in pixels.
    public static let inputSide = 150
    /// The descriptor length.
    public static let descriptorLength = 128

    /// Stem, then 3 blocks at 32 channels; a down block and 3 at 64; a down block and 2 at 128;
    /// a down block and 2 at 256; a down block at 256; global average pool; fc 256 -> 128 without bias.
    public static let layers: [DlibLayerSpec] = {
        var layers: [DlibLayerSpec] = [
            .convolution(filters: 32, kernel: 7, stride: 2, padding: 0), .affine, .relu,
            .maxPool(windowRows: 3, windowColumns: 3, strideY: 2, strideX: 2, paddingY: 0, paddingX: 0),
        ]
        let stages: [(channels: Int, downBlock: Bool, blocks: Int)] = [
            (32, false, 3), (64, true, 3), (128, true, 2), (256, true, 2), (256, true, 0),
        ]
        for stage in stages {
            if stage.downBlock { layers += downBlock(stage.channels) }
            for _ in 0..<stage.blocks { layers += residualBlock(stage.channels) }
        }
        layers += [
            .averagePool(windowRows: 0, windowColumns: 0, strideY: 1, strideX: 1, paddingY: 0, paddingX: 0),
            .fullyConnected(outputs: descriptorLength, hasBias: false),
        ]
        return layers
    }()

    /// `relu<add_prev1<affine<con 3x3/1<relu<affine<con 3x3/1<tag1<input>>>>>>>>`.
    private static func residualBlock(_ channels: Int) -> [DlibLayerSpec] {
        [
            .tag(1), .convolution(filters: channels, kernel: 3, stride: 1, padding: 1), .affine, .relu,
            .convolution(filters: channels, kernel: 3, stride: 1, padding: 1), .affine, .addTagged(1), .relu,
        ]
    }

    /// `relu<add_prev2<avg_pool 2x2/2<skip1<tag2<affine<con 3x3/1<relu<affine<con 3x3/2<tag1<input>>>>>>>>>>>`.
    private static func downBlock(_ channels: Int) -> [DlibLayerSpec] {
        [
            .tag(1), .convolution(filters: channels, kernel: 3, stride: 2, padding: 0), .affine, .relu,
            .convolution(filters: channels, kernel: 3, stride: 1, padding: 1), .affine, .tag(2), .skip(1),
            .averagePool(windowRows: 2, windowColumns: 2, strideY: 2, strideX: 2, paddingY: 0, paddingX: 0),
            .addTagged(2), .relu,
        ]
    }
}
