import FaceEngine
import Imaging
import Testing

@Suite("Alignment: Umeyama similarity and the 112x112 crop")
struct AlignmentTests {
    /// Five points shaped like a face in a photo.
    private let photoLandmarks = [
        ImagePoint(x: 443.09, y: 208.19), ImagePoint(x: 550.25, y: 210.48), ImagePoint(x: 500.50, y: 271.42),
        ImagePoint(x: 445.06, y: 317.37), ImagePoint(x: 544.45, y: 319.52),
    ]

    private func expectClose(_ actual: AffineTransform, _ expected: AffineTransform, tolerance: Double = 1e-9) {
        let pairs = [
            (actual.a, expected.a), (actual.b, expected.b), (actual.c, expected.c),
            (actual.d, expected.d), (actual.e, expected.e), (actual.f, expected.f),
        ]
        for (value, reference) in pairs {
            #expect(abs(value - reference) <= tolerance, "\(actual) differs from \(expected)")
        }
    }

    @Test("recovers a known similarity transform exactly", arguments: [
        (0.37, 0.3, 12.0, -7.0), (2.5, -2.9, -300.0, 41.0), (1.0, 0.0, 0.0, 0.0), (0.05, 3.1, 5.0, 5.0),
    ])
    func recoversKnownTransform(scale: Double, angle: Double, translationX: Double, translationY: Double) throws {
        let known = AffineTransform.similarity(
            scale: scale, angle: angle, translationX: translationX, translationY: translationY)
        let targets = photoLandmarks.map(known.apply)
        let estimated = try #require(FaceAlignment.similarityTransform(from: photoLandmarks, to: targets))
        expectClose(estimated, known)
    }

    @Test("landmarks placed by the inverse transform land on the ArcFace template (to OpenCV's single precision)")
    func landmarksLandOnTemplate() throws {
        let toPhoto = AffineTransform.similarity(scale: 3.2, angle: -0.2, translationX: 400, translationY: 150)
        let landmarks = FaceLandmarks(points: FaceAlignment.template.map(toPhoto.apply))
        let transform = try #require(FaceAlignment.transform(for: landmarks))
        let exact = try #require(FaceAlignment.similarityTransform(from: landmarks.points, to: FaceAlignment.template))
        for (point, target) in zip(landmarks.points, FaceAlignment.template) {
            let mapped = transform.apply(point)
            #expect(abs(mapped.x - target.x) < 1e-3 && abs(mapped.y - target.y) < 1e-3)
            let mappedExactly = exact.apply(point)
            #expect(abs(mappedExactly.x - target.x) < 1e-9 && abs(mappedExactly.y - target.y) < 1e-9)
        }
    }

    @Test("a mirrored point set still gets a rotation, never a reflection")
    func noReflection() throws {
        let mirrored = photoLandmarks.map { ImagePoint(x: -$0.x, y: $0.y) }
        let transform = try #require(FaceAlignment.similarityTransform(from: mirrored, to: FaceAlignment.template))
        #expect(transform.determinant > 0)
        #expect(transform.a == transform.e && transform.b == -transform.d)
    }

    @Test("the least-squares fit of noisy points beats nearby transforms")
    func leastSquares() throws {
        let noisy = zip(FaceAlignment.template, [(1.5, -0.5), (-1, 2), (0.5, 0.5), (-2, -1), (1, -1.5)]).map {
            ImagePoint(x: $0.x * 2 + $1.0, y: $0.y * 2 + $1.1)
        }
        let fit = try #require(FaceAlignment.similarityTransform(from: noisy, to: FaceAlignment.template))
        func error(_ transform: AffineTransform) -> Double {
            zip(noisy, FaceAlignment.template).reduce(0) { sum, pair in
                let mapped = transform.apply(pair.0)
                return sum + (mapped.x - pair.1.x) * (mapped.x - pair.1.x) + (mapped.y - pair.1.y) * (mapped.y - pair.1.y)
            }
        }
        let best = error(fit)
        for nudge in [1e-3, -1e-3] {
            var scaled = fit
            scaled.a += nudge
            scaled.e += nudge
            var rotated = fit
            rotated.b += nudge
            rotated.d -= nudge
            var moved = fit
            moved.c += nudge * 100
            #expect(error(scaled) > best && error(rotated) > best && error(moved) > best)
        }
    }

    @Test("coincident landmarks give no transform and a black crop")
    func degenerateLandmarks() {
        let point = ImagePoint(x: 10, y: 10)
        let landmarks = FaceLandmarks(points: Array(repeating: point, count: 5))
        #expect(FaceAlignment.transform(for: landmarks) == nil)
        let image = RGBImage(width: 20, height: 20, pixels: [UInt8](repeating: 200, count: 20 * 20 * 3))
        #expect(FaceAlignment.alignedCrop(of: image, landmarks: landmarks) == RGBImage(width: 112, height: 112))
    }

    @Test("aligning a rotated, enlarged copy of a pattern gives the pattern back")
    func alignedCropUndoesPlacement() throws {
        // A smooth 112x112 pattern, placed into a larger image by a known similarity.
        var pattern = [UInt8](repeating: 0, count: 112 * 112 * 3)
        for y in 0..<112 {
            for x in 0..<112 {
                let index = (y * 112 + x) * 3
                pattern[index] = UInt8(x * 2)
                pattern[index + 1] = UInt8(y * 2)
                pattern[index + 2] = UInt8((x + y))
            }
        }
        let original = RGBImage(width: 112, height: 112, pixels: pattern)
        let placement = AffineTransform.similarity(scale: 2.5, angle: 0.4, translationX: 150, translationY: 20)
        let photo = original.warpedAffine(placement, width: 460, height: 450)
        let landmarks = FaceLandmarks(points: FaceAlignment.template.map(placement.apply))
        let crop = FaceAlignment.alignedCrop(of: photo, landmarks: landmarks)
        #expect(crop.width == 112 && crop.height == 112)
        var largest = 0
        for y in 2..<110 {
            for x in 2..<110 {
                for channel in 0..<3 {
                    let index = (y * 112 + x) * 3 + channel
                    largest = max(largest, abs(Int(crop.pixels[index]) - Int(pattern[index])))
                }
            }
        }
        #expect(largest <= 2)
    }
}
