/// A face template: a recognition engine's numbers for one aligned face (SFace's 128, scaled to
/// unit length; dlib's 128 as the model gives them), tagged with the model that made it
/// (templates of different models are not comparable).
public struct FaceTemplate: Sendable, Hashable, Codable {
    /// Length of an SFace template.
    public static let dimension = 128

    /// The vector: unit length when made by ``init(normalizing:modelIdentifier:)``.
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

    /// Tags `values` as they are, for engines whose comparison reads the raw vector (a distance).
    /// - Throws: ``FaceEngineError/invalidTemplate(reason:)`` when the vector is empty or not finite.
    public init(raw values: [Float], modelIdentifier: String) throws(FaceEngineError) {
        guard !values.isEmpty else { throw .invalidTemplate(reason: "the vector is empty") }
        guard values.allSatisfy(\.isFinite) else { throw .invalidTemplate(reason: "the vector is not finite") }
        self.values = values
        self.modelIdentifier = modelIdentifier
        isUnitLength = false
    }

    /// False for a template made by ``init(raw:modelIdentifier:)``: its length carries meaning.
    public private(set) var isUnitLength = true

    private enum CodingKeys: String, CodingKey {
        case values, modelIdentifier, isUnitLength
    }

    /// Decodes a stored template; a unit-length one (the default when the field is absent) is
    /// scaled to unit length again so the invariant holds for whatever was stored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let values = try container.decode([Float].self, forKey: .values)
        let model = try container.decode(String.self, forKey: .modelIdentifier)
        if try container.decodeIfPresent(Bool.self, forKey: .isUnitLength) ?? true {
            try self.init(normalizing: values, modelIdentifier: model)
        } else {
            try self.init(raw: values, modelIdentifier: model)
        }
    }

    /// Encodes the vector, its model and whether it is unit length.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(values, forKey: .values)
        try container.encode(modelIdentifier, forKey: .modelIdentifier)
        try container.encode(isUnitLength, forKey: .isUnitLength)
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

    /// Squared Euclidean distance, written for the vectoriser like ``dot(_:_:)``.
    static func squaredDistance(_ left: [Float], _ right: [Float]) -> Float {
        left.withUnsafeBufferPointer { left in
            right.withUnsafeBufferPointer { right in
                var sums = SIMD4<Float>()
                let blocks = left.count / 4
                for block in 0..<blocks {
                    let index = block * 4
                    let difference = SIMD4(left[index], left[index + 1], left[index + 2], left[index + 3])
                        - SIMD4(right[index], right[index + 1], right[index + 2], right[index + 3])
                    sums += difference * difference
                }
                var total = sums.sum()
                for index in (blocks * 4)..<left.count {
                    let difference = left[index] - right[index]
                    total += difference * difference
                }
                return total
            }
        }
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
