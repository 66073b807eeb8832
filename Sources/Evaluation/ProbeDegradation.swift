import FaceEngine
import Foundation
import Imaging

/// The harder protocol: probes degraded in controlled, seeded ways that stand for the photos a
/// matcher meets in casework (a face far from a low-resolution camera, motion or focus blur, a
/// heavily compressed upload, a covered part of the face, bad exposure). No labelled set harder
/// than ORL can be installed offline, so this protocol is built from ORL itself.
///
/// Every degradation's strength is drawn from a fixed range by a generator seeded with the
/// protocol's seed and the probe's person, image and kind, so a run is reproducible bit for bit
/// and two kinds of one probe are independent.
public enum ProbeDegradation: String, Sendable, Hashable, Codable, CaseIterable {
    /// Down-scaled until the eyes are 10-14 px apart (measured on the clean image's landmarks),
    /// then enlarged back to the original size (bilinear both ways).
    case lowResolution = "low-resolution"
    /// Gaussian blur, sigma 1.5-3.0 px.
    case blur
    /// Re-encoded as JPEG at quality 5-15 (4:2:0).
    case jpeg
    /// A mid-grey band over the eyes or over the mouth, a quarter to a third of the face's height.
    case occlusion
    /// Gamma 0.35-0.5 (over-exposed) or 2.0-2.8 (under-exposed), half of the probes each.
    case gamma

    /// One line on the protocol, for reports.
    public var protocolDescription: String {
        switch self {
        case .lowResolution: "down-scaled to an inter-ocular distance of 10-14 px, then enlarged back (bilinear)"
        case .blur: "Gaussian blur, sigma 1.5-3.0 px"
        case .jpeg: "JPEG re-encoding at quality 5-15, 4:2:0"
        case .occlusion: "mid-grey band over the eyes or the mouth, 25-33 % of the face height"
        case .gamma: "gamma 0.35-0.5 or 2.0-2.8"
        }
    }

    /// The degraded copy of `image`, whose clean detection is `face`, with the strength drawn
    /// from `seed`.
    public func apply(to image: RGBImage, face: DetectedFace, seed: UInt64) -> RGBImage {
        var random = SplitMix64(seed: seed)
        switch self {
        case .lowResolution:
            let eyes = face.landmarks.rightEye.distance(to: face.landmarks.leftEye)
            let target = random.uniform(10, 14)
            let factor = min(1, target / max(eyes, 1))
            let width = max(1, Int((Double(image.width) * factor).rounded()))
            let height = max(1, Int((Double(image.height) * factor).rounded()))
            return image.resizedBilinear(width: width, height: height).resizedBilinear(width: image.width, height: image.height)
        case .blur:
            return image.gaussianBlurred(sigma: random.uniform(1.5, 3.0))
        case .jpeg:
            let quality = Int(random.uniform(5, 15.999))
            guard let bytes = try? image.jpegData(quality: quality),
                  let decoded = try? ImageDecoder().decode(bytes) else { return image }
            return decoded
        case .occlusion:
            let overEyes = random.next() & 1 == 0
            let bandHeight = face.box.height * random.uniform(0.25, 0.33)
            let centre = overEyes
                ? (face.landmarks.rightEye.y + face.landmarks.leftEye.y) / 2
                : (face.landmarks.rightMouthCorner.y + face.landmarks.leftMouthCorner.y) / 2
            return image.filled(
                x: face.box.x, y: centre - bandHeight / 2, width: face.box.width, height: bandHeight, grey: 128)
        case .gamma:
            let gamma = random.next() & 1 == 0 ? random.uniform(0.35, 0.5) : random.uniform(2.0, 2.8)
            return image.gammaCorrected(gamma)
        }
    }

    /// The seed of one probe's degradation: the protocol seed mixed with the probe's position
    /// and the kind, so every probe and kind draws independently.
    public func seed(protocolSeed: UInt64, person: Int, image: Int) -> UInt64 {
        let kind = UInt64(Self.allCases.firstIndex(of: self)!)
        var mixer = SplitMix64(seed: protocolSeed ^ (UInt64(person) << 32) ^ (UInt64(image) << 8) ^ kind)
        return mixer.next()
    }
}

/// A small, fast, seedable generator (Vigna's SplitMix64): enough for drawing strengths.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `low..<high`.
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }
}

extension ImagePoint {
    func distance(to other: ImagePoint) -> Double {
        ((x - other.x) * (x - other.x) + (y - other.y) * (y - other.y)).squareRoot()
    }
}

extension RGBImage {
    /// The image blurred by a separable Gaussian of `sigma` pixels, edges clamped.
    func gaussianBlurred(sigma: Double) -> RGBImage {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { offset in exp(-Double(offset * offset) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func pass(_ source: [Float], horizontal: Bool) -> [Float] {
            var output = [Float](repeating: 0, count: source.count)
            for y in 0..<height {
                for x in 0..<width {
                    var sums = SIMD3<Float>()
                    for (index, weight) in kernel.enumerated() {
                        let offset = index - radius
                        let sx = horizontal ? min(max(x + offset, 0), width - 1) : x
                        let sy = horizontal ? y : min(max(y + offset, 0), height - 1)
                        let base = (sy * width + sx) * 3
                        sums += SIMD3(source[base], source[base + 1], source[base + 2]) * Float(weight)
                    }
                    let base = (y * width + x) * 3
                    output[base] = sums.x
                    output[base + 1] = sums.y
                    output[base + 2] = sums.z
                }
            }
            return output
        }
        let blurred = pass(pass(pixels.map(Float.init), horizontal: true), horizontal: false)
        return RGBImage(width: width, height: height, pixels: blurred.map { UInt8(min(max($0.rounded(), 0), 255)) })
    }

    /// The image with a rectangle (clipped to the image) filled with one grey level.
    func filled(x: Double, y: Double, width boxWidth: Double, height boxHeight: Double, grey: UInt8) -> RGBImage {
        var copy = self
        let left = max(0, Int(x.rounded())), right = min(width, Int((x + boxWidth).rounded()))
        let top = max(0, Int(y.rounded())), bottom = min(height, Int((y + boxHeight).rounded()))
        guard left < right, top < bottom else { return copy }
        for row in top..<bottom {
            for column in left..<right {
                let base = (row * width + column) * 3
                copy.pixels[base] = grey
                copy.pixels[base + 1] = grey
                copy.pixels[base + 2] = grey
            }
        }
        return copy
    }

    /// The image with every channel mapped through `255 * (v / 255)^gamma`.
    func gammaCorrected(_ gamma: Double) -> RGBImage {
        let table = (0...255).map { value in UInt8((255 * pow(Double(value) / 255, gamma)).rounded()) }
        return RGBImage(width: width, height: height, pixels: pixels.map { table[Int($0)] })
    }
}
