import Imaging

/// Aligns a face to SFace's input: a similarity transform that carries the five landmarks as
/// close as possible to the ArcFace template, then a bilinear warp to a 112x112 crop.
/// This is what OpenCV's `FaceRecognizerSF.alignCrop` does.
public enum FaceAlignment {
    /// Side of the square aligned crop.
    public static let cropSide = 112

    /// Where the five landmarks sit in the 112x112 crop (right eye, left eye, nose tip,
    /// right mouth corner, left mouth corner): the ArcFace / InsightFace template.
    public static let template: [ImagePoint] = [
        ImagePoint(x: 38.2946, y: 51.6963),
        ImagePoint(x: 73.5318, y: 51.5014),
        ImagePoint(x: 56.0252, y: 71.7366),
        ImagePoint(x: 41.5493, y: 92.3655),
        ImagePoint(x: 70.7299, y: 92.2041),
    ]

    /// The least-squares similarity transform (rotation, uniform scale, translation; no
    /// reflection) taking `source` points onto `target` points, or `nil` when the source points
    /// all coincide.
    ///
    /// This is Umeyama's solution. In two dimensions it has a closed form: with both point sets
    /// centred on their means, write the points as complex numbers; the best `z` in
    /// `target ≈ z * source` is `z = Σ conj(s) t / Σ |s|²`, i.e.
    /// `a = Σ (sx tx + sy ty) / Σ |s|²` and `b = Σ (sx ty - sy tx) / Σ |s|²`, giving the linear
    /// part `[a -b; b a]`. Umeyama's SVD with its determinant sign correction reaches the same
    /// optimum over proper rotations.
    public static func similarityTransform(from source: [ImagePoint], to target: [ImagePoint]) -> AffineTransform? {
        precondition(source.count == target.count && !source.isEmpty, "need matching, non-empty point sets")
        let count = Double(source.count)
        let sourceMean = ImagePoint(
            x: source.reduce(0) { $0 + $1.x } / count, y: source.reduce(0) { $0 + $1.y } / count)
        let targetMean = ImagePoint(
            x: target.reduce(0) { $0 + $1.x } / count, y: target.reduce(0) { $0 + $1.y } / count)
        var sourceVariance = 0.0
        var dot = 0.0
        var cross = 0.0
        for (s, t) in zip(source, target) {
            let sx = s.x - sourceMean.x
            let sy = s.y - sourceMean.y
            let tx = t.x - targetMean.x
            let ty = t.y - targetMean.y
            sourceVariance += sx * sx + sy * sy
            dot += sx * tx + sy * ty
            cross += sx * ty - sy * tx
        }
        guard sourceVariance > 0 else { return nil }
        let a = dot / sourceVariance
        let b = cross / sourceVariance
        return AffineTransform(
            a: a, b: -b, c: targetMean.x - (a * sourceMean.x - b * sourceMean.y),
            d: b, e: a, f: targetMean.y - (b * sourceMean.x + a * sourceMean.y))
    }

    /// The transform from image pixels to the aligned crop for these landmarks, or `nil` when
    /// the landmarks all coincide.
    ///
    /// The same least-squares fit as ``similarityTransform(from:to:)``, computed with OpenCV's
    /// precision: landmarks, their mean and the centred coordinates in single precision, the
    /// template mean as OpenCV hard-codes it (56.0262, 71.9008), sums in double. The warp
    /// quantises positions to 1/32 pixel, so these last bits decide some crop pixels; with them
    /// the crop equals `alignCrop`'s byte for byte.
    public static func transform(for landmarks: FaceLandmarks) -> AffineTransform? {
        let source = landmarks.points.map { (x: Float($0.x), y: Float($0.y)) }
        let target = template.map { (x: Float($0.x), y: Float($0.y)) }
        var sumX: Float = 0
        var sumY: Float = 0
        for point in source {
            sumX += point.x
            sumY += point.y
        }
        let sourceMean = (x: sumX / Float(source.count), y: sumY / Float(source.count))
        let targetMean: (x: Float, y: Float) = (56.0262, 71.9008)
        // Sums of single-precision products, accumulated in double: A[r][c] = Σ target_r * source_c.
        var targetXSourceX = 0.0
        var targetXSourceY = 0.0
        var targetYSourceX = 0.0
        var targetYSourceY = 0.0
        var sourceVariance = 0.0
        for (s, t) in zip(source, target) {
            let sx = s.x - sourceMean.x
            let sy = s.y - sourceMean.y
            let tx = t.x - targetMean.x
            let ty = t.y - targetMean.y
            targetXSourceX += Double(tx * sx)
            targetXSourceY += Double(tx * sy)
            targetYSourceX += Double(ty * sx)
            targetYSourceY += Double(ty * sy)
            sourceVariance += Double(sx * sx) + Double(sy * sy)
        }
        guard sourceVariance > 0 else { return nil }
        let a = (targetXSourceX + targetYSourceY) / sourceVariance
        let b = (targetYSourceX - targetXSourceY) / sourceVariance
        let meanX = Double(sourceMean.x)
        let meanY = Double(sourceMean.y)
        return AffineTransform(
            a: a, b: -b, c: Double(targetMean.x) - (a * meanX - b * meanY),
            d: b, e: a, f: Double(targetMean.y) - (b * meanX + a * meanY))
    }

    /// The 112x112 aligned crop of the face with these landmarks; black where the crop reaches
    /// outside the image, and all black for degenerate landmarks.
    public static func alignedCrop(of image: RGBImage, landmarks: FaceLandmarks) -> RGBImage {
        let collapsed = AffineTransform(a: 0, b: 0, c: 0, d: 0, e: 0, f: 0)
        return image.warpedAffine(transform(for: landmarks) ?? collapsed, width: cropSide, height: cropSide)
    }
}
