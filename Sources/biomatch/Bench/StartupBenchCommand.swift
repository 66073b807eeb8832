import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Identification
import Installation
import Matching

/// `biomatch bench startup`: how long `GallerySearchService` takes to open over a large SQLite
/// gallery, rebuilding its index from the store and then loading it from a snapshot, each in a
/// fresh process.
struct StartupBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup",
        abstract: "Service start-up time and memory at --n templates: rebuild from SQLite, then from the snapshot.",
        discussion: """
            Fills one gallery of a new SQLite file with --n synthetic face templates \
            (--templates-per-subject each, references subject-<number>, --transaction templates \
            per enrolAll transaction), then runs fresh child processes of this binary: the first \
            opens GallerySearchService with the snapshot folder empty (the index is rebuilt from \
            the store and its snapshot written, as at a first start), then removes the manifest \
            and times writeSnapshots() (a full rewrite, as at shutdown after changes); the next two \
            open the service again with the snapshot files' cached pages dropped \
            (posix_fadvise DONTNEED: read from the disk), then warm, and report open time, \
            resident memory and single-probe search latency through the service. Open times \
            exclude loading the face engine (reported apart). Build with -c release. The last \
            line is JSON.
            """
    )

    @Option(help: "Gallery templates.") var n = 100_000
    @Option(help: "Templates per subject (--n is rounded down to a multiple).") var templatesPerSubject = 1
    @Option(help: "Templates per enrolAll transaction while filling.") var transaction = 50_000
    @Option(help: "Probes searched one at a time after the snapshot open.") var probes = 20
    @Option(help: "Folder for the gallery file and its snapshots (default: a new temporary folder, removed afterwards).")
    var directory: String?
    @Flag(help: "Use the gallery file already in --directory (filled by an earlier run with the same --n) instead of filling a new one.")
    var reuse = false
    @Option(help: .hidden) var phase: StartupPhase?
    @Option(help: .hidden) var database: String?

    private static let galleryName = "startup-bench"

    func validate() throws {
        guard n > 0, templatesPerSubject > 0, transaction > 0, probes >= 0 else {
            throw ValidationError("--n, --templates-per-subject and --transaction must be positive, --probes not negative")
        }
        guard n >= templatesPerSubject else { throw ValidationError("--n must be at least --templates-per-subject") }
        if reuse && directory == nil { throw ValidationError("--reuse needs --directory") }
        if phase != nil && database == nil { throw ValidationError("--phase needs --database") }
    }

    private var subjects: Int { n / templatesPerSubject }

    func run() async throws {
        if let phase, let database {
            try await StartupChild.run(phase, database: URL(filePath: database), gallery: Self.galleryName, probes: probeTemplates())
            return
        }
        let folder = URL(filePath: directory ?? NSTemporaryDirectory() + "biomatch-startup-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: folder) } }
        let database = folder.appending(path: "startup.sqlite")

        var fillSeconds: Double?
        if reuse && FileManager.default.fileExists(atPath: database.path) {
            benchLog("reusing \(database.path)")
        } else {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
            fillSeconds = try await fill(database)
        }
        let snapshotFolder = URL(filePath: database.path + ".indexes")
        try? FileManager.default.removeItem(at: snapshotFolder)

        benchLog("opening the service in a fresh process (no snapshot yet: rebuild)")
        let rebuild = try runChild(.rebuild, database: database)
        guard rebuild.origin.hasPrefix("rebuilt") else { throw CommandFailure("the first open was not a rebuild: \(rebuild.origin)") }
        let snapshotFiles = try Self.files(in: snapshotFolder)
        try dropCachedPages(of: snapshotFiles.map(\.path))
        benchLog("opening the service in a fresh process (snapshot, cached pages dropped)")
        let cold = try runChild(.snapshot, database: database)
        benchLog("opening the service in a fresh process (snapshot, page cache warm)")
        let warm = try runChild(.snapshot, database: database)
        for open in [cold, warm] where open.origin != "snapshot" {
            throw CommandFailure("the snapshot open reported origin \(open.origin)")
        }
        let snapshotBytes = snapshotFiles.reduce(0) { $0 + $1.bytes }
        let databaseBytes = try Self.files(in: folder).filter { $0.path.hasPrefix(database.path) }.reduce(0) { $0 + $1.bytes }

        print("Service start-up over \(rebuild.templates) templates (\(subjects) subjects, \(templatesPerSubject) per subject), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores; SQLite \(megabytes(databaseBytes)) MB, "
              + "snapshot \(megabytes(snapshotBytes)) MB")
        var rows: [[String]] = []
        if let fillSeconds { rows.append(["fill the store (generate + enrolAll)", format(fillSeconds, 2), "-", "-", "-"]) }
        rows.append(["open, rebuild from SQLite (+ snapshot write)", format(rebuild.open_s, 2), megabytes(rebuild.rss_after_open_bytes),
                     megabytes(rebuild.peak_rss_bytes), "-"])
        if let write = rebuild.snapshot_write_s { rows.append(["writeSnapshots() (full rewrite)", format(write, 2), "-", "-", "-"]) }
        rows.append(["open from snapshot, pages dropped", format(cold.open_s, 2), megabytes(cold.rss_after_open_bytes),
                     megabytes(cold.peak_rss_bytes), cold.search_p50_ms.map { format($0, 2) } ?? "-"])
        rows.append(["open from snapshot, page cache warm", format(warm.open_s, 2), megabytes(warm.rss_after_open_bytes),
                     megabytes(warm.peak_rss_bytes), warm.search_p50_ms.map { format($0, 2) } ?? "-"])
        printTable(["step", "seconds", "RSS MB", "peak RSS MB", "search p50 ms"], rows)
        print("  origins: \(rebuild.origin); \(cold.origin); \(warm.origin). RSS includes the face engine "
              + "(\(megabytes(cold.rss_before_open_bytes)) MB before the open, loaded in \(format(cold.engine_load_s, 2)) s)")
        print("  snapshot files: " + snapshotFiles.map { "\(($0.path as NSString).lastPathComponent) \(megabytes($0.bytes)) MB" }
            .joined(separator: ", ") + "; writeSnapshots: \(rebuild.snapshot_outcome ?? "-")")
        if let p50 = cold.search_p50_ms, let p99 = cold.search_p99_ms, let rank1 = cold.mated_rank1 {
            print("  \(probes) single-probe searches (k 10) after the cold open: p50 \(format(p50, 2)) ms, p99 \(format(p99, 2)) ms, "
                  + "mated probes found at rank 1: \(format(rank1 * 100, 1)) %")
        }
        try printJSON(StartupSummary(
            n: rebuild.templates, subjects: subjects, templates_per_subject: templatesPerSubject, fill_s: fillSeconds,
            database_bytes: databaseBytes, rebuild_open_s: rebuild.open_s, snapshot_write_s: rebuild.snapshot_write_s,
            snapshot_bytes: snapshotBytes, snapshot_open_s: cold.open_s, snapshot_open_warm_s: warm.open_s,
            rss_bytes_after_snapshot_open: cold.rss_after_open_bytes, index_rss_bytes_snapshot_open: cold.rss_after_open_bytes - cold.rss_before_open_bytes,
            peak_rss_bytes_snapshot_open: cold.peak_rss_bytes, rss_bytes_after_rebuild_open: rebuild.rss_after_open_bytes,
            peak_rss_bytes_rebuild_open: rebuild.peak_rss_bytes, engine_load_s: cold.engine_load_s,
            search_p50_ms: cold.search_p50_ms, search_p99_ms: cold.search_p99_ms, mated_rank1: cold.mated_rank1,
            page_cache_dropped: true, origins: [rebuild.origin, cold.origin, warm.origin]))
    }

    /// The synthetic model behind the gallery: identity `i` is subject `subject-<i>`.
    private var synthetic: SyntheticFaceTemplates {
        SyntheticFaceTemplates(.init(identities: subjects, samplesPerIdentity: templatesPerSubject))
    }

    private func probeTemplates() -> [SyntheticFaceTemplates.Probe] {
        synthetic.probes(count: probes)
    }

    /// Creates the gallery and enrols every synthetic subject, `transaction` templates per
    /// transaction; returns the seconds taken (generation included, as a bulk import would convert).
    private func fill(_ database: URL) async throws -> Double {
        let store = try SQLiteGalleryStore(location: database)
        defer { store.close() }
        let model = PinnedModel.sface.modelIdentifier
        let gallery = try await store.createGallery(
            NewGallery(name: Self.galleryName, purpose: .other, modelIdentifier: model), companion: nil)
        let generator = synthetic
        let quality = TemplateQuality(detectionScore: 0.9)
        // Synthetic templates have no source image; a fixed digest keeps the rows realistic in size.
        let digest = String(repeating: "5e", count: 32)
        let capturedAt = Date()
        let subjectsPerTransaction = max(1, transaction / templatesPerSubject)
        let start = monotonicSeconds()
        var nextReport = 0.1
        var first = 0
        while first < subjects {
            let identities = first ..< min(subjects, first + subjectsPerTransaction)
            let batch = generator.gallery(identities: identities)
            let newSubjects = identities.enumerated().map { position, identity in
                NewSubject(
                    externalReference: Self.reference(identity),
                    templates: (0..<templatesPerSubject).map { sample in
                        let row = (position * templatesPerSubject + sample) * batch.dimension
                        return NewTemplate(
                            modelIdentifier: model, vector: Array(batch.vectors[row ..< row + batch.dimension]),
                            quality: quality, sourceImageSHA256: digest, capturedAt: capturedAt)
                    })
            }
            _ = try await store.enrolAll(newSubjects, in: gallery.id, companion: nil)
            first = identities.upperBound
            let done = Double(first) / Double(subjects)
            if done >= nextReport || first == subjects {
                benchLog("filled \(first * templatesPerSubject) templates in \(format(monotonicSeconds() - start, 1)) s")
                nextReport = done + 0.1
            }
        }
        // Leave the file as a long-running server would: the log copied in, not replayed at open.
        try await store.checkpoint()
        return monotonicSeconds() - start
    }

    /// Zero-padded so references sort like identities and the unique index grows at its end.
    fileprivate static func reference(_ identity: Int) -> String {
        let digits = String(identity)
        return "subject-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    /// Runs `biomatch bench startup --phase` in a fresh process.
    private func runChild(_ phase: StartupPhase, database: URL) throws -> StartupChild.Report {
        try runBenchChild(
            ["bench", "startup", "--phase", phase.rawValue, "--database", database.path, "--n", "\(n)",
             "--templates-per-subject", "\(templatesPerSubject)", "--probes", "\(probes)"],
            as: StartupChild.Report.self, describing: phase.rawValue)
    }

    /// Regular files in a folder (not recursive) with their sizes, sorted by name.
    private static func files(in folder: URL) throws -> [(path: String, bytes: Int)] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().compactMap { name in
            let path = folder.appending(path: name).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
            return (path, (attributes[.size] as? NSNumber)?.intValue ?? 0)
        }
    }

}

