import Imaging

/// dlib's `find_similarity_transform`: the least-squares rotation, uniform scale and
/// translation taking one point set onto another (Umeyama's method, reflections excluded).
enum SimilarityTransform {
    /// The similarity that best maps `source[i]` onto `target[i]`, in double as dlib computes it.
    ///
    /// dlib takes the SVD of the 2x2 cross-covariance; in two dimensions the rotation and scale
    /// it yields have a closed form: with `p = cov00 + cov11` and `q = cov10 - cov01`, the
    /// linear part is `[p -q; q p] / sigma²` (the source's variance), for either sign of
    /// det(cov), which is what dlib's reflection correction produces.
    static func leastSquares(from source: [SIMD2<Double>], to target: [SIMD2<Double>]) -> AffineTransform {
        precondition(source.count == target.count && source.count >= 2, "a similarity needs two or more point pairs")
        let count = Double(source.count)
        var sourceMean = SIMD2<Double>(0, 0), targetMean = SIMD2<Double>(0, 0)
        for index in source.indices {
            sourceMean += source[index]
            targetMean += target[index]
        }
        sourceMean /= count
        targetMean /= count
        var sourceVariance = 0.0
        var cov00 = 0.0, cov01 = 0.0, cov10 = 0.0, cov11 = 0.0
        for index in source.indices {
            let s = source[index] - sourceMean
            let t = target[index] - targetMean
            sourceVariance += s.x * s.x + s.y * s.y
            cov00 += t.x * s.x
            cov01 += t.x * s.y
            cov10 += t.y * s.x
            cov11 += t.y * s.y
        }
        sourceVariance /= count
        let p = (cov00 + cov11) / count
        let q = (cov10 - cov01) / count
        let a: Double, b: Double
        if sourceVariance != 0 {
            a = p / sourceVariance
            b = q / sourceVariance
        } else {
            // dlib keeps scale 1 for a degenerate source; the rotation is still the best one.
            let norm = (p * p + q * q).squareRoot()
            (a, b) = norm > 0 ? (p / norm, q / norm) : (1, 0)
        }
        let translation = targetMean - SIMD2(a * sourceMean.x - b * sourceMean.y, b * sourceMean.x + a * sourceMean.y)
        return AffineTransform(a: a, b: -b, c: translation.x, d: b, e: a, f: translation.y)
    }
}
