import ArgumentParser
import Foundation
import Matching

/// `biomatch bench search`: the Matching indexes against FAISS on the same synthetic,
/// face-like vectors, in one run.
struct SearchBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "1:N search speed and recall of the flat and HNSW indexes, with ratios to FAISS.",
        discussion: """
            Generates a clustered gallery of --n templates (identities with several noisy samples, \
            genuine cosine ~0.5-0.8, impostors ~0-0.3) and probes, writes them to a file, measures \
            FAISS IndexFlatIP and IndexHNSWFlat on it (tools/faiss/bench.py in the venv made by \
            scripts/faiss-venv), then the BioMatch indexes: exact float32 flat, int8 with exact \
            re-ranking, and HNSW with efSearch raised until recall@k reaches the target; flat_int8 \
            (codes only, for tens of millions) on request. Recall is against exact float search. \
            Ratios are BioMatch / FAISS (below 1 is faster). Build with -c release. The last line \
            is JSON.

            Galleries larger than --slice are generated a slice at a time while one index (--only) \
            is built. With --snapshot the index is saved and loaded back by fresh child processes \
            (page cache warm, then with the file's cached pages dropped), which report load time, \
            resident memory and single-probe latency untouched by the build.
            """
    )

    @Option(help: "Gallery templates.") var n = 100_000
    @Option(help: "Probes timed one at a time.") var probes = 200
    @Option(help: "Probes per batched search.") var batch = 200
    @Option(help: "Hits per search; recall is recall@k.") var k = 10
    @Option(help: "HNSW links per node (M).") var hnswM = 32
    @Option(help: "HNSW efConstruction.") var efConstruction = 200
    @Option(help: "Recall@k the HNSW figures are reported at.") var targetRecall = 0.99
    @Option(help: "Indexes to measure, comma-separated: flat_float32, flat_int8_rerank, flat_int8, hnsw (also float32, int8_rerank, int8).")
    var only: String?
    @Option(help: "Templates generated at a time; larger galleries are streamed into one index.") var slice = 1_048_576
    @Option(help: "Save the (single) measured index here and measure loading it in fresh processes.")
    var snapshot: String?
    @Option(help: "Where to write the shared vectors (default: a temporary file, removed afterwards).")
    var vectors: String?
    @Flag(help: "Skip HNSW (its construction dominates the run time at a million templates).") var skipHnsw = false
    @Flag(help: "Skip the FAISS anchor.") var noFaiss = false
    @Option(help: .hidden) var loadSnapshot: String?
    @Option(help: .hidden) var probeFile: String?

    func validate() throws {
        guard n > 0, probes > 0, batch > 0, k > 0, hnswM >= 2, efConstruction > 0, slice > 0 else {
            throw ValidationError("--n, --probes, --batch, --k, --ef-construction, --slice must be positive and --hnsw-m at least 2")
        }
        let indexes = try selectedIndexes()
        if n > slice && indexes.count != 1 {
            throw ValidationError("a gallery above --slice (\(slice)) is streamed into one index: pick it with --only")
        }
        if snapshot != nil && indexes.count != 1 {
            throw ValidationError("--snapshot needs exactly one index (--only)")
        }
        if loadSnapshot != nil && probeFile == nil { throw ValidationError("--load-snapshot needs --probe-file") }
    }

    private func selectedIndexes() throws -> Set<SearchBenchmarkIndex> {
        guard let only else {
            var indexes = SearchBenchmarkIndex.defaultSet
            if skipHnsw { indexes.remove(.hnsw) }
            return indexes
        }
        let aliases: [String: SearchBenchmarkIndex] = ["float32": .flatFloat32, "int8_rerank": .flatInt8Rerank, "int8": .flatInt8]
        var indexes = Set<SearchBenchmarkIndex>()
        for name in only.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let index = SearchBenchmarkIndex(rawValue: name) ?? aliases[name] else {
                throw ValidationError("unknown index \(name) in --only")
            }
            indexes.insert(index)
        }
        if skipHnsw { indexes.remove(.hnsw) }
        guard !indexes.isEmpty else { throw ValidationError("--only selects no index") }
        return indexes
    }

    func run() async throws {
        if let loadSnapshot, let probeFile {
            try SnapshotProbe.run(snapshot: loadSnapshot, probeFile: probeFile, k: k)
            return
        }
        let indexes = try selectedIndexes()
        let breadths = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
        let configuration = SearchBenchmarkConfiguration(
            galleryCount: n, singleProbes: probes, batchSize: batch, k: k,
            hnsw: HNSWConfiguration(neighbours: hnswM, constructionBreadth: efConstruction),
            searchBreadths: breadths, targetRecall: targetRecall, indexes: indexes, sliceTemplates: slice
        )
        benchLog("generating \(n) templates\(configuration.isSliced ? " (in slices of \(slice))" : "")")
        let benchmark = SearchBenchmark(configuration)

        var faiss: FAISSMeasurement?
        if !noFaiss {
            let path = vectors ?? NSTemporaryDirectory() + "biomatch-search-\(getpid()).vecs"
            try benchmark.writeVectors(to: path)
            defer { if vectors == nil { try? FileManager.default.removeItem(atPath: path) } }
            benchLog("running FAISS")
            faiss = try PythonAnchor(environmentScript: "scripts/faiss-venv", program: "tools/faiss/bench.py")
                .run(arguments: [path, "--k", "\(k)", "--single", "\(probes)", "--batch", "\(batch)",
                                 "--hnsw-m", "\(hnswM)", "--ef-construction", "\(efConstruction)",
                                 "--ef-search", breadths.map(String.init).joined(separator: ","),
                                 "--target-recall", "\(targetRecall)"] + (indexes.contains(.hnsw) ? [] : ["--skip-hnsw"]),
                     as: FAISSMeasurement.self)
        }
        benchLog("running BioMatch indexes (\(VectorKernelsInfo.name) kernels)")
        var snapshotFigures: SnapshotFigures?
        let figures = try benchmark.run(log: benchLog) { index, figure, truth in
            guard let snapshot else { return }
            snapshotFigures = try measureSnapshot(of: index, figure: figure, truth: truth, at: snapshot, benchmark: benchmark)
        }

        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("Search on \(n) synthetic face templates, k \(k), \(cores) cores, \(VectorKernelsInfo.name) kernels")
        let header = ["index", "build s", "build CPU s", "memory MB", "p50 ms", "p99 ms", "batch ms/q", "recall@\(k)"]
        var rows: [[String]] = []
        func row(_ name: String, _ build: Double, _ cpu: Double?, _ memory: Int?, _ p50: Double, _ p99: Double, _ batch: Double, _ recall: Double) {
            rows.append([name, format(build, 2), cpu.map { format($0, 2) } ?? "-", memory.map { format(Double($0) / 1_048_576, 1) } ?? "-",
                         format(p50, 3), format(p99, 3), format(batch, 3), format(recall, 4)])
        }
        if let flat = faiss?.flat {
            row("faiss flat", flat.build_s, flat.build_cpu_s, flat.memory_bytes, flat.single_p50_ms, flat.single_p99_ms, flat.batch_ms_per_query, 1)
        }
        if let hnsw = faiss?.hnsw {
            row("faiss hnsw ef\(hnsw.ef_search ?? 0)", hnsw.build_s, hnsw.build_cpu_s, hnsw.memory_bytes, hnsw.single_p50_ms,
                hnsw.single_p99_ms, hnsw.batch_ms_per_query, hnsw.recall ?? 0)
        }
        var results: [IndexResult] = []
        for figure in figures {
            let name = figure.index.rawValue + (figure.searchBreadth.map { " ef\($0)" } ?? "")
            row(name, figure.buildSeconds, figure.buildCPUSeconds, figure.memoryBytes, figure.singleP50Milliseconds,
                figure.singleP99Milliseconds, figure.batchMillisecondsPerQuery, figure.recall)
            let anchor: FAISSMeasurement.Figures? = figure.index == .hnsw ? faiss?.hnsw : faiss?.flat
            results.append(IndexResult(
                index: figure.index.rawValue, build_s: figure.buildSeconds, build_cpu_s: figure.buildCPUSeconds,
                memory_bytes: figure.memoryBytes,
                single_p50_ms: figure.singleP50Milliseconds, single_p99_ms: figure.singleP99Milliseconds,
                batch_ms_per_query: figure.batchMillisecondsPerQuery, recall: figure.recall,
                exact_list_fraction: figure.exactListFraction, ef_search: figure.searchBreadth,
                p50_vs_faiss: anchor.map { figure.singleP50Milliseconds / $0.single_p50_ms },
                batch_vs_faiss: anchor.map { figure.batchMillisecondsPerQuery / $0.batch_ms_per_query },
                build_vs_faiss: figure.index == .hnsw ? anchor.map { figure.buildSeconds / $0.build_s } : nil,
                build_cpu_vs_faiss: figure.index == .hnsw ? anchor?.build_cpu_s.map { figure.buildCPUSeconds / $0 } : nil,
                sweep: figure.sweep.isEmpty ? nil : figure.sweep.map { SweepPoint(ef_search: $0.breadth, recall: $0.recall, single_p50_ms: $0.p50Milliseconds) },
                p50_at_target_recall_ms: figure.sweep.isEmpty ? nil : p50(at: targetRecall, in: figure.sweep.map {
                    SweepPoint(ef_search: $0.breadth, recall: $0.recall, single_p50_ms: $0.p50Milliseconds)
                }),
                faiss_p50_at_target_recall_ms: figure.index == .hnsw ? faiss?.hnsw?.sweep.flatMap { p50(at: targetRecall, in: $0) } : nil
            ))
        }
        printTable(header, rows)
        if let ours = results.first(where: { $0.index == SearchBenchmarkIndex.hnsw.rawValue }),
           let oursAtTarget = ours.p50_at_target_recall_ms, let theirs = faiss?.hnsw?.sweep.flatMap({ p50(at: targetRecall, in: $0) }) {
            print("  hnsw at recall@\(k) \(targetRecall) (interpolated along each sweep): p50 \(format(oursAtTarget, 3)) ms "
                  + "vs FAISS \(format(theirs, 3)) ms, ratio \(format(oursAtTarget / theirs, 3))")
        }
        for result in results {
            guard let ratio = result.p50_vs_faiss else { continue }
            var line = "  \(result.index): p50 vs FAISS \(result.index == "hnsw" ? "hnsw" : "flat") \(format(ratio, 3))"
            if let batchRatio = result.batch_vs_faiss { line += ", batch vs FAISS \(format(batchRatio, 3))" }
            if let build = result.build_vs_faiss { line += ", build vs FAISS hnsw \(format(build, 3))" }
            if let cpu = result.build_cpu_vs_faiss { line += " (CPU time \(format(cpu, 3)))" }
            print(line)
        }
        if let snapshotFigures {
            print("Snapshot \(snapshotFigures.path): \(format(Double(snapshotFigures.file_bytes) / 1_048_576, 1)) MB, written in \(format(snapshotFigures.save_s, 2)) s")
            for load in snapshotFigures.loads {
                print("  fresh process, \(load.page_cache) page cache: load \(format(load.load_s, 2)) s, index RSS "
                      + "\(format(Double(load.index_rss_bytes) / 1_048_576, 1)) MB (process \(format(Double(load.process_rss_bytes) / 1_048_576, 1)) MB), "
                      + "p50 \(format(load.single_p50_ms, 2)) ms, p99 \(format(load.single_p99_ms, 2)) ms, recall@\(k) \(format(load.recall, 4)), "
                      + "results equal the built index's: \(load.same_results)")
            }
        }
        try printJSON(SearchSummary(gallery: n, k: k, kernels: VectorKernelsInfo.name, faiss: faiss, indexes: results, snapshot: snapshotFigures))
    }

    /// Saves the index, then loads it in fresh child processes and collects their figures.
    private func measureSnapshot(
        of index: any TemplateIndex, figure: SearchFigures, truth: [[SearchHit]], at path: String, benchmark: SearchBenchmark
    ) throws -> SnapshotFigures {
        benchLog("saving the snapshot to \(path)")
        let start = monotonicSeconds()
        try IndexSnapshot.save(index, to: path)
        let saveSeconds = monotonicSeconds() - start
        let probePath = path + ".probes"
        try benchmark.writeVectors(to: probePath, includeGallery: false)
        defer { try? FileManager.default.removeItem(atPath: probePath) }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        var loads: [SnapshotLoad] = []
        for cache in ["warm", "dropped"] {
            if cache == "dropped" { try dropCachedPages(of: [path]) }
            benchLog("loading the snapshot in a fresh process (\(cache) page cache)")
            let child = try runChild(snapshot: path, probeFile: probePath)
            let results = child.results.map { $0.map { SearchHit(id: TemplateID($0.id), owner: OwnerID($0.owner), score: $0.score) } }
            loads.append(SnapshotLoad(
                page_cache: cache, load_s: child.load_s, index_rss_bytes: child.index_rss_bytes,
                process_rss_bytes: child.process_rss_bytes, single_p50_ms: child.single_p50_ms,
                single_p99_ms: child.single_p99_ms, recall: SearchBenchmark.recall(results, truth),
                same_results: results == figure.results))
        }
        return SnapshotFigures(path: path, file_bytes: fileBytes, save_s: saveSeconds, loads: loads)
    }

    /// Runs `biomatch bench search --load-snapshot` in a fresh process.
    private func runChild(snapshot: String, probeFile: String) throws -> SnapshotProbe.Report {
        try runBenchChild(
            ["bench", "search", "--load-snapshot", snapshot, "--probe-file", probeFile, "--k", "\(k)"],
            as: SnapshotProbe.Report.self, describing: "snapshot")
    }
}

