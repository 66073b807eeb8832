import FaceEngine

/// How two templates of an evaluation score, always as a similarity (higher is more alike).
public enum TemplateScoring: Sendable, Equatable, Codable {
    /// One engine's comparison; a distance is negated.
    case engine(TemplateComparison)
    /// Several engines' templates laid end to end, each part compared by its engine and
    /// normalised, then combined (``FusionModel``).
    case fusion(FusionModel)
}

/// Templates packed row after row in one buffer, so that the all-pairs and gallery scans run
/// over contiguous memory.
struct TemplateMatrix: Sendable {
    let count: Int
    let dimension: Int
    let scoring: TemplateScoring
    private let values: [Float]

    init(_ templates: [FaceTemplate], scoring: TemplateScoring = .engine(.cosineSimilarity)) {
        count = templates.count
        dimension = templates.first?.values.count ?? 0
        self.scoring = scoring
        var values: [Float] = []
        values.reserveCapacity(count * dimension)
        for template in templates {
            precondition(template.values.count == dimension, "templates of one dataset share one model")
            values.append(contentsOf: template.values)
        }
        self.values = values
    }

    /// The similarity of rows `first` and `second`.
    func score(_ first: Int, _ second: Int) -> Float {
        values.withUnsafeBufferPointer { buffer in
            let left = buffer.baseAddress! + first * dimension
            let right = buffer.baseAddress! + second * dimension
            switch scoring {
            case let .engine(comparison):
                return Self.similarity(left, right, count: dimension, comparison: comparison)
            case let .fusion(model):
                var offset = 0
                var parts: [Float] = []
                parts.reserveCapacity(model.parts.count)
                for part in model.parts {
                    parts.append(
                        Self.similarity(left + offset, right + offset, count: part.templateLength, comparison: part.comparison))
                    offset += part.templateLength
                }
                return model.fuse(parts)
            }
        }
    }

    /// One engine's similarity of two vectors: the cosine of unit vectors (their dot product),
    /// or a negated Euclidean distance.
    static func similarity(
        _ left: UnsafePointer<Float>, _ right: UnsafePointer<Float>, count: Int, comparison: TemplateComparison
    ) -> Float {
        var sums = SIMD4<Float>()
        var index = 0
        switch comparison {
        case .cosineSimilarity:
            while index + 4 <= count {
                sums += SIMD4(left[index], left[index + 1], left[index + 2], left[index + 3])
                    * SIMD4(right[index], right[index + 1], right[index + 2], right[index + 3])
                index += 4
            }
            var total = sums.sum()
            while index < count {
                total += left[index] * right[index]
                index += 1
            }
            return total
        case .euclideanDistance:
            while index + 4 <= count {
                let difference = SIMD4(left[index], left[index + 1], left[index + 2], left[index + 3])
                    - SIMD4(right[index], right[index + 1], right[index + 2], right[index + 3])
                sums += difference * difference
                index += 4
            }
            var total = sums.sum()
            while index < count {
                let difference = left[index] - right[index]
                total += difference * difference
                index += 1
            }
            return -total.squareRoot()
        }
    }
}
