import Imaging

/// dlib's 5-point face landmarks, in pixels of the image the predictor ran on. dlib returns
/// whole pixels, so every coordinate is an integer.
///
/// The order is the model's: the subject's left eye outer then inner corner (on the image's
/// right in a frontal photo), the right eye outer then inner corner, then the base of the nose.
public struct DlibFaceLandmarks: Sendable, Hashable, Codable {
    /// The five points in the model's order.
    public var points: [ImagePoint]

    /// Landmarks from exactly five points in the model's order.
    public init(points: [ImagePoint]) {
        precondition(points.count == 5, "dlib's 5-point model places exactly five points")
        self.points = points
    }
}

/// Runs dlib's shape predictor exactly as `dlib::shape_predictor::operator()` does on an RGB
/// image: same float arithmetic, same intensity (the integer mean of R, G and B), same
/// rounding of feature pixels to whole pixels, same tree walks.
public struct ShapePredictor: Sendable {
    /// The model being evaluated.
    public let model: ShapePredictorModel

    /// A predictor for a loaded model.
    public init(model: ShapePredictorModel) {
        self.model = model
    }

    /// The predicted shape's points for the face in `rectangle`, in image pixels (whole pixels,
    /// as dlib rounds them).
    public func points(in image: RGBImage, rectangle: DlibRectangle) -> [ImagePoint] {
        let shape = unitShape(in: image, rectangle: rectangle)
        let frame = UnitFrame(rectangle)
        return (0..<model.partCount).map { part in
            frame.pixel(SIMD2(shape[2 * part], shape[2 * part + 1]))
        }
    }

    /// The 5-point landmarks of the face in `rectangle`; the model must place five points.
    public func landmarks(in image: RGBImage, rectangle: DlibRectangle) -> DlibFaceLandmarks {
        DlibFaceLandmarks(points: points(in: image, rectangle: rectangle))
    }

    /// The final shape in the unit face frame (before dlib maps it to pixels).
    func unitShape(in image: RGBImage, rectangle: DlibRectangle) -> [Float] {
        let frame = UnitFrame(rectangle)
        var shape = model.initialShape
        var features: [Float] = []
        for cascade in model.cascades {
            sampleFeatures(cascade, shape: shape, frame: frame, image: image, into: &features)
            for tree in cascade.trees {
                let leaf = Self.leafIndex(of: tree, features: features)
                let base = leaf * shape.count
                for index in shape.indices {
                    shape[index] += tree.leafValues[base + index]
                }
            }
        }
        return shape
    }

    /// Walks a complete tree to its leaf: left when the intensity difference beats the threshold.
    private static func leafIndex(of tree: ShapePredictorModel.RegressionTree, features: [Float]) -> Int {
        var node = 0
        let splits = tree.splits
        while node < splits.count {
            let split = splits[node]
            node = features[split.first] - features[split.second] > split.threshold ? 2 * node + 1 : 2 * node + 2
        }
        return node - splits.count
    }

    /// dlib's `extract_feature_pixel_values`: each feature pixel's offset is carried from the
    /// mean shape to the current one by their similarity transform (in float), placed on its
    /// anchor part, mapped to pixels, rounded, and read as intensity (0 outside the image).
    private func sampleFeatures(
        _ cascade: ShapePredictorModel.Cascade, shape: [Float], frame: UnitFrame, image: RGBImage,
        into features: inout [Float]
    ) {
        let similarity = SimilarityTransform.leastSquares(
            from: Self.points(of: model.initialShape), to: Self.points(of: shape))
        // dlib casts the 2x2 part to float and drops the translation (deltas are offsets).
        let m00 = Float(similarity.a), m01 = Float(similarity.b)
        let m10 = Float(similarity.d), m11 = Float(similarity.e)
        features.removeAll(keepingCapacity: true)
        image.pixels.withUnsafeBufferPointer { pixels in
            for (anchor, delta) in zip(cascade.anchors, cascade.deltas) {
                var x = m00 * delta.x
                x += m01 * delta.y
                var y = m10 * delta.x
                y += m11 * delta.y
                x += shape[2 * anchor]
                y += shape[2 * anchor + 1]
                let pixel = frame.pixel(SIMD2(x, y))
                let column = Int(pixel.x), row = Int(pixel.y)
                if column >= 0, row >= 0, column < image.width, row < image.height {
                    let offset = (row * image.width + column) * 3
                    let sum = UInt32(pixels[offset]) + UInt32(pixels[offset + 1]) + UInt32(pixels[offset + 2])
                    features.append(Float(sum / 3))
                } else {
                    features.append(0)
                }
            }
        }
    }

    private static func points(of shape: [Float]) -> [SIMD2<Double>] {
        stride(from: 0, to: shape.count, by: 2).map { SIMD2(Double(shape[$0]), Double(shape[$0 + 1])) }
    }
}

/// dlib's `unnormalizing_tform`: the unit square onto the rectangle's top-left and bottom-right
/// corners, in double, rounded to the nearest pixel the way dlib turns a vector into a point
/// (`floor(v + 0.5)`).
struct UnitFrame {
    let left: Double, top: Double, width: Double, height: Double

    init(_ rectangle: DlibRectangle) {
        left = Double(rectangle.left)
        top = Double(rectangle.top)
        width = Double(rectangle.right - rectangle.left)
        height = Double(rectangle.bottom - rectangle.top)
    }

    func pixel(_ unit: SIMD2<Float>) -> ImagePoint {
        let x = width * Double(unit.x) + left
        let y = height * Double(unit.y) + top
        return ImagePoint(x: (x + 0.5).rounded(.down), y: (y + 0.5).rounded(.down))
    }
}