/// The child side of `--snapshot`: loads a snapshot in a process that did nothing else, and
/// reports load time, resident memory and single-probe latency.
enum SnapshotProbe {
    struct Hit: Codable, Equatable {
        var id: UInt64
        var owner: UInt64
        var score: Float
    }

    struct Report: Codable {
        var load_s: Double
        /// Resident memory the load added (VmRSS after minus before).
        var index_rss_bytes: Int
        /// The whole process's VmRSS after loading.
        var process_rss_bytes: Int
        var templates: Int
        var single_p50_ms: Double
        var single_p99_ms: Double
        var results: [[Hit]]
    }

    static func run(snapshot: String, probeFile: String, k: Int) throws {
        let probes = try readProbes(probeFile)
        let before = try processStatusBytes("VmRSS")
        let start = monotonicSeconds()
        let index = try IndexSnapshot.load(from: snapshot)
        let loadSeconds = monotonicSeconds() - start
        let after = try processStatusBytes("VmRSS")
        let (p50, p99, results) = try SearchBenchmark.latencies(index, probes, SearchParameters(k: k))
        let report = Report(
            load_s: loadSeconds, index_rss_bytes: after - before, process_rss_bytes: after, templates: index.count,
            single_p50_ms: p50, single_p99_ms: p99,
            results: results.map { $0.map { Hit(id: $0.id.rawValue, owner: $0.owner.rawValue, score: $0.score) } })
        try printJSON(report)
    }

