import FaceEngine

/// Unit-length templates packed row after row in one buffer, so that the all-pairs and
/// gallery scans run over contiguous memory.
struct TemplateMatrix: Sendable {
    let count: Int
    let dimension: Int
    private let values: [Float]

    init(_ templates: [FaceTemplate]) {
        count = templates.count
        dimension = templates.first?.values.count ?? 0
        var values: [Float] = []
        values.reserveCapacity(count * dimension)
        for template in templates {
            precondition(template.values.count == dimension, "templates of one dataset share one model")
            values.append(contentsOf: template.values)
        }
        self.values = values
    }

    /// Cosine similarity of rows `first` and `second` (their dot product: rows are unit length).
    func score(_ first: Int, _ second: Int) -> Float {
        values.withUnsafeBufferPointer { buffer in
            let left = buffer.baseAddress! + first * dimension
            let right = buffer.baseAddress! + second * dimension
            var sums = SIMD4<Float>()
            var index = 0
            while index + 4 <= dimension {
                sums += SIMD4(left[index], left[index + 1], left[index + 2], left[index + 3])
                    * SIMD4(right[index], right[index + 1], right[index + 2], right[index + 3])
                index += 4
            }
            var total = sums.sum()
            while index < dimension {
                total += left[index] * right[index]
                index += 1
            }
            return total
        }
    }
}
