import FaceEngine
import Foundation
import Imaging
import Testing

@Suite("Quality measures and verdicts on crafted faces")
struct QualityTests {
    /// A face-sized texture: a broad horizontal wave (the contrast) under a fine 2-pixel
    /// checkerboard (the detail a blur removes).
    private func texturedCrop(gain: Double = 1, offset: Double = 0) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: 112 * 112 * 3)
        for y in 0..<112 {
            for x in 0..<112 {
                let broad = 45 * sin(2 * Double.pi * Double(x) / 112)
                let checker = ((x / 2 + y / 2) % 2 == 0) ? 20.0 : -20.0
                let level = (115 + broad + checker) * gain + offset
                let value = UInt8(max(0, min(255, level.rounded())))
                for channel in 0..<3 { pixels[(y * 112 + x) * 3 + channel] = value }
            }
        }
        return RGBImage(width: 112, height: 112, pixels: pixels)
    }

    /// A 5x5 box blur, edges clamped.
    private func blurred(_ image: RGBImage) -> RGBImage {
        var output = image.pixels
        for y in 0..<image.height {
            for x in 0..<image.width {
                for channel in 0..<3 {
                    var sum = 0
                    for dy in -2...2 {
                        for dx in -2...2 {
                            let sx = min(max(x + dx, 0), image.width - 1)
                            let sy = min(max(y + dy, 0), image.height - 1)
                            sum += Int(image.pixels[(sy * image.width + sx) * 3 + channel])
                        }
                    }
                    output[(y * image.width + x) * 3 + channel] = UInt8(sum / 25)
                }
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: output)
    }

    /// A frontal, upright face: the template scaled by 2.
    private func frontalFace(score: Float = 0.9) -> DetectedFace {
        let landmarks = FaceLandmarks(points: FaceAlignment.template.map { ImagePoint(x: $0.x * 2, y: $0.y * 2) })
        return DetectedFace(box: FaceBox(x: 40, y: 40, width: 150, height: 190), landmarks: landmarks, score: score)
    }

    @Test("a sharp, well exposed frontal face passes the standard thresholds")
    func goodFacePasses() {
        let quality = FaceQuality(face: frontalFace(), alignedCrop: texturedCrop())
        #expect(quality.verdict(under: .standard).failures == [])
        #expect(abs(quality.interOcularDistance - 70.47) < 0.01)
    }

    @Test("blurring the crop fails sharpness and only sharpness")
    func blurFailsSharpness() throws {
        let sharp = FaceQuality(face: frontalFace(), alignedCrop: texturedCrop())
        let soft = FaceQuality(face: frontalFace(), alignedCrop: blurred(texturedCrop()))
        #expect(soft.sharpness < sharp.sharpness / 10)
        let failures = soft.verdict(under: .standard).failures
        #expect(failures.count == 1)
        guard case .blurred(let sharpness, let minimum)? = failures.first else {
            Issue.record("expected a blur failure, got \(failures)")
            return
        }
        #expect(sharpness < minimum)
    }

    @Test("darkening the crop fails brightness")
    func darkFailsBrightness() {
        let dark = FaceQuality(face: frontalFace(), alignedCrop: texturedCrop(gain: 0.15))
        let failures = dark.verdict(under: .standard).failures
        #expect(failures.contains { if case .tooDark = $0 { true } else { false } })
        #expect(dark.brightness < 40)
    }

    @Test("an overexposed, washed-out crop fails brightness and contrast")
    func brightFailsBrightnessAndContrast() {
        let washed = FaceQuality(face: frontalFace(), alignedCrop: texturedCrop(gain: 0.2, offset: 210))
        let failures = washed.verdict(under: .standard).failures
        #expect(failures.contains { if case .tooBright = $0 { true } else { false } })
        #expect(failures.contains { if case .lowContrast = $0 { true } else { false } })
    }

    @Test("roll follows the eye line; yaw ignores it")
    func rollFromEyeLine() {
        let face = frontalFace()
        let upright = FaceQuality.estimateRoll(face.landmarks)
        let turn = AffineTransform.similarity(scale: 1, angle: 20 * .pi / 180, translationX: 0, translationY: 0)
        let rotated = FaceLandmarks(points: face.landmarks.points.map(turn.apply))
        #expect(abs(FaceQuality.estimateRoll(rotated) - upright - 20) < 1e-9)
        #expect(abs(FaceQuality.estimateYaw(rotated) - FaceQuality.estimateYaw(face.landmarks)) < 1e-9)
    }

    @Test("yaw is the arcsine of the nose's offset from the midline over half the eye distance")
    func yawFromNoseOffset() {
        let eyes = (ImagePoint(x: 40, y: 50), ImagePoint(x: 80, y: 50))
        func landmarks(noseX: Double) -> FaceLandmarks {
            FaceLandmarks(
                rightEye: eyes.0, leftEye: eyes.1, noseTip: ImagePoint(x: noseX, y: 70),
                rightMouthCorner: ImagePoint(x: 45, y: 90), leftMouthCorner: ImagePoint(x: 75, y: 90))
        }
        #expect(abs(FaceQuality.estimateYaw(landmarks(noseX: 60))) < 1e-9)
        #expect(abs(FaceQuality.estimateYaw(landmarks(noseX: 70)) - 30) < 1e-9)
        #expect(abs(FaceQuality.estimateYaw(landmarks(noseX: 50)) + 30) < 1e-9)
        #expect(FaceQuality.estimateYaw(landmarks(noseX: 95)) == 90)

        let profile = FaceQuality(face: DetectedFace(
            box: FaceBox(x: 0, y: 0, width: 100, height: 100), landmarks: landmarks(noseX: 95), score: 0.9),
            alignedCrop: texturedCrop())
        #expect(profile.verdict(under: .standard).failures == [.turnedAway(yawDegrees: 90, limit: 40)])
    }

    @Test("small faces and weak detections are reported with their values")
    func smallAndWeak() {
        let small = FaceLandmarks(points: FaceAlignment.template.map { ImagePoint(x: $0.x / 4, y: $0.y / 4) })
        let face = DetectedFace(box: FaceBox(x: 0, y: 0, width: 30, height: 30), landmarks: small, score: 0.65)
        let verdict = FaceQuality(face: face, alignedCrop: texturedCrop()).verdict(under: .standard)
        #expect(!verdict.isAcceptable)
        #expect(verdict.failures.count == 2)
        #expect(verdict.failures.first == .lowDetectionScore(score: 0.65, minimum: 0.7))
        if case .eyesTooClose(let pixels, let minimum)? = verdict.failures.last {
            #expect(abs(pixels - 8.81) < 0.01 && minimum == 24)
        } else {
            Issue.record("expected a small-face failure, got \(verdict.failures)")
        }
        #expect(verdict.failures.last?.description.hasPrefix("eyes are 8.8 px apart") == true)
    }

    @Test("looser thresholds accept what the standard ones refuse")
    func configurableThresholds() {
        let dark = FaceQuality(face: frontalFace(), alignedCrop: texturedCrop(gain: 0.15))
        let lenient = QualityThresholds(brightnessRange: 0...255, minimumContrast: 0)
        #expect(dark.verdict(under: lenient).isAcceptable)
    }
}
