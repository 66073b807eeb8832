import Foundation
import Imaging

/// Measurements of one face that predict whether its template is worth enrolling or searching.
public struct FaceQuality: Sendable, Hashable, Codable {
    /// Detector confidence in [0, 1].
    public var detectionScore: Float
    /// Distance between the eye centres, in pixels of the original image.
    public var interOcularDistance: Double
    /// Head turn left/right in degrees, estimated from the landmarks: 0 frontal, positive when
    /// the nose tip lies to the image right of the face's midline. See ``FaceQuality/estimateYaw(_:)``.
    public var yawDegrees: Double
    /// Head tilt in the image plane in degrees: the angle of the line from the right eye to the
    /// left eye, positive clockwise on screen (y grows downward).
    public var rollDegrees: Double
    /// Variance of the 4-neighbour Laplacian of the grey aligned crop (interior pixels): low
    /// for blurred or upscaled faces.
    public var sharpness: Double
    /// Mean grey level (0-255) of the aligned crop.
    public var brightness: Double
    /// Standard deviation of the grey levels of the aligned crop.
    public var contrast: Double

    /// Measurements from their values.
    public init(
        detectionScore: Float, interOcularDistance: Double, yawDegrees: Double, rollDegrees: Double,
        sharpness: Double, brightness: Double, contrast: Double
    ) {
        self.detectionScore = detectionScore
        self.interOcularDistance = interOcularDistance
        self.yawDegrees = yawDegrees
        self.rollDegrees = rollDegrees
        self.sharpness = sharpness
        self.brightness = brightness
        self.contrast = contrast
    }

    /// Measures a detected face and its 112x112 aligned crop.
    public init(face: DetectedFace, alignedCrop: RGBImage) {
        let landmarks = face.landmarks
        let grey = GreyStatistics(alignedCrop)
        self.init(
            detectionScore: face.score,
            interOcularDistance: Self.distance(landmarks.rightEye, landmarks.leftEye),
            yawDegrees: Self.estimateYaw(landmarks),
            rollDegrees: Self.estimateRoll(landmarks),
            sharpness: grey.laplacianVariance, brightness: grey.mean, contrast: grey.standardDeviation)
    }

    /// Roll: `atan2(leftEye.y - rightEye.y, leftEye.x - rightEye.x)` in degrees.
    public static func estimateRoll(_ landmarks: FaceLandmarks) -> Double {
        let dx = landmarks.leftEye.x - landmarks.rightEye.x
        let dy = landmarks.leftEye.y - landmarks.rightEye.y
        return atan2(dy, dx) * 180 / .pi
    }

    /// Yaw from how far the nose tip sits off the face's midline.
    ///
    /// The midline runs from the midpoint of the eyes to the midpoint of the mouth corners. With
    /// `d` the signed distance of the nose tip from that line (positive to the image right when
    /// the face is upright) and `h` half the inter-ocular distance, yaw = `asin(clamp(d / h, -1, 1))`.
    /// A cylinder model of the head (nose tip about 0.7 `h` in front of the eyes) puts a real
    /// 30 degree turn at about 24 degrees and 45 at about 44, so the estimate is conservative
    /// for small turns and saturates at 90 for profiles. Roll does not affect it.
    public static func estimateYaw(_ landmarks: FaceLandmarks) -> Double {
        let eyes = midpoint(landmarks.rightEye, landmarks.leftEye)
        let mouth = midpoint(landmarks.rightMouthCorner, landmarks.leftMouthCorner)
        let halfInterOcular = distance(landmarks.rightEye, landmarks.leftEye) / 2
        let axisX = mouth.x - eyes.x
        let axisY = mouth.y - eyes.y
        let axisLength = (axisX * axisX + axisY * axisY).squareRoot()
        guard halfInterOcular > 0, axisLength > 0 else { return 90 }
        // Cross product of the downward midline with eyes->nose: positive when the nose is to
        // the right of the line as seen in the image (y down).
        let noseX = landmarks.noseTip.x - eyes.x
        let noseY = landmarks.noseTip.y - eyes.y
        let offset = (axisY * noseX - axisX * noseY) / axisLength
        return asin(min(max(offset / halfInterOcular, -1), 1)) * 180 / .pi
    }

