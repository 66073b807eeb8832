import Benchmark
import FaceEngine
import Foundation
import Imaging
import Installation

/// The test photos setup downloads (BIOMATCH_HOME; `make benchmarks` points it at the repository's).
private let installation = Installation.fromEnvironment()
private let photoNames = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "32bit.png"]
private let photos: [(name: String, bytes: [UInt8])] = photoNames.map { name in
    let url = installation.testPhotosDirectory.appending(path: name)
    guard let data = FileManager.default.contents(atPath: url.path) else {
        fatalError("missing \(url.path): run scripts/setup first")
    }
    return (name, [UInt8](data))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 1_000)

    let decoder = ImageDecoder()
    for photo in photos {
        Benchmark("decode \(photo.name)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try decoder.decode(photo.bytes)) }
        }
    }

    // The whole per-image pipeline on one task: decode, detect, align, quality, template.
    let engine: FaceEngine
    do {
        engine = try FaceEngine(installation: installation)
    } catch {
        fatalError("cannot load the face engine (run `biomatch models prepare`): \(error)")
    }
    for photo in photos.prefix(4) {
        Benchmark("analyze \(photo.name)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try await engine.analyze(imageBytes: photo.bytes)) }
        }
    }
}