/// What a child process of `bench startup` measures.
enum StartupPhase: String, ExpressibleByArgument {
    /// Open with no snapshot on disk (rebuild and write one), then time a full `writeSnapshots()`.
    case rebuild
    /// Open from the snapshot, then time single searches.
    case snapshot
}

/// The child side of `bench startup`: opens the service in a process that did nothing else.
private enum StartupChild {
    struct Report: Codable {
        var origin: String
        var templates: Int
        var engine_load_s: Double
        var open_s: Double
        var rss_before_open_bytes: Int
        var rss_after_open_bytes: Int
        /// VmHWM: the most the process held resident at any time up to the end of the open.
        var peak_rss_bytes: Int
        var snapshot_write_s: Double?
        var snapshot_outcome: String?
        var search_p50_ms: Double?
        var search_p99_ms: Double?
        var mated_rank1: Double?
    }

    static func run(
        _ phase: StartupPhase, database: URL, gallery: String, probes: [SyntheticFaceTemplates.Probe]
    ) async throws {
        var start = monotonicSeconds()
        let engine = try FaceEngine(installation: .fromEnvironment())
        let engineSeconds = monotonicSeconds() - start
        let before = try processStatusBytes("VmRSS")
        start = monotonicSeconds()
        let store = try SQLiteGalleryStore(location: database)
        let service = try await GallerySearchService.open(
            store: store, engine: engine, snapshotDirectory: store.indexSnapshotDirectory,
            indexEncoding: try IndexEncoding.fromEnvironment())
        let openSeconds = monotonicSeconds() - start
        let after = try processStatusBytes("VmRSS")
        let peak = try processStatusBytes("VmHWM")
        guard let report = service.indexReports.first(where: { $0.gallery == gallery }) else {
            throw CommandFailure("the service has no gallery \(gallery)")
        }
        var result = Report(
            origin: report.origin.description + (report.snapshotProblem.map { " (no snapshot written: \($0))" } ?? ""),
            templates: report.templates, engine_load_s: engineSeconds, open_s: openSeconds,
            rss_before_open_bytes: before, rss_after_open_bytes: after, peak_rss_bytes: peak)
        switch phase {
        case .rebuild:
            // The open wrote a snapshot already: without its manifest, writeSnapshots() rewrites it in full.
            let folder = store.indexSnapshotDirectory
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".manifest") {
                try FileManager.default.removeItem(at: folder.appending(path: name))
            }
            start = monotonicSeconds()
            let outcomes = await service.writeSnapshots()
            result.snapshot_write_s = monotonicSeconds() - start
            result.snapshot_outcome = outcomes[gallery]?.description
        case .snapshot:
            guard !probes.isEmpty else { break }
            var milliseconds: [Double] = []
            var mated = 0
            var found = 0
            for probe in probes {
                let template = try FaceTemplate(normalizing: probe.vector, modelIdentifier: PinnedModel.sface.modelIdentifier)
                let searchStart = monotonicSeconds()
                let candidates = try service.search(gallery: gallery, probes: [template], k: 10, threshold: -1)
                milliseconds.append((monotonicSeconds() - searchStart) * 1000)
                if let mate = probe.mate {
                    mated += 1
                    if candidates.first?.subjectReference == StartupBenchCommand.reference(Int(mate.rawValue)) { found += 1 }
                }
            }
            milliseconds.sort()
            result.search_p50_ms = milliseconds[(milliseconds.count - 1) / 2]
            result.search_p99_ms = milliseconds[min(milliseconds.count - 1, Int((Double(milliseconds.count - 1) * 0.99).rounded()))]
            result.mated_rank1 = mated > 0 ? Double(found) / Double(mated) : nil
        }
        store.close()
        try printJSON(result)
    }
}

/// The final JSON line of `bench startup`.
private struct StartupSummary: Encodable {
    var n: Int
    var subjects: Int
    var templates_per_subject: Int
    /// Nil when an existing file was reused.
    var fill_s: Double?
    var database_bytes: Int
    /// The open that rebuilt the index from SQLite, including writing its snapshot.
    var rebuild_open_s: Double
    /// A full rewrite by writeSnapshots().
    var snapshot_write_s: Double?
    var snapshot_bytes: Int
    /// The open from the snapshot with its files' cached pages dropped.
    var snapshot_open_s: Double
    var snapshot_open_warm_s: Double
    var rss_bytes_after_snapshot_open: Int
    var index_rss_bytes_snapshot_open: Int
    var peak_rss_bytes_snapshot_open: Int
    var rss_bytes_after_rebuild_open: Int
    var peak_rss_bytes_rebuild_open: Int
    var engine_load_s: Double
    var search_p50_ms: Double?
    var search_p99_ms: Double?
    var mated_rank1: Double?
    var page_cache_dropped: Bool
    var origins: [String]
}

private func megabytes(_ bytes: Int) -> String { format(Double(bytes) / 1_048_576, 1) }