    /// The reasons these measurements fail `thresholds`, none when the face is acceptable.
    public func verdict(under thresholds: QualityThresholds) -> QualityVerdict {
        var failures: [QualityFailure] = []
        if detectionScore < thresholds.minimumDetectionScore {
            failures.append(.lowDetectionScore(score: detectionScore, minimum: thresholds.minimumDetectionScore))
        }
        if interOcularDistance < thresholds.minimumInterOcularDistance {
            failures.append(.eyesTooClose(
                pixels: interOcularDistance, minimum: thresholds.minimumInterOcularDistance))
        }
        if abs(yawDegrees) > thresholds.maximumYawDegrees {
            failures.append(.turnedAway(yawDegrees: yawDegrees, limit: thresholds.maximumYawDegrees))
        }
        if abs(rollDegrees) > thresholds.maximumRollDegrees {
            failures.append(.tilted(rollDegrees: rollDegrees, limit: thresholds.maximumRollDegrees))
        }
        if sharpness < thresholds.minimumSharpness {
            failures.append(.blurred(sharpness: sharpness, minimum: thresholds.minimumSharpness))
        }
        if brightness < thresholds.brightnessRange.lowerBound {
            failures.append(.tooDark(brightness: brightness, minimum: thresholds.brightnessRange.lowerBound))
        }
        if brightness > thresholds.brightnessRange.upperBound {
            failures.append(.tooBright(brightness: brightness, maximum: thresholds.brightnessRange.upperBound))
        }
        if contrast < thresholds.minimumContrast {
            failures.append(.lowContrast(contrast: contrast, minimum: thresholds.minimumContrast))
        }
        return QualityVerdict(failures: failures)
    }

    private static func distance(_ first: ImagePoint, _ second: ImagePoint) -> Double {
        let dx = first.x - second.x
        let dy = first.y - second.y
        return (dx * dx + dy * dy).squareRoot()
    }

    private static func midpoint(_ first: ImagePoint, _ second: ImagePoint) -> ImagePoint {
        ImagePoint(x: (first.x + second.x) / 2, y: (first.y + second.y) / 2)
    }
}

/// Limits a face must meet to be enrolled; every limit is inclusive.
public struct QualityThresholds: Sendable, Hashable, Codable {
    /// Lowest detector score.
    public var minimumDetectionScore: Float
    /// Fewest pixels between the eye centres in the original image. SFace's crop puts the eyes
    /// 35 px apart, so below about that the template is computed from upscaled pixels.
    public var minimumInterOcularDistance: Double
    /// Largest estimated yaw, in degrees either way.
    public var maximumYawDegrees: Double
    /// Largest roll, in degrees either way (alignment removes roll; extreme roll hints at a
    /// wrong detection).
    public var maximumRollDegrees: Double
    /// Lowest Laplacian variance of the grey aligned crop. Measured here: 650-2000 on the test
    /// photos, 100-1200 on the ORL faces, 25-42 on those photos' crops shrunk to 28x28 and
    /// enlarged back.
    public var minimumSharpness: Double
    /// Acceptable mean grey level of the aligned crop.
    public var brightnessRange: ClosedRange<Double>
    /// Lowest standard deviation of grey levels of the aligned crop.
    public var minimumContrast: Double

    /// Limits from their values; the defaults are ``QualityThresholds/standard``'s.
    public init(
        minimumDetectionScore: Float = 0.7,
        minimumInterOcularDistance: Double = 24,
        maximumYawDegrees: Double = 40,
        maximumRollDegrees: Double = 30,
        minimumSharpness: Double = 60,
        brightnessRange: ClosedRange<Double> = 40...215,
        minimumContrast: Double = 20
    ) {
        self.minimumDetectionScore = minimumDetectionScore
        self.minimumInterOcularDistance = minimumInterOcularDistance
        self.maximumYawDegrees = maximumYawDegrees
        self.maximumRollDegrees = maximumRollDegrees
        self.minimumSharpness = minimumSharpness
        self.brightnessRange = brightnessRange
        self.minimumContrast = minimumContrast
    }

    /// The defaults: every test photo (partial faces included) and all 400 ORL faces pass them
    /// (ORL: score >= 0.875, eyes >= 27 px apart, |yaw| <= 28, |roll| <= 5.5, sharpness >= 101,
    /// brightness 61-142, contrast >= 35).
    public static let standard = QualityThresholds()
}

