import Foundation
import Imaging

/// dlib's `chip_details`: the rectangle of the image a chip covers (before rotation), the
/// rotation about its centre, and the chip's size in pixels.
public struct DlibChipDetails: Sendable, Hashable, Codable {
    /// The chip's rectangle in image pixels, dlib's `drectangle` (right and bottom inclusive).
    public var left: Double
    /// Top edge.
    public var top: Double
    /// Right edge (inclusive).
    public var right: Double
    /// Bottom edge (inclusive).
    public var bottom: Double
    /// Rotation of the chip about the rectangle's centre, radians.
    public var angle: Double
    /// Chip rows.
    public var rows: Int
    /// Chip columns.
    public var columns: Int

    /// Details from their parts.
    public init(left: Double, top: Double, right: Double, bottom: Double, angle: Double, rows: Int, columns: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
        self.angle = angle
        self.rows = rows
        self.columns = columns
    }

    /// dlib's `get_face_chip_details(det, size, padding)` for a 5-point detection: the
    /// least-squares similarity from the padded 5-point template (in chip pixels) onto the
    /// landmarks, expressed as a rectangle, an angle and a size.
    public init(faceLandmarks landmarks: DlibFaceLandmarks, size: Int = DlibFaceChip.size, padding: Double = DlibFaceChip.padding) {
        precondition(size > 0 && padding >= 0, "a face chip needs a positive size and a non-negative padding")
        let chipPoints = DlibFaceChip.templatePoints(size: size, padding: padding)
        let imagePoints = landmarks.points.map { SIMD2($0.x, $0.y) }
        let tform = SimilarityTransform.leastSquares(from: chipPoints, to: imagePoints)
        // The first column of the linear part is the scale times the rotation's (cos, sin).
        angle = atan2(tform.d, tform.a)
        let scale = (tform.a * tform.a + tform.d * tform.d).squareRoot()
        let centre = tform.apply(ImagePoint(x: Double(size) / 2, y: Double(size) / 2))
        // dlib's centered_drect: a width w spans w - 1 between its inclusive edges.
        let halfWidth = (Double(size) * scale - 1) / 2
        let halfHeight = (Double(size) * scale - 1) / 2
        left = centre.x - halfWidth
        top = centre.y - halfHeight
        right = centre.x + halfWidth
        bottom = centre.y + halfHeight
        rows = size
        columns = size
    }

    var rectangle: DoubleRectangle { DoubleRectangle(left: left, top: top, right: right, bottom: bottom) }
}

/// dlib's `drectangle`: edges in double, right and bottom inclusive, empty when inverted.
struct DoubleRectangle: Equatable {
    var left: Double, top: Double, right: Double, bottom: Double

    static let empty = DoubleRectangle(left: 0, top: 0, right: -1, bottom: -1)

    var isEmpty: Bool { top > bottom || left > right }
    var width: Double { isEmpty ? 0 : right - left + 1 }
    var height: Double { isEmpty ? 0 : bottom - top + 1 }
    var area: Double { width * height }
    var centre: SIMD2<Double> { SIMD2((left + right) / 2, (top + bottom) / 2) }
    var topLeft: SIMD2<Double> { SIMD2(left, top) }
    var topRight: SIMD2<Double> { SIMD2(right, top) }
    var bottomLeft: SIMD2<Double> { SIMD2(left, bottom) }
    var bottomRight: SIMD2<Double> { SIMD2(right, bottom) }

    /// The smallest rectangle holding this one and `point`.
    func including(_ point: SIMD2<Double>) -> DoubleRectangle {
        if isEmpty { return DoubleRectangle(left: point.x, top: point.y, right: point.x, bottom: point.y) }
        return DoubleRectangle(left: min(left, point.x), top: min(top, point.y), right: max(right, point.x), bottom: max(bottom, point.y))
    }

    func grown(by amount: Double) -> DoubleRectangle {
        DoubleRectangle(left: left - amount, top: top - amount, right: right + amount, bottom: bottom + amount)
    }

    func intersection(_ other: DoubleRectangle) -> DoubleRectangle {
        DoubleRectangle(left: max(left, other.left), top: max(top, other.top),
                        right: min(right, other.right), bottom: min(bottom, other.bottom))
    }

    func translated(by offset: SIMD2<Double>) -> DoubleRectangle {
        DoubleRectangle(left: left + offset.x, top: top + offset.y, right: right + offset.x, bottom: bottom + offset.y)
    }

    /// `pyramid_down<2>::rect_down`: both corners mapped by `p / 2 - (1.25, 0.75)`.
    var halved: DoubleRectangle {
        DoubleRectangle(left: left / 2 - 1.25, top: top / 2 - 0.75, right: right / 2 - 1.25, bottom: bottom / 2 - 0.75)
    }

    /// dlib's conversion to an integer `rectangle`: every edge through `lround`.
    var rounded: (left: Int, top: Int, right: Int, bottom: Int) {
        (Int(left.rounded()), Int(top.rounded()), Int(right.rounded()), Int(bottom.rounded()))
    }
}

/// `rotate_point(centre, point, angle)` as dlib computes it.
func rotate(_ point: SIMD2<Double>, about centre: SIMD2<Double>, angle: Double) -> SIMD2<Double> {
    let sine = sin(angle), cosine = cos(angle)
    let p = point - centre
    return SIMD2(cosine * p.x - sine * p.y, sine * p.x + cosine * p.y) + centre
}
