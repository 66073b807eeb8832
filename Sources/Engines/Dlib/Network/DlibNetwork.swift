/// A dlib DNN read from its serialized file: the input layer, the layers in forward order (with
/// dlib's tags, skips and tagged additions kept as steps) and the loss that trained it.
public struct DlibNetwork: Sendable, Equatable {
    /// The image input layer.
    public var input: DlibImageInput
    /// The layers from the input to the output, in the order they run.
    public var layers: [DlibLayer]
    /// The metric-learning loss the network was trained with (not part of inference).
    public var loss: DlibMetricLoss

    /// Stores the given values.
    public init(input: DlibImageInput, layers: [DlibLayer], loss: DlibMetricLoss) {
        self.input = input
        self.layers = layers
        self.loss = loss
    }

    /// How many trainable values the layers hold (convolution, affine and fully connected).
    public var parameterCount: Int {
        layers.reduce(0) { total, layer in
            switch layer {
            case .convolution(let layer): total + layer.weights.count + layer.bias.count
            case .affine(let layer): total + layer.gamma.count + layer.beta.count
            case .fullyConnected(let layer): total + layer.weights.count + (layer.bias?.count ?? 0)
            default: total
            }
        }
    }
}

/// dlib's `input_rgb_image_sized`: a fixed-size RGB image fed as `(pixel - mean) / 256`, planar R, G, B.
public struct DlibImageInput: Sendable, Equatable {
    /// Per-channel means subtracted before dividing by 256, in R, G, B order.
    public var means: [Float]
    /// The image height the network takes.
    public var rows: Int
    /// The image width the network takes.
    public var columns: Int

    /// Stores the given values.
    public init(means: [Float], rows: Int, columns: Int) {
        self.means = means
        self.rows = rows
        self.columns = columns
    }
}

/// dlib's `loss_metric_`: recorded for completeness; inference ignores it.
public struct DlibMetricLoss: Sendable, Equatable {
    /// The training margin.
    public var margin: Float
    /// The distance below which two descriptors were trained to be the same person.
    public var distanceThreshold: Float

    /// Stores the given values.
    public init(margin: Float, distanceThreshold: Float) {
        self.margin = margin
        self.distanceThreshold = distanceThreshold
    }
}

/// One step of a dlib network in forward order.
public enum DlibLayer: Sendable, Equatable {
    /// `con_`: a 2-D convolution with bias.
    case convolution(DlibConvolution)
    /// `affine_`: per-channel `gamma * x + beta` (batch normalisation folded for inference).
    case affine(DlibAffine)
    /// `relu_`.
    case relu
    /// `max_pool_`.
    case maxPool(DlibPooling)
    /// `avg_pool_`; a window of 0x0 averages the whole plane.
    case averagePool(DlibPooling)
    /// `tag<N>`: remembers the current output under `N`.
    case tag(Int)
    /// `skip<N>`: continues from the output tagged `N`.
    case skip(Int)
    /// `add_prev<N>`: adds the output tagged `N`; when shapes differ the smaller operand is
    /// zero-padded (extra channels, extra bottom rows and right columns).
    case addTagged(Int)
    /// `fc_`: a fully connected layer on the flattened input.
    case fullyConnected(DlibFullyConnected)
}

/// A convolution's geometry and parameters.
public struct DlibConvolution: Sendable, Equatable {
    /// Output channels.
    public var filters: Int
    /// Input channels.
    public var inputChannels: Int
    /// Kernel height and width.
    public var kernelRows: Int, kernelColumns: Int
    /// Vertical and horizontal strides.
    public var strideY: Int, strideX: Int
    /// Zero padding on each side, vertical and horizontal.
    public var paddingY: Int, paddingX: Int
    /// filters x inputChannels x kernelRows x kernelColumns, row-major (ONNX's OIHW).
    public var weights: [Float]
    /// One bias per filter.
    public var bias: [Float]

    /// Stores the given values.
    public init(filters: Int, inputChannels: Int, kernelRows: Int, kernelColumns: Int, strideY: Int, strideX: Int,
                paddingY: Int, paddingX: Int, weights: [Float], bias: [Float]) {
        self.filters = filters
        self.inputChannels = inputChannels
        self.kernelRows = kernelRows
        self.kernelColumns = kernelColumns
        self.strideY = strideY
        self.strideX = strideX
        self.paddingY = paddingY
        self.paddingX = paddingX
        self.weights = weights
        self.bias = bias
    }
}

/// Per-channel scale and shift.
public struct DlibAffine: Sendable, Equatable {
    /// One scale per channel.
    public var gamma: [Float]
    /// One shift per channel.
    public var beta: [Float]

    /// Stores the given values.
    public init(gamma: [Float], beta: [Float]) {
        self.gamma = gamma
        self.beta = beta
    }
}

/// A pooling window; dlib takes the maximum or mean of the window clipped to the image.
public struct DlibPooling: Sendable, Equatable {
    /// Window height and width; both 0 means the whole plane.
    public var windowRows: Int, windowColumns: Int
    /// Vertical and horizontal strides.
    public var strideY: Int, strideX: Int
    /// Padding on each side, vertical and horizontal (padded cells never count).
    public var paddingY: Int, paddingX: Int

    /// Stores the given values.
    public init(windowRows: Int, windowColumns: Int, strideY: Int, strideX: Int, paddingY: Int, paddingX: Int) {
        self.windowRows = windowRows
        self.windowColumns = windowColumns
        self.strideY = strideY
        self.strideX = strideX
        self.paddingY = paddingY
        self.paddingX = paddingX
    }

    /// True for dlib's `avg_pool_everything` / `max_pool_everything` (a 0x0 window).
    public var isGlobal: Bool { windowRows == 0 && windowColumns == 0 }
}

/// A fully connected layer: `output = flatten(input) · weights (+ bias)`.
public struct DlibFullyConnected: Sendable, Equatable {
    /// Outputs.
    public var outputs: Int
    /// Inputs (the flattened size of the previous output).
    public var inputs: Int
    /// inputs x outputs, row-major (dlib's layout, ONNX MatMul's right operand).
    public var weights: [Float]
    /// One bias per output, or nil for `fc_no_bias`.
    public var bias: [Float]?

    /// Stores the given values.
    public init(outputs: Int, inputs: Int, weights: [Float], bias: [Float]?) {
        self.outputs = outputs
        self.inputs = inputs
        self.weights = weights
        self.bias = bias
    }
}

/// The shape of one sample's activations: channels, rows, columns.
public struct DlibActivationShape: Sendable, Equatable, CustomStringConvertible {
    /// Channels, rows and columns.
    public var channels: Int, rows: Int, columns: Int

    /// Stores the given values.
    public init(channels: Int, rows: Int, columns: Int) {
        self.channels = channels
        self.rows = rows
        self.columns = columns
    }

    /// `CxHxW`.
    public var description: String { "\(channels)x\(rows)x\(columns)" }
}