/// One reason a face fails ``QualityThresholds``.
public enum QualityFailure: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The detector is not confident enough that this is a face.
    case lowDetectionScore(score: Float, minimum: Float)
    /// The face is too small: too few pixels between the eyes.
    case eyesTooClose(pixels: Double, minimum: Double)
    /// The head is turned too far left or right.
    case turnedAway(yawDegrees: Double, limit: Double)
    /// The head is tilted too far in the image plane.
    case tilted(rollDegrees: Double, limit: Double)
    /// The face is out of focus, moving, or upscaled.
    case blurred(sharpness: Double, minimum: Double)
    /// The face is underexposed.
    case tooDark(brightness: Double, minimum: Double)
    /// The face is overexposed.
    case tooBright(brightness: Double, maximum: Double)
    /// The face is flat: fog, glare or heavy compression.
    case lowContrast(contrast: Double, minimum: Double)

    /// One sentence for operators.
    public var description: String {
        switch self {
        case let .lowDetectionScore(score, minimum):
            "detector score \(Self.format(Double(score), 3)) is below \(Self.format(Double(minimum), 3))"
        case let .eyesTooClose(pixels, minimum):
            "eyes are \(Self.format(pixels, 1)) px apart, fewer than \(Self.format(minimum, 1))"
        case let .turnedAway(yaw, limit):
            "head is turned \(Self.format(yaw, 1)) degrees, beyond \(Self.format(limit, 1))"
        case let .tilted(roll, limit):
            "head is tilted \(Self.format(roll, 1)) degrees, beyond \(Self.format(limit, 1))"
        case let .blurred(sharpness, minimum):
            "face is blurred (sharpness \(Self.format(sharpness, 1)), below \(Self.format(minimum, 1)))"
        case let .tooDark(brightness, minimum):
            "face is too dark (mean grey \(Self.format(brightness, 1)), below \(Self.format(minimum, 1)))"
        case let .tooBright(brightness, maximum):
            "face is too bright (mean grey \(Self.format(brightness, 1)), above \(Self.format(maximum, 1)))"
        case let .lowContrast(contrast, minimum):
            "face lacks contrast (grey deviation \(Self.format(contrast, 1)), below \(Self.format(minimum, 1)))"
        }
    }

    private static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

/// Whether a face meets the quality thresholds, and if not, why.
public struct QualityVerdict: Sendable, Hashable, Codable {
    /// Every threshold the face fails, in a fixed order; empty when it passes.
    public var failures: [QualityFailure]

    /// A verdict listing `failures`.
    public init(failures: [QualityFailure]) {
        self.failures = failures
    }

    /// True when no threshold fails.
    public var isAcceptable: Bool { failures.isEmpty }
}

/// Grey-level statistics of an image, computed in one pass over its luma.
struct GreyStatistics {
    var mean: Double
    var standardDeviation: Double
    var laplacianVariance: Double

    init(_ image: RGBImage) {
        let grey = image.greyscale()
        let width = image.width
        let height = image.height
        var sum = 0.0
        var squares = 0.0
        var laplacianSum = 0.0
        var laplacianSquares = 0.0
        grey.withUnsafeBufferPointer { grey in
            for value in grey {
                let level = Double(value)
                sum += level
                squares += level * level
            }
            if width >= 3 && height >= 3 {
                for y in 1..<(height - 1) {
                    let row = y * width
                    for x in 1..<(width - 1) {
                        let centre = row + x
                        let response = Int(grey[centre - 1]) + Int(grey[centre + 1]) + Int(grey[centre - width])
                            + Int(grey[centre + width]) - 4 * Int(grey[centre])
                        laplacianSum += Double(response)
                        laplacianSquares += Double(response * response)
                    }
                }
            }
        }
        let count = Double(max(grey.count, 1))
        mean = sum / count
        standardDeviation = max(squares / count - mean * mean, 0).squareRoot()
        let interior = Double(max((width - 2) * (height - 2), 1))
        let laplacianMean = laplacianSum / interior
        laplacianVariance = max(laplacianSquares / interior - laplacianMean * laplacianMean, 0)
    }
}
