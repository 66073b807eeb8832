import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Identification
import Installation
import Synchronization

/// `biomatch bench enrol`: bulk enrolment from photos into a fresh SQLite gallery through
/// `GallerySearchService`, against the engine's own images per second on the same images with the
/// same concurrency, in one run.
struct EnrolBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrol",
        abstract: "Images per second of bulk enrolment, with the ratio to the face engine alone.",
        discussion: """
            The test photos and the ORL faces, repeated to --images, each enrolled as a subject of \
            its own (distinct references) into a new SQLite gallery file: --workers tasks examine \
            images (FaceEngine.analyze plus the enrolment checks) and hand accepted samples to one \
            storing task, which commits each subject (WAL, synchronous=FULL) and adds it to the \
            in-memory index. The anchor is FaceEngine.analyze alone on the same images with the \
            same number of workers. The two alternate --repeats times and the best of each is kept \
            (the machine is noisy). ratio = enrolment images/s / engine images/s; the storing \
            task's busy share tells whether storage could become the bottleneck. The last line is JSON.
            """
    )

    @Option(help: "Images per measurement (the 408 distinct ones repeated).") var images = 800
    @Option(help: "Concurrent engine workers (default: one per core).")
    var workers = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Measurements of each kind; the best is kept.") var repeats = 3
    @Option(help: "Folder for the throwaway gallery files (default: a new temporary folder, removed afterwards).")
    var directory: String?
    @Option(help: "Measure re-templating instead: a gallery of the first engine gains each of the others (for example sface,dlib); its templating job's templates/s against the added engine's own chips/s on the same 400 ORL faces.")
    var engines: String?
    @Option(help: "Subjects per committed batch of the templating job (with --engines).") var batchSize = 16

    func validate() throws {
        guard images > 0, workers > 0, repeats > 0 else { throw ValidationError("--images, --workers and --repeats must be positive") }
    }

    func run() async throws {
        let installation = Installation.fromEnvironment()
        let sources = try Self.sourceImages(installation)
        let encoded = (0..<images).map { sources[$0 % sources.count] }
        let engine = try FaceEngine(installation: installation)
        let folder = URL(filePath: directory ?? NSTemporaryDirectory() + "biomatch-enrol-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: folder) } }
        if let engines {
            let names = engines.split(separator: ",").map(String.init)
            let measured = try await RetemplatingBench(workers: workers, repeats: repeats, batchSize: batchSize)
                .run(engines: names, folder: folder)
            print("Re-templating a gallery of \(names[0]) (40 subjects x 10 ORL faces), \(workers) workers, best of \(repeats)")
            printTable(
                ["engine added", "templates", "engine alone chips/s", "re-templating templates/s", "ratio"],
                measured.map {
                    [$0.engine, "\($0.templates)", format($0.engine_chips_per_s), format($0.retemplating_templates_per_s), format($0.ratio, 3)]
                })
            try printJSON(measured)
            return
        }

        // Warm-up: every distinct image once, so both measurements start with warm sessions and caches.
        _ = try await measureEngine(engine, Array(sources.prefix(64)))

        var engineBest = Double.infinity
        var enrolBest: EnrolmentRun?
        for round in 0..<repeats {
            engineBest = min(engineBest, try await measureEngine(engine, encoded))
            let run = try await measureEnrolment(
                engine, encoded, database: folder.appending(path: "gallery-\(round).sqlite"))
            if enrolBest.map({ run.seconds < $0.seconds }) ?? true { enrolBest = run }
            FileHandle.standardError.write(Data("  round \(round + 1): engine \(format(Double(encoded.count) / engineBest)) images/s (best so far), enrolment \(format(Double(encoded.count) / run.seconds)) images/s\n".utf8))
        }
        guard let enrol = enrolBest else { return }

        let engineRate = Double(encoded.count) / engineBest
        let enrolRate = Double(encoded.count) / enrol.seconds
        let ratio = enrolRate / engineRate
        let commits = enrol.commitMilliseconds.sorted()
        func percentile(_ fraction: Double) -> Double {
            commits.isEmpty ? 0 : commits[min(commits.count - 1, Int(Double(commits.count - 1) * fraction + 0.5))]
        }
        let storeBusy = commits.reduce(0, +) / 1000 / enrol.seconds
        print("Bulk enrolment of \(encoded.count) images (\(sources.count) distinct), \(workers) workers, best of \(repeats)")
        printTable(["measurement", "images/s", "seconds"], [
            ["engine only (FaceEngine.analyze)", format(engineRate), format(engineBest, 2)],
            ["enrolment (examine + SQLite + index)", format(enrolRate), format(enrol.seconds, 2)],
        ])
        print("  ratio (enrolment / engine) \(format(ratio, 3))")
        print("  \(enrol.enrolled) subjects enrolled, \(enrol.refusals.values.reduce(0, +)) images refused"
              + enrol.refusals.sorted(by: { $0.key < $1.key }).map { " (\($0.key): \($0.value))" }.joined())
        print("  store: \(commits.count) commits, p50 \(format(percentile(0.5), 2)) ms, p99 \(format(percentile(0.99), 2)) ms, "
              + "storing task busy \(format(storeBusy * 100, 1)) % of the wall time")
        try printJSON(EnrolBenchSummary(
            enrol_images_per_s: enrolRate, engine_images_per_s: engineRate, ratio: ratio, images: encoded.count,
            workers: workers, subjects_enrolled: enrol.enrolled, images_refused: enrol.refusals.values.reduce(0, +),
            commit_p50_ms: percentile(0.5), commit_p99_ms: percentile(0.99), store_busy_fraction: storeBusy))
    }

    /// Seconds for `workers` tasks to analyse every image with the engine alone.
    private func measureEngine(_ engine: FaceEngine, _ encoded: [[UInt8]]) async throws -> Double {
        try await secondsOnWorkers(workers, items: encoded.count) { index in
            do throws(FaceEngineError) {
                _ = try await engine.analyze(imageBytes: encoded[index])
            } catch {
                // Enrolment refuses undecodable images as unreadable: the same work either way.
                guard case .decoding = error else { throw error }
            }
        }
    }

    /// Enrols every image as its own subject into a new gallery file: `workers` tasks examine,
    /// one task stores (SQLite has one writer), so examination never waits for a commit.
    private func measureEnrolment(_ engine: FaceEngine, _ encoded: [[UInt8]], database: URL) async throws -> EnrolmentRun {
        let store = try SQLiteGalleryStore(location: database)
        let service = try await GallerySearchService.open(store: store, engine: engine)
        let gallery = "enrol-bench"
        _ = try await service.createGallery(name: gallery, purpose: .other)
        let (accepted, sink) = AsyncStream.makeStream(of: (Int, EnrolmentSample).self)
        let refusals = RefusalTally()
        let next = WorkCounter()
        let clock = ContinuousClock()
        let start = clock.now
        let (enrolled, commitMilliseconds) = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
            group.addTask {
                var enrolled = 0
                var commits: [Double] = []
                for await (position, sample) in accepted {
                    let commitStart = clock.now
                    try await service.enrol(gallery: gallery, reference: "bench-\(position)", samples: [sample])
                    commits.append((clock.now - commitStart).milliseconds)
                    enrolled += 1
                }
                return (enrolled, commits)
            }
            let examiners = workers
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { examining in
                    for _ in 0..<examiners {
                        examining.addTask {
                            while true {
                                let position = next.take()
                                guard position < encoded.count else { return }
                                switch try await service.examine(imageBytes: encoded[position]) {
                                case let .success(sample): sink.yield((position, sample))
                                case let .failure(reason): refusals.add(reason.category)
                                }
                            }
                        }
                    }
                    try await examining.waitForAll()
                }
                sink.finish()
                return (0, [])
            }
            var enrolled = 0
            var commits: [Double] = []
            for try await part in group {
                enrolled += part.0
                commits += part.1
            }
            return (enrolled, commits)
        }
        let seconds = (clock.now - start).seconds
        guard try service.indexedTemplateCount(gallery: gallery) == enrolled else {
            throw CommandFailure("the index holds \(try service.indexedTemplateCount(gallery: gallery)) templates, \(enrolled) were enrolled")
        }
        return EnrolmentRun(seconds: seconds, enrolled: enrolled, refusals: refusals.counts, commitMilliseconds: commitMilliseconds)
    }

    /// The eight test photos and the 400 ORL faces, encoded as on disk.
    private static func sourceImages(_ installation: Installation) throws -> [[UInt8]] {
        let photos = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg",
                      "obama_partial_face2.jpg", "32bit.png", "astronaut.png"]
            .map { installation.testPhotosDirectory.appending(path: $0).path }
        let orl = (1...40).flatMap { person in
            (1...10).map { installation.orlFacesDirectory.appending(path: "s\(person)/\($0).pgm").path }
        }
        // Interleaved so that every stretch of the run mixes large photos and small faces.
        var paths: [String] = []
        for (position, path) in orl.enumerated() {
            paths.append(path)
            if position % 50 == 0 { paths.append(photos[(position / 50) % photos.count]) }
        }
        return try paths.map(readImageFile)
    }
}

/// Refused images per reason, counted by concurrent examiners.
private final class RefusalTally: Sendable {
    private let tally = Mutex<[String: Int]>([:])

    func add(_ category: String) { tally.withLock { $0[category, default: 0] += 1 } }
    var counts: [String: Int] { tally.withLock { $0 } }
}

private struct EnrolmentRun {
    var seconds: Double
    var enrolled: Int
    var refusals: [String: Int]
    var commitMilliseconds: [Double]
}

/// The final JSON line of `bench enrol`.
private struct EnrolBenchSummary: Encodable {
    var enrol_images_per_s: Double
    var engine_images_per_s: Double
    var ratio: Double
    var images: Int
    var workers: Int
    var subjects_enrolled: Int
    var images_refused: Int
    var commit_p50_ms: Double
    var commit_p99_ms: Double
    var store_busy_fraction: Double
}

