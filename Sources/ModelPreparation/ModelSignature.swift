import Installation

/// The inputs and outputs BioMatch uses of a model, and which of their dimensions become symbolic.
public struct ModelSignature: Sendable, Equatable {
    /// One graph input or output: its name, its rank, and the dimensions prepared files leave open.
    public struct Tensor: Sendable, Equatable {
        /// The tensor's name in the graph.
        public var name: String
        /// How many dimensions it has.
        public var rank: Int
        /// Dimension index to `dim_param` name, for the dimensions that vary at run time.
        public var symbolicDimensions: [Int: String]
    }

    /// The runtime inputs, in feed order.
    public var inputs: [Tensor]
    /// The outputs, in graph order.
    public var outputs: [Tensor]
}

extension PinnedModel {
    /// What BioMatch feeds and reads: YuNet takes any H x W (multiples of 32) and returns
    /// H/S x W/S anchors per stride; SFace takes a batch of 112 x 112 crops.
    public var signature: ModelSignature {
        switch self {
        case .yunet:
            let strides = [8, 16, 32]
            let heads: [(prefix: String, width: Int)] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)]
            let outputs = heads.flatMap { head in
                strides.map { stride in
                    ModelSignature.Tensor(
                        name: "\(head.prefix)_\(stride)", rank: 3, symbolicDimensions: [1: "anchors_\(stride)"]
                    )
                }
            }
            return ModelSignature(
                inputs: [.init(name: "input", rank: 4, symbolicDimensions: [2: "height", 3: "width"])],
                outputs: outputs
            )
        case .sface:
            return ModelSignature(
                inputs: [.init(name: "data", rank: 4, symbolicDimensions: [0: "batch"])],
                outputs: [.init(name: "fc1", rank: 2, symbolicDimensions: [0: "batch"])]
            )
        }
    }
}