    /// Reads the probes of a BMVECS01 file (see `SearchBenchmark.writeVectors`).
    static func readProbes(_ path: String) throws -> [[Float]] {
        let data = try Data(contentsOf: URL(filePath: path))
        guard data.count >= 28, data.prefix(8) == Data("BMVECS01".utf8) else { throw CommandFailure("\(path) is not a vector file") }
        return data.withUnsafeBytes { bytes in
            let dimension = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            let galleryCount = Int(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)))
            let probeCount = Int(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt64.self)))
            let first = 28 + galleryCount * dimension * 4
            return (0..<probeCount).map { probe in
                (0..<dimension).map { component in
                    bytes.loadUnaligned(fromByteOffset: first + (probe * dimension + component) * 4, as: Float.self)
                }
            }
        }
    }
}

/// Which kernel set the Matching indexes run in this process.
enum VectorKernelsInfo {
    static var name: String { IndexKernels.name }
}


/// The p50 at which a sweep (efSearch rising) first reaches `recall`, interpolated linearly
/// between the points either side; nil when it never does.
private func p50(at recall: Double, in sweep: [SweepPoint]) -> Double? {
    guard let reached = sweep.firstIndex(where: { $0.recall >= recall }) else { return nil }
    let upper = sweep[reached]
    guard reached > 0 else { return upper.single_p50_ms }
    let lower = sweep[reached - 1]
    guard upper.recall > lower.recall else { return upper.single_p50_ms }
    let fraction = (recall - lower.recall) / (upper.recall - lower.recall)
    return lower.single_p50_ms + fraction * (upper.single_p50_ms - lower.single_p50_ms)
}

