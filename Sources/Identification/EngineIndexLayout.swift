import FaceEngine
import Gallery
import Matching

/// How one engine's templates sit in a gallery's index, which ranks by the dot product of
/// L2-normalised vectors, and how its scores come back in the engine's native units.
///
/// - Cosine engines (SFace): the template as it is (zero-padded to the kernels' multiple of 16);
///   the index score is the cosine.
/// - Euclidean engines (dlib): ranking by distance to a probe `q` equals ranking by
///   `q·x - |x|²/2`. A stored template `x` becomes `[x, l, …, l, f, …, f]` with ``liftSlots``
///   values `l = -|x|²/(2√m)` and a filler `f` chosen so that every stored vector has the same
///   norm ``radius``; the probe becomes `[q, 1/√m, …, 1/√m, 0, …]`, so `q'·x' = q·x - |x|²/2`.
///   The index's normalisation then divides every stored vector by the same ``radius`` and every
///   score of one probe by the same `|q'| = √(|q|² + 1)`, so its ranking is the distance
///   ranking, and `|q - x|² = |q|² - 2 · score · radius · |q'|` recovers the distance. Spreading
///   the lift and the filler over many slots keeps every component small, so int8 codes (scaled
///   by a row's largest component) keep the template's own components fine.
struct EngineIndexLayout: Sendable {
    /// The gallery's entry for the engine.
    let engine: GalleryEngine
    /// How the engine's templates compare.
    let comparison: TemplateComparison
    /// Components of an index row.
    let dimension: Int

    /// The common norm of every stored row of a Euclidean engine: templates with
    /// `|x|² + |x|⁴/4` above its square (|x| above about 1.84) are refused. dlib's descriptors
    /// have norms of 1.31 to 1.54 (80 ORL faces); a larger radius makes the filler larger and
    /// multiplies the index's rounding in the recovered distance.
    static let radius: Float = 2.5

    /// Slots a Euclidean row spreads `-|x|²/2` over, and slots it spreads the filler over.
    private static let liftSlots = 8
    private static let fillerSlots = 24

    /// The index kernels work on multiples of this many components.
    private static let kernelWidth = 16

    init(engine: GalleryEngine, comparison: TemplateComparison) {
        self.engine = engine
        self.comparison = comparison
        let needed = engine.templateLength + (comparison == .euclideanDistance ? Self.liftSlots + Self.fillerSlots : 0)
        dimension = (needed + Self.kernelWidth - 1) / Self.kernelWidth * Self.kernelWidth
    }

    /// The row the index stores for a template of the engine.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for a template of another
    ///   length, or a Euclidean template too long for ``radius``.
    func row(for vector: [Float]) throws(IdentificationError) -> [Float] {
        guard vector.count == engine.templateLength else {
            throw .invalidInput(
                field: "template", reason: "\(vector.count) values, '\(engine.identifier)' makes \(engine.templateLength)")
        }
        var row = vector
        row.reserveCapacity(dimension)
        switch comparison {
        case .cosineSimilarity:
            break
        case .euclideanDistance:
            let squaredNorm = Self.squaredNorm(vector)
            let lift = -squaredNorm / 2
            let fillerSlots = dimension - engine.templateLength - Self.liftSlots
            let remainder = Self.radius * Self.radius - squaredNorm - lift * lift
            guard remainder >= 0 else {
                throw .invalidInput(
                    field: "template",
                    reason: "norm \(squaredNorm.squareRoot()) exceeds what the '\(engine.identifier)' index holds")
            }
            row.append(contentsOf: repeatElement(lift / Float(Self.liftSlots).squareRoot(), count: Self.liftSlots))
            row.append(contentsOf: repeatElement((remainder / Float(fillerSlots)).squareRoot(), count: fillerSlots))
        }
        row.append(contentsOf: repeatElement(0, count: dimension - row.count))
        return row
    }

    /// The query the index is searched with for a probe template of the engine.
    func query(for probe: [Float]) -> [Float] {
        var query = probe
        if comparison == .euclideanDistance {
            query.append(contentsOf: repeatElement(1 / Float(Self.liftSlots).squareRoot(), count: Self.liftSlots))
        }
        query.append(contentsOf: repeatElement(0, count: dimension - query.count))
        return query
    }

    /// The native score (cosine, or distance) of an index score of `probe`.
    func native(indexScore: Float, probe: [Float]) -> Float {
        switch comparison {
        case .cosineSimilarity:
            return indexScore
        case .euclideanDistance:
            let (squaredProbe, scale) = Self.probeScale(probe)
            return max(squaredProbe - 2 * indexScore * scale, 0).squareRoot()
        }
    }

    /// The least index score of `probe` whose native score can meet `threshold` (to let the
    /// index drop the rest early; the caller still decides on the native score).
    func minimumIndexScore(threshold: Float, probe: [Float]) -> Float {
        switch comparison {
        case .cosineSimilarity:
            return threshold
        case .euclideanDistance:
            let (squaredProbe, scale) = Self.probeScale(probe)
            // A little below, so rounding never drops a row the native test keeps.
            return (squaredProbe - threshold * threshold) / 2 / scale - 1e-4
        }
    }

    /// `|q|²`, and what an index score of `probe` is multiplied by to give `q·x - |x|²/2`:
    /// the stored rows' norm times the query's.
    private static func probeScale(_ probe: [Float]) -> (squaredProbe: Float, scale: Float) {
        let squaredProbe = squaredNorm(probe)
        return (squaredProbe, radius * (squaredProbe + 1).squareRoot())
    }

    private static func squaredNorm(_ vector: [Float]) -> Float {
        vector.reduce(0) { $0 + $1 * $1 }
    }
}
