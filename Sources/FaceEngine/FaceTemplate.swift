/// A face template: SFace's 128 numbers for one aligned face, scaled to unit length, tagged
/// with the model that made it (templates of different models are not comparable).
public struct FaceTemplate: Sendable, Hashable, Codable {
    /// Length of an SFace template.
    public static let dimension = 128

    /// The unit-length vector.
    public let values: [Float]
    /// The model that produced it, `PinnedModel.sface.modelIdentifier` for this engine.
    public let modelIdentifier: String

    /// Scales `values` to unit length and tags them.
    /// - Throws: ``FaceEngineError/invalidTemplate(reason:)`` when the vector is empty, not
    ///   finite or all zero.
    public init(normalizing values: [Float], modelIdentifier: String) throws(FaceEngineError) {
        guard !values.isEmpty else { throw .invalidTemplate(reason: "the vector is empty") }
        guard values.allSatisfy(\.isFinite) else { throw .invalidTemplate(reason: "the vector is not finite") }
        let norm = Self.dot(values, values).squareRoot()
        guard norm > 0, norm.isFinite else { throw .invalidTemplate(reason: "the vector has no length") }
        self.values = values.map { $0 / norm }
        self.modelIdentifier = modelIdentifier
    }

    /// Decodes a stored template, scaling it to unit length again so the invariant holds for
    /// whatever was stored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            normalizing: container.decode([Float].self, forKey: .values),
            modelIdentifier: container.decode(String.self, forKey: .modelIdentifier))
    }

    /// Cosine similarity with `other`, in [-1, 1]: SFace's same-person operating point in
    /// OpenCV is 0.363.
    /// - Throws: ``FaceEngineError/templateMismatch(_:_:)`` when the templates come from
    ///   different models or have different lengths.
    public func cosineSimilarity(to other: FaceTemplate) throws(FaceEngineError) -> Float {
        guard modelIdentifier == other.modelIdentifier, values.count == other.values.count else {
            throw .templateMismatch(
                "\(modelIdentifier) (\(values.count) values)", "\(other.modelIdentifier) (\(other.values.count) values)")
        }
        return Self.dot(values, other.values)
    }

    /// Dot product written for the vectoriser: four independent accumulators.
    static func dot(_ left: [Float], _ right: [Float]) -> Float {
        left.withUnsafeBufferPointer { left in
            right.withUnsafeBufferPointer { right in
                var sums = SIMD4<Float>()
                let blocks = left.count / 4
                for block in 0..<blocks {
                    let index = block * 4
                    sums += SIMD4(left[index], left[index + 1], left[index + 2], left[index + 3])
                        * SIMD4(right[index], right[index + 1], right[index + 2], right[index + 3])
                }
                var total = sums.sum()
                for index in (blocks * 4)..<left.count {
                    total += left[index] * right[index]
                }
                return total
            }
        }
    }
}
