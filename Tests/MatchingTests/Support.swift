@testable import Matching

/// Exact reference: every live row scored in Double, best first (ties by insertion order).
struct ReferenceSearch {
    let batch: TemplateBatch
    var removed: Set<TemplateID> = []
    private let units: [Double]

    init(_ batch: TemplateBatch) {
        self.batch = batch
        var units = [Double](repeating: 0, count: batch.vectors.count)
        let dimension = batch.dimension
        batch.vectors.withUnsafeBufferPointer { vectors in
            for row in 0..<batch.count {
                var squared = 0.0
                for index in row * dimension ..< (row + 1) * dimension { squared += Double(vectors[index]) * Double(vectors[index]) }
                let length = squared.squareRoot()
                for index in row * dimension ..< (row + 1) * dimension { units[index] = Double(vectors[index]) / length }
            }
        }
        self.units = units
    }

    func ranked(_ probe: [Float], minimumScore: Double = -2, accepts: (TemplateID, OwnerID) -> Bool = { _, _ in true }) -> [(id: TemplateID, owner: OwnerID, score: Double)] {
        let dimension = batch.dimension
        let length = probe.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let query = probe.map { Double($0) / length }
        var scored: [(id: TemplateID, owner: OwnerID, score: Double, row: Int)] = []
        units.withUnsafeBufferPointer { units in
            for row in 0..<batch.count where !removed.contains(batch.ids[row]) && accepts(batch.ids[row], batch.owners[row]) {
                var score = 0.0
                let base = row * dimension
                for index in 0..<dimension { score += query[index] * units[base + index] }
                if score >= minimumScore { scored.append((batch.ids[row], batch.owners[row], score, row)) }
            }
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.row < $1.row }
        return scored.map { ($0.id, $0.owner, $0.score) }
    }
}

/// A clustered gallery plus probes: mated, non-mated, and copies of enrolled vectors.
func clusteredData(identities: Int, samples: Int = 4, probeCount: Int, seed: UInt64) -> (TemplateBatch, [[Float]]) {
    let generator = SyntheticFaceTemplates(.init(identities: identities, samplesPerIdentity: samples, seed: seed))
    let gallery = generator.gallery()
    var probes = generator.probes(count: probeCount, seed: seed &+ 1).map(\.vector)
    probes[0] = Array(gallery.vector(at: 3))
    return (gallery, probes)
}

/// Adds near-ties: for every `stride`-th row, a copy nudged by about `spread` and an exact copy,
/// so many templates score within float rounding of each other.
func withNearTies(_ batch: TemplateBatch, stride: Int, spread: Float, seed: UInt64) -> TemplateBatch {
    var result = batch
    var generator = SeededGenerator(seed: seed)
    var nextID = (batch.ids.map(\.rawValue).max() ?? 0) + 1
    for row in Swift.stride(from: 0, to: batch.count, by: stride) {
        let original = Array(batch.vector(at: row))
        let nudged = original.map { $0 + spread * Float(generator.nextGaussian()) }
        for vector in [nudged, original] {
            result.ids.append(TemplateID(nextID))
            result.owners.append(batch.owners[row])
            result.vectors += vector
            nextID += 1
        }
    }
    return result
}
