import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Governance
import Installation
import Logging
import Matching
import ONNXRuntime
import Operations
import Server
import ServiceLifecycle
import Synchronization

/// `biomatch bench serve`: the HTTP search path under load, against the engine's own throughput.
struct ServeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "POST /v1/search under load on loopback, against the face pipeline's own images per second.",
        discussion: """
            Builds a gallery of --gallery-size synthetic face-like templates plus the test photos' \
            subjects in a temporary SQLite file, serves it on a loopback port, and drives \
            POST /v1/search with wrk (Debian's package) for --duration seconds, the probes being \
            the test photos in turn. In the same run it measures the pipeline (decode, detect, \
            align, embed) on the same photos with the same concurrency, before and after the load, \
            and then the same searches called in process (no HTTP). Resident memory is sampled \
            every second during the load. The last line is JSON.
            """
    )

    @Option(help: "Synthetic subjects in the gallery (one template each).") var gallerySize = 100_000
    @Option(help: "Seconds of load (after a warm-up of a fifth of it).") var duration = 30
    @Option(help: "Concurrent connections kept open by wrk (default: one per core, as bench pipeline's workers).")
    var connections = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Send probes as base64 JSON instead of multipart/form-data.") var json = false
    @Argument(help: "Probe images (default: the eight test photos).") var images: [String] = []

    /// The photos `bench pipeline` measures, so the two benches see the same work.
    static let defaultProbes = [
        "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg",
        "32bit.png", "astronaut.png",
    ]

    func validate() throws {
        guard gallerySize >= 0, duration >= 5, connections > 0 else {
            throw ValidationError("--gallery-size must be >= 0, --duration >= 5, --connections > 0")
        }
    }

    func run() async throws {
        let installation = Installation.fromEnvironment()
        let paths = images.isEmpty ? Self.defaultProbes.map { installation.testPhotosDirectory.appending(path: $0).path } : images
        let probes = try paths.map(readImageFile)
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "load.sqlite"), additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let engine = try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        let metrics = ServerMetrics()
        let operations = try await MatcherOperations.open(store: store, engine: engine, analysisObserver: metrics.record)
        let local = Caller.localOperator(name: "bench")
        _ = try await operations.createGallery(GalleryDraft(name: "load", purpose: .other), by: local)
        let seeding = ContinuousClock.now
        try await seed(operations, synthetic: gallerySize, photos: probes)
        standardError("gallery: \(gallerySize) synthetic subjects + \(probes.count) photos in \(ContinuousClock.now - seeding)")
        let key = try await operations.keys.create(
            name: "load", role: .searcher, scope: .galleries(["load"]), by: local.auditActor)

        // The server, in this process, on a port the system picks; no rate limit in the way.
        let configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, rateLimit: RateLimit(requestsPerSecond: 1_000_000, burst: 1_000_000))
        var logger = Logger(label: "biomatch.bench.serve")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int?.self)
        let application = buildApplication(
            configuration: configuration,
            dependencies: ServerDependencies(
                operations: operations, health: try HealthReport.gather(
                    installation: installation, runtime: try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)),
                metrics: metrics),
            logger: logger, onServerRunning: { port in portContinuation.yield(port) })
        // A service group, so that the end of the run is a graceful shutdown (connections drained)
        // rather than a cancellation.
        let serverGroup = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let server = Task { try await serverGroup.run() }
        defer { server.cancel() }  // on errors; the normal path below shuts down gracefully and waits
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), let port = bound else { throw CommandFailure("the server did not start") }

        let bodies = try writeBodies(probes, to: folder)
        let warmUp = max(2, duration / 5)
        _ = try await runLoad(port: port, seconds: warmUp, bodies: bodies, key: key.secret)

        let before = try await pipelineImagesPerSecond(engine: engine, probes: probes, seconds: Double(duration) / 3)
        let sampler = MemorySampler()
        let sampling = Task { await sampler.sample(every: .seconds(1)) }
        let load = try await runLoad(port: port, seconds: duration, bodies: bodies, key: key.secret)
        sampling.cancel()
        _ = await sampling.value
        let after = try await pipelineImagesPerSecond(engine: engine, probes: probes, seconds: Double(duration) / 3)
        // The same searches called in process: what HTTP adds is the gap between this and the load.
        let inProcess = try await inProcessSearchesPerSecond(operations: operations, probes: probes, seconds: Double(duration) / 3)

        let pipeline = (before + after) / 2
        let rss = sampler.readings
        let result = ServeBenchResult(
            search_images_per_s: load.requestsPerSecond, pipeline_images_per_s: pipeline,
            ratio_vs_pipeline: load.requestsPerSecond / pipeline, p50_ms: load.p50Milliseconds,
            p99_ms: load.p99Milliseconds, p99_over_p50: load.p99Milliseconds / load.p50Milliseconds,
            requests: load.requests, errors: load.errors, gallery_templates: gallerySize + probes.count,
            rss_first_mb: rss.first ?? 0, rss_middle_mb: rss.isEmpty ? 0 : rss[rss.count / 2], rss_last_mb: rss.last ?? 0, rss_max_mb: rss.max() ?? 0,
            rss_samples: rss.count, connections: connections, duration_s: duration, body: json ? "json" : "multipart",
            in_process_search_images_per_s: inProcess, in_process_ratio_vs_pipeline: inProcess / pipeline)
        print(String(format: "POST /v1/search, %d-template gallery, %d connections, %d s", gallerySize + probes.count, connections, duration))
        print(String(format: "  served        %8.2f images/s   p50 %.1f ms   p99 %.1f ms   errors %d of %d",
                     load.requestsPerSecond, load.p50Milliseconds, load.p99Milliseconds, load.errors, load.requests))
        print(String(format: "  pipeline      %8.2f images/s   (before %.2f, after %.2f)   ratio %.3f",
                     pipeline, before, after, result.ratio_vs_pipeline))
        print(String(format: "  in process    %8.2f images/s   (MatcherOperations.search, no HTTP)   ratio %.3f",
                     inProcess, inProcess / pipeline))
        print(String(format: "  resident      first %.0f MB, middle %.0f MB, last %.0f MB, max %.0f MB over %d samples",
                     result.rss_first_mb, result.rss_middle_mb, result.rss_last_mb, result.rss_max_mb, rss.count))
        try printJSON(result)
        // Shut the server down and wait for it, so that no request is still running on the models
        // while the process exits and ONNX Runtime's static state is torn down.
        await serverGroup.triggerGracefulShutdown()
        _ = await server.result
    }

    /// The test photos' subjects (so searches find someone) and synthetic face-like subjects,
    /// a thousand per transaction.
    private func seed(_ operations: MatcherOperations, synthetic count: Int, photos: [[UInt8]]) async throws {
        let local = Caller.localOperator(name: "bench")
        for (index, photo) in photos.enumerated() {
            guard case .success(let sample) = try await operations.examine(imageBytes: photo) else { continue }
            try await operations.enrol(
                EnrolmentRequest(gallery: "load", reference: "photo-\(index)", images: []), samples: [sample], by: local)
        }
        let gallery = try await operations.store.gallery(named: "load")
        let vectors = SyntheticFaceTemplates(
            .init(dimension: TemplateFormat.dimension, identities: count, samplesPerIdentity: 1, seed: 20_261_127)
        ).gallery().vectors
        var made = 0
        while made < count {
            let batch = min(1_000, count - made)
            let subjects = (0..<batch).map { offset in
                NewSubject(
                    externalReference: "synthetic-\(made + offset)",
                    templates: [
                        NewTemplate(
                            modelIdentifier: gallery.modelIdentifier,
                            vector: Array(vectors[((made + offset) * TemplateFormat.dimension)..<((made + offset + 1) * TemplateFormat.dimension)]),
                            quality: TemplateQuality(detectionScore: 1), sourceImageSHA256: String(repeating: "0", count: 64),
                            capturedAt: Date())
                    ])
            }
            try await operations.identification.enrolBatch(gallery: "load", subjects: subjects)
            made += batch
        }
    }

    /// The multipart boundary of the load's bodies (it appears in no test photo).
    static let boundary = "biomatch-load-7c1f0a9e3b5d"

    /// One search body per probe, in files wrk's script reads: multipart/form-data with the
    /// photo as a file part, or with `--json` base64 JSON.
    private func writeBodies(_ probes: [[UInt8]], to folder: URL) throws -> URL {
        var paths: [String] = []
        for (index, probe) in probes.enumerated() {
            let fields = ["gallery": "load", "purpose": "missing-person", "caseReference": "LOAD-\(index)", "k": "10"]
            let body: Data
            if json {
                var object: [String: Any] = fields
                object["k"] = 10
                object["image"] = Data(probe).base64EncodedString()
                body = try JSONSerialization.data(withJSONObject: object)
            } else {
                var bytes = Data()
                for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
                    bytes.append(Data("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
                }
                bytes.append(Data("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"probe-\(index)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
                bytes.append(contentsOf: probe)
                bytes.append(Data("\r\n--\(Self.boundary)--\r\n".utf8))
                body = bytes
            }
            let path = folder.appending(path: "body-\(index)")
            try body.write(to: path)
            paths.append(path.path)
        }
        let list = folder.appending(path: "bodies.txt")
        try paths.joined(separator: "\n").appending("\n").write(to: list, atomically: true, encoding: .utf8)
        return list
    }

    /// Runs wrk against the search route and reads its report, waiting on a thread of its own:
    /// blocked in `waitUntilExit` on one of Swift's cooperative threads (one per core), it would
    /// leave the server a single thread to handle requests on.
    private func runLoad(port: Int, seconds: Int, bodies: URL, key: String) async throws -> LoadReport {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runLoadBlocking(port: port, seconds: seconds, bodies: bodies, key: key) })
            }.start()
        }
    }

    private func runLoadBlocking(port: Int, seconds: Int, bodies: URL, key: String) throws -> LoadReport {
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/wrk")
        process.arguments = [
            "--threads", "1", "--connections", "\(connections)", "--duration", "\(seconds)s", "--timeout", "30s",
            "--latency", "--script", "tools/load/search.lua", "http://127.0.0.1:\(port)/v1/search",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["BIOMATCH_LOAD_BODIES"] = bodies.path
        environment["BIOMATCH_LOAD_KEY"] = key
        environment["BIOMATCH_LOAD_CONTENT_TYPE"] = json ? "application/json" : "multipart/form-data; boundary=\(Self.boundary)"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch {
            throw CommandFailure("cannot run /usr/bin/wrk (scripts/setup installs Debian's wrk): \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0, let report = LoadReport(wrkOutput: text) else {
            throw CommandFailure("wrk failed (status \(process.terminationStatus)):\n\(text)")
        }
        return report
    }

    /// Searches per second through ``MatcherOperations`` called directly (recorded and audited as
    /// the HTTP route's are), with as many concurrent tasks as connections.
    private func inProcessSearchesPerSecond(operations: MatcherOperations, probes: [[UInt8]], seconds: Double) async throws -> Double {
        let caller = Caller.localOperator(name: "bench")
        return try await probesPerSecond(probes.count, seconds: seconds) { probe in
            _ = try await operations.search(
                SearchRequest(
                    gallery: "load", image: probes[probe],
                    justification: StatedJustification(purpose: "missing-person", caseReference: "IN-PROCESS-\(probe)")),
                by: caller)
        }
    }

    /// Images per second of the engine alone on the probes, with as many workers as connections.
    private func pipelineImagesPerSecond(engine: FaceEngine, probes: [[UInt8]], seconds: Double) async throws -> Double {
        try await probesPerSecond(probes.count, seconds: seconds) { probe in
            _ = try await engine.analyze(imageBytes: probes[probe])
        }
    }

    /// Runs `work` on the probes in turn, on as many concurrent tasks as connections, until
    /// `seconds` have passed, and returns the probes done per second.
    private func probesPerSecond(
        _ probeCount: Int, seconds: Double, _ work: @escaping @Sendable (_ probe: Int) async throws -> Void
    ) async throws -> Double {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let workers = connections
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var done = 0
                    var next = worker
                    while ContinuousClock.now < deadline {
                        try await work(next % probeCount)
                        next += workers
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (ContinuousClock.now - start).seconds
    }
}

/// What wrk reported.
struct LoadReport {
    var requests: Int
    var requestsPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var errors: Int

    /// Reads wrk's `--latency` report; nil if a figure is missing.
    init?(wrkOutput text: String) {
        var requests: Int?
        var rate: Double?
        var p50: Double?
        var p99: Double?
        var errors = 0
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("Requests/sec:"), fields.count >= 2 { rate = Double(fields[1]) }
            if line.contains("requests in"), let first = fields.first { requests = Int(first) }
            if line.hasPrefix("50%"), fields.count >= 2 { p50 = Self.milliseconds(fields[1]) }
            if line.hasPrefix("99%"), fields.count >= 2 { p99 = Self.milliseconds(fields[1]) }
            if line.hasPrefix("Non-2xx or 3xx responses:"), let last = fields.last { errors += Int(last) ?? 0 }
            if line.hasPrefix("Socket errors:") {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                errors += fields.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            }
        }
        guard let requests, let rate, let p50, let p99 else { return nil }
        self.requests = requests
        self.requestsPerSecond = rate
        self.p50Milliseconds = p50
        self.p99Milliseconds = p99
        self.errors = errors
    }

    /// wrk prints durations as `812.00us`, `12.34ms` or `1.02s`.
    static func milliseconds(_ text: String) -> Double? {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }
}

/// Resident memory of this process, sampled until cancelled.
final class MemorySampler: Sendable {
    private let samples = Mutex<[Double]>([])

    /// The samples so far, in MB.
    var readings: [Double] { samples.withLock { $0 } }

    func sample(every interval: Duration) async {
        while !Task.isCancelled {
            if let megabytes = Self.residentMegabytes() { samples.withLock { $0.append(megabytes) } }
            try? await Task.sleep(for: interval)
        }
    }

    static func residentMegabytes() -> Double? {
        (try? processStatusBytes("VmRSS")).map { Double($0) / 1_048_576 }
    }
}

struct ServeBenchResult: Encodable {
    var search_images_per_s: Double
    var pipeline_images_per_s: Double
    var ratio_vs_pipeline: Double
    var p50_ms: Double
    var p99_ms: Double
    var p99_over_p50: Double
    var requests: Int
    var errors: Int
    var gallery_templates: Int
    var rss_first_mb: Double
    var rss_middle_mb: Double
    var rss_last_mb: Double
    var rss_max_mb: Double
    var rss_samples: Int
    var connections: Int
    var duration_s: Int
    var body: String
    var in_process_search_images_per_s: Double
    var in_process_ratio_vs_pipeline: Double
}
