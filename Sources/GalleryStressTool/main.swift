// Bulk-enrols subjects into a SQLite gallery store and acknowledges each one on standard
// output ("ack <reference>") only after its enrolment has returned, i.e. committed. The
// durability test kills this process with SIGKILL mid-run and checks that every acknowledged
// subject survived whole and that no partial subject exists.
//
// Usage: GalleryStressTool <database-path> <run-label> <subject-count> <templates-per-subject>
import Foundation
import Gallery

/// Why the tool stopped early.
enum StressToolError: Error, CustomStringConvertible {
    case usage

    var description: String {
        "usage: GalleryStressTool <database-path> <run-label> <subject-count> <templates-per-subject>"
    }
}

/// A tiny deterministic generator (SplitMix64), so runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

func template(_ generator: inout SplitMix64) -> NewTemplate {
    let raw = (0..<TemplateFormat.dimension).map { _ in Float.random(in: -1...1, using: &generator) }
    let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let digest = (0..<4).map { _ in
        let hex = String(generator.next(), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined()
    return NewTemplate(
        modelIdentifier: "sface-2021dec", vector: raw.map { $0 / norm },
        quality: TemplateQuality(detectionScore: 0.9), sourceImageSHA256: digest, capturedAt: Date())
}

/// Writes straight to the file descriptor: nothing waits in a buffer when the process dies.
func acknowledge(_ reference: String) {
    FileHandle.standardOutput.write(Data("ack \(reference)\n".utf8))
}

func run() async throws {
    let arguments = CommandLine.arguments
    guard arguments.count == 5, let count = Int(arguments[3]), let templatesPerSubject = Int(arguments[4]) else {
        throw StressToolError.usage
    }
    let store = try SQLiteGalleryStore(location: URL(filePath: arguments[1]))
    let galleryName = "stress"
    let existing = try await store.galleries().first { $0.name == galleryName }
    let gallery: GalleryRecord
    if let existing {
        gallery = existing
    } else {
        gallery = try await store.createGallery(
            NewGallery(name: galleryName, purpose: .other, modelIdentifier: "sface-2021dec"))
    }
    // Seeded from the run label's bytes (String.hashValue changes from process to process).
    var generator = SplitMix64(state: arguments[2].utf8.reduce(0) { $0 &* 31 &+ UInt64($1) })
    for index in 0..<count {
        let reference = "\(arguments[2])-\(index)"
        let templates = (0..<templatesPerSubject).map { _ in template(&generator) }
        _ = try await store.enrol(NewSubject(externalReference: reference, templates: templates), in: gallery.id)
        acknowledge(reference)
    }
}

do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("GalleryStressTool: \(error)\n".utf8))
    exit(1)
}