/// Prints rows under a header, columns padded to their widest cell (first left-aligned).
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for line in all {
        let cells = line.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            return column == 0 ? cell + padding : padding + cell
        }
        print("  " + cells.joined(separator: "   "))
    }
}

/// What `tools/faiss/bench.py` prints.
struct FAISSMeasurement: Codable {
    struct Figures: Codable {
        var build_s: Double
        var build_cpu_s: Double?
        var memory_bytes: Int?
        var single_p50_ms: Double
        var single_p99_ms: Double
        var batch_ms_per_query: Double
        var ef_search: Int?
        var recall: Double?
        var sweep: [SweepPoint]?
    }
    var faiss_version: String
    var threads: Int
    var simd: String
    var flat: Figures
    var hnsw: Figures?
}

struct SweepPoint: Codable {
    var ef_search: Int
    var recall: Double
    var single_p50_ms: Double
}

private struct IndexResult: Encodable {
    var index: String
    var build_s: Double
    var build_cpu_s: Double
    var memory_bytes: Int?
    var single_p50_ms: Double
    var single_p99_ms: Double
    var batch_ms_per_query: Double
    var recall: Double
    var exact_list_fraction: Double
    var ef_search: Int?
    var p50_vs_faiss: Double?
    var batch_vs_faiss: Double?
    var build_vs_faiss: Double?
    var build_cpu_vs_faiss: Double?
    var sweep: [SweepPoint]?
    /// HNSW: single-probe p50 where the sweep crosses the target recall (linear between the two
    /// points around it), for this index and for FAISS: latency at equal recall.
    var p50_at_target_recall_ms: Double?
    var faiss_p50_at_target_recall_ms: Double?
}

private struct SnapshotLoad: Encodable {
    var page_cache: String
    var load_s: Double
    var index_rss_bytes: Int
    var process_rss_bytes: Int
    var single_p50_ms: Double
    var single_p99_ms: Double
    var recall: Double
    var same_results: Bool
}

private struct SnapshotFigures: Encodable {
    var path: String
    var file_bytes: Int
    var save_s: Double
    var loads: [SnapshotLoad]
}

private struct SearchSummary: Encodable {
    var gallery: Int
    var k: Int
    var kernels: String
    var faiss: FAISSMeasurement?
    var indexes: [IndexResult]
    var snapshot: SnapshotFigures?
}
