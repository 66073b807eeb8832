import Foundation

/// A position in an image, in pixels: x to the right, y down, origin at the top-left corner
/// of the top-left pixel's centre (OpenCV's convention: pixel `(i, j)` is centred on `(i, j)`).
public struct ImagePoint: Sendable, Hashable, Codable {
    /// Horizontal position in pixels.
    public var x: Double
    /// Vertical position in pixels.
    public var y: Double

    /// A point at `(x, y)`.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A 2x3 affine map `x' = a x + b y + c`, `y' = d x + e y + f`, stored as OpenCV's row-major
/// 2x3 matrix `[a b c; d e f]`.
public struct AffineTransform: Sendable, Hashable, Codable {
    /// Row 0, column 0.
    public var a: Double
    /// Row 0, column 1.
    public var b: Double
    /// Row 0, column 2 (horizontal translation).
    public var c: Double
    /// Row 1, column 0.
    public var d: Double
    /// Row 1, column 1.
    public var e: Double
    /// Row 1, column 2 (vertical translation).
    public var f: Double

    /// A map from its six coefficients, row by row.
    public init(a: Double, b: Double, c: Double, d: Double, e: Double, f: Double) {
        self.a = a
        self.b = b
        self.c = c
        self.d = d
        self.e = e
        self.f = f
    }

    /// The map that leaves every point where it is.
    public static let identity = AffineTransform(a: 1, b: 0, c: 0, d: 0, e: 1, f: 0)

    /// A similarity: rotate by `angle` radians (counter-clockwise in a y-up frame, which is
    /// clockwise on screen), scale by `scale`, then translate.
    public static func similarity(scale: Double, angle: Double, translationX: Double, translationY: Double)
        -> AffineTransform {
        let cosine = scale * cos(angle)
        let sine = scale * sin(angle)
        return AffineTransform(a: cosine, b: -sine, c: translationX, d: sine, e: cosine, f: translationY)
    }

    /// Where the map sends `point`.
    public func apply(_ point: ImagePoint) -> ImagePoint {
        ImagePoint(x: a * point.x + b * point.y + c, y: d * point.x + e * point.y + f)
    }

    /// The determinant of the linear part; zero when the map collapses the plane.
    public var determinant: Double { a * e - b * d }

    /// The inverse map, or `nil` when the map is singular.
    public var inverse: AffineTransform? {
        let det = determinant
        guard det != 0, det.isFinite else { return nil }
        let inverseDeterminant = 1 / det
        let ia = e * inverseDeterminant
        let ib = -b * inverseDeterminant
        let id = -d * inverseDeterminant
        let ie = a * inverseDeterminant
        return AffineTransform(a: ia, b: ib, c: -ia * c - ib * f, d: id, e: ie, f: -id * c - ie * f)
    }
}
