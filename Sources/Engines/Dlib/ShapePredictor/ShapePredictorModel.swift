/// dlib's `shape_predictor` as stored in its file: a mean shape refined by a cascade of
/// forests of regression trees (Kazemi and Sullivan's ensemble of regression trees).
///
/// Shapes are in the unit face frame: the detector rectangle's top-left corner is (0, 0) and
/// its bottom-right corner (1, 1). Every stored number stays a `Float`, as in dlib, so the
/// evaluation takes the same branches.
public struct ShapePredictorModel: Sendable, Equatable {
    /// One split: go left when `feature[first] - feature[second] > threshold`.
    public struct Split: Sendable, Equatable {
        /// Index of the first feature pixel.
        public var first: Int
        /// Index of the second feature pixel.
        public var second: Int
        /// The intensity-difference threshold.
        public var threshold: Float

        /// A split from its parts.
        public init(first: Int, second: Int, threshold: Float) {
            self.first = first
            self.second = second
            self.threshold = threshold
        }
    }

    /// A complete binary tree: `splits` in breadth-first order, then one shape increment per leaf.
    public struct RegressionTree: Sendable, Equatable {
        /// The internal nodes; node `i` has children `2i + 1` and `2i + 2`.
        public var splits: [Split]
        /// `splits.count + 1` leaves, each `2 * partCount` floats laid end to end.
        public var leafValues: [Float]

        /// A tree from its parts.
        public init(splits: [Split], leafValues: [Float]) {
            self.splits = splits
            self.leafValues = leafValues
        }
    }

    /// One level of the cascade: its trees and the feature pixels they read.
    public struct Cascade: Sendable, Equatable {
        /// The trees whose leaf increments are added to the shape one after another.
        public var trees: [RegressionTree]
        /// For each feature pixel, the part of the shape it is anchored to.
        public var anchors: [Int]
        /// For each feature pixel, its offset from the anchor in the mean shape's frame.
        public var deltas: [SIMD2<Float>]

        /// A cascade level from its parts.
        public init(trees: [RegressionTree], anchors: [Int], deltas: [SIMD2<Float>]) {
            self.trees = trees
            self.anchors = anchors
            self.deltas = deltas
        }
    }

    /// The mean shape, x and y interleaved, in the unit face frame.
    public var initialShape: [Float]
    /// The cascade, applied in order.
    public var cascades: [Cascade]

    /// A model from its parts; checks that every index is in range so evaluation cannot trap.
    public init(initialShape: [Float], cascades: [Cascade]) throws(ShapePredictorError) {
        guard !initialShape.isEmpty, initialShape.count % 2 == 0 else {
            throw .invalidModel(reason: "the initial shape has \(initialShape.count) values, not a positive even count")
        }
        let partCount = initialShape.count / 2
        for (level, cascade) in cascades.enumerated() {
            guard cascade.anchors.count == cascade.deltas.count else {
                throw .invalidModel(reason: "cascade \(level) has \(cascade.anchors.count) anchors and \(cascade.deltas.count) deltas")
            }
            guard cascade.anchors.allSatisfy({ (0..<partCount).contains($0) }) else {
                throw .invalidModel(reason: "cascade \(level) anchors a feature to a part the shape lacks")
            }
            for (index, tree) in cascade.trees.enumerated() {
                guard tree.leafValues.count == (tree.splits.count + 1) * initialShape.count else {
                    throw .invalidModel(reason: "tree \(index) of cascade \(level) has leaves that do not match its splits")
                }
                let featureCount = cascade.deltas.count
                guard tree.splits.allSatisfy({ $0.first >= 0 && $0.first < featureCount && $0.second >= 0 && $0.second < featureCount }) else {
                    throw .invalidModel(reason: "tree \(index) of cascade \(level) reads a feature pixel the cascade lacks")
                }
            }
        }
        self.initialShape = initialShape
        self.cascades = cascades
    }

    /// How many points the predictor places (5 for dlib's 5-point model).
    public var partCount: Int { initialShape.count / 2 }
}
