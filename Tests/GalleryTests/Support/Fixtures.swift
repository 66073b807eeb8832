import Foundation
import Gallery

/// SplitMix64: a small deterministic generator, so every run enrols the same data.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

enum Fixtures {
    static let model = "sface-2021dec"

    /// A random L2-normalised vector of the stored dimension.
    static func unitVector(_ generator: inout SeededGenerator, dimension: Int = TemplateFormat.dimension) -> [Float] {
        let raw = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / norm }
    }

    static func digest(_ generator: inout SeededGenerator) -> String {
        (0..<4).map { _ in String(generator.next(), radix: 16).leftPadded(to: 16) }.joined()
    }

    static func template(_ generator: inout SeededGenerator, model: String = Fixtures.model) -> NewTemplate {
        NewTemplate(
            modelIdentifier: model, vector: unitVector(&generator),
            quality: TemplateQuality(
                detectionScore: Float.random(in: 0.6...1, using: &generator),
                measures: ["interocularPixels": Float.random(in: 20...90, using: &generator), "sharpness": 0.1]),
            sourceImageSHA256: digest(&generator),
            capturedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(generator.next() % 10_000_000) / 7))
    }

    static func subject(
        _ reference: String, templates count: Int, _ generator: inout SeededGenerator,
        attributes: [String: String] = [:], retainUntil: Date? = nil
    ) -> NewSubject {
        NewSubject(
            externalReference: reference, attributes: attributes, retainUntil: retainUntil,
            templates: (0..<count).map { _ in template(&generator) })
    }

    static func gallery(
        _ name: String, purpose: GalleryPurpose = .custody, retention: RetentionPolicy = .indefinite
    ) -> NewGallery {
        NewGallery(
            name: name, description: "test gallery \(name)", purpose: purpose, retention: retention,
            modelIdentifier: model)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
