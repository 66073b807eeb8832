import Imaging

/// An axis-aligned face box in pixels of the analysed image: top-left corner and size.
///
/// Boxes may reach outside the image when a face is cut by the frame, as OpenCV reports them.
public struct FaceBox: Sendable, Hashable, Codable {
    /// Left edge.
    public var x: Double
    /// Top edge.
    public var y: Double
    /// Width.
    public var width: Double
    /// Height.
    public var height: Double

    /// A box from its top-left corner and size.
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// Width times height.
    public var area: Double { max(width, 0) * max(height, 0) }

    /// Intersection over union with `other`: 0 when apart, 1 when identical.
    public func intersectionOverUnion(with other: FaceBox) -> Double {
        let overlapWidth = min(x + width, other.x + other.width) - max(x, other.x)
        let overlapHeight = min(y + height, other.y + other.height) - max(y, other.y)
        guard overlapWidth > 0, overlapHeight > 0 else { return 0 }
        let intersection = overlapWidth * overlapHeight
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }
}

/// The five landmarks YuNet finds. "Right" and "left" are the subject's: the right eye is the
/// one on the image's left in a frontal photo (OpenCV's order and naming).
public struct FaceLandmarks: Sendable, Hashable, Codable {
    /// Centre of the subject's right eye.
    public var rightEye: ImagePoint
    /// Centre of the subject's left eye.
    public var leftEye: ImagePoint
    /// Tip of the nose.
    public var noseTip: ImagePoint
    /// The subject's right mouth corner.
    public var rightMouthCorner: ImagePoint
    /// The subject's left mouth corner.
    public var leftMouthCorner: ImagePoint

    /// Landmarks from the five points.
    public init(
        rightEye: ImagePoint, leftEye: ImagePoint, noseTip: ImagePoint,
        rightMouthCorner: ImagePoint, leftMouthCorner: ImagePoint
    ) {
        self.rightEye = rightEye
        self.leftEye = leftEye
        self.noseTip = noseTip
        self.rightMouthCorner = rightMouthCorner
        self.leftMouthCorner = leftMouthCorner
    }

    /// Landmarks from exactly five points in OpenCV's order (right eye, left eye, nose tip,
    /// right mouth corner, left mouth corner).
    public init(points: [ImagePoint]) {
        precondition(points.count == 5, "YuNet gives exactly five landmarks")
        self.init(
            rightEye: points[0], leftEye: points[1], noseTip: points[2],
            rightMouthCorner: points[3], leftMouthCorner: points[4])
    }

    /// The five points in OpenCV's order.
    public var points: [ImagePoint] { [rightEye, leftEye, noseTip, rightMouthCorner, leftMouthCorner] }
}

/// One face the detector found, in pixels of the image it was given.
public struct DetectedFace: Sendable, Hashable, Codable {
    /// The face box.
    public var box: FaceBox
    /// The five landmarks.
    public var landmarks: FaceLandmarks
    /// Detector confidence in [0, 1]: `sqrt(classification * objectness)`.
    public var score: Float

    /// A detection from its parts.
    public init(box: FaceBox, landmarks: FaceLandmarks, score: Float) {
        self.box = box
        self.landmarks = landmarks
        self.score = score
    }
}
