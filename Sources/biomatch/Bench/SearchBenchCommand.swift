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
            re-ranking, and HNSW with efSearch raised until recall@k reaches the target. Ratios \
            are BioMatch / FAISS (below 1 is faster). Build with -c release. The last line is JSON.
            """
    )

    @Option(help: "Gallery templates.") var n = 100_000
    @Option(help: "Probes timed one at a time.") var probes = 200
    @Option(help: "Probes per batched search.") var batch = 200
    @Option(help: "Hits per search; recall is recall@k.") var k = 10
    @Option(help: "HNSW links per node (M).") var hnswM = 32
    @Option(help: "HNSW efConstruction.") var efConstruction = 200
    @Option(help: "Recall@k the HNSW figures are reported at.") var targetRecall = 0.99
    @Option(help: "Where to write the shared vectors (default: a temporary file, removed afterwards).")
    var vectors: String?
    @Flag(help: "Skip HNSW (its construction dominates the run time at a million templates).") var skipHnsw = false
    @Flag(help: "Skip the FAISS anchor.") var noFaiss = false

    func validate() throws {
        guard n > 0, probes > 0, batch > 0, k > 0, hnswM >= 2, efConstruction > 0 else {
            throw ValidationError("--n, --probes, --batch, --k, --ef-construction must be positive and --hnsw-m at least 2")
        }
    }

    func run() async throws {
        var indexes = Set(SearchBenchmarkIndex.allCases)
        if skipHnsw { indexes.remove(.hnsw) }
        let breadths = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
        let configuration = SearchBenchmarkConfiguration(
            galleryCount: n, singleProbes: probes, batchSize: batch, k: k,
            hnsw: HNSWConfiguration(neighbours: hnswM, constructionBreadth: efConstruction),
            searchBreadths: breadths, targetRecall: targetRecall, indexes: indexes
        )
        let log = { (line: String) in FileHandle.standardError.write(Data(("  " + line + "\n").utf8)) }
        log("generating \(n) templates")
        let benchmark = SearchBenchmark(configuration)
        let path = vectors ?? NSTemporaryDirectory() + "biomatch-search-\(getpid()).vecs"
        try benchmark.writeVectors(to: path)
        defer { if vectors == nil { try? FileManager.default.removeItem(atPath: path) } }

        var faiss: FAISSMeasurement?
        if !noFaiss {
            log("running FAISS")
            faiss = try PythonAnchor(environmentScript: "scripts/faiss-venv", program: "tools/faiss/bench.py")
                .run(arguments: [path, "--k", "\(k)", "--single", "\(probes)", "--batch", "\(batch)",
                                 "--hnsw-m", "\(hnswM)", "--ef-construction", "\(efConstruction)",
                                 "--ef-search", breadths.map(String.init).joined(separator: ","),
                                 "--target-recall", "\(targetRecall)"] + (skipHnsw ? ["--skip-hnsw"] : []),
                     as: FAISSMeasurement.self)
        }
        log("running BioMatch indexes")
        let figures = try benchmark.run(log: log)

        print("Search on \(n) synthetic face templates, k \(k), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("  index               build s   memory MB   p50 ms   p99 ms   batch ms/q   recall@\(k)")
        func row(_ name: String, _ build: Double, _ memory: Int?, _ p50: Double, _ p99: Double, _ batch: Double, _ recall: Double) {
            print(String(format: "  %-18@ %8.2f %11.1f %8.3f %8.3f %12.3f %10.4f", name, build,
                         Double(memory ?? 0) / 1_048_576, p50, p99, batch, recall))
        }
        if let flat = faiss?.flat {
            row("faiss flat", flat.build_s, flat.memory_bytes, flat.single_p50_ms, flat.single_p99_ms, flat.batch_ms_per_query, 1)
        }
        if let hnsw = faiss?.hnsw {
            row("faiss hnsw ef\(hnsw.ef_search ?? 0)", hnsw.build_s, hnsw.memory_bytes, hnsw.single_p50_ms, hnsw.single_p99_ms, hnsw.batch_ms_per_query, hnsw.recall ?? 0)
        }
        var results: [IndexResult] = []
        for figure in figures {
            let name = figure.index.rawValue + (figure.searchBreadth.map { " ef\($0)" } ?? "")
            row(name, figure.buildSeconds, figure.memoryBytes, figure.singleP50Milliseconds, figure.singleP99Milliseconds,
                figure.batchMillisecondsPerQuery, figure.recall)
            let anchor: FAISSMeasurement.Figures? = figure.index == .hnsw ? faiss?.hnsw : faiss?.flat
            results.append(IndexResult(
                index: figure.index.rawValue, build_s: figure.buildSeconds, memory_bytes: figure.memoryBytes,
                single_p50_ms: figure.singleP50Milliseconds, single_p99_ms: figure.singleP99Milliseconds,
                batch_ms_per_query: figure.batchMillisecondsPerQuery, recall: figure.recall,
                exact_list_fraction: figure.exactListFraction, ef_search: figure.searchBreadth,
                p50_vs_faiss: anchor.map { figure.singleP50Milliseconds / $0.single_p50_ms },
                batch_vs_faiss: anchor.map { figure.batchMillisecondsPerQuery / $0.batch_ms_per_query },
                build_vs_faiss: figure.index == .hnsw ? anchor.map { figure.buildSeconds / $0.build_s } : nil,
                sweep: figure.sweep.isEmpty ? nil : figure.sweep.map { SweepPoint(ef_search: $0.breadth, recall: $0.recall, single_p50_ms: $0.p50Milliseconds) }
            ))
        }
        for result in results {
            if let ratio = result.p50_vs_faiss {
                print(String(format: "  %-18@ p50 vs FAISS %@ %.3f", result.index, result.index == "hnsw" ? "hnsw" : "flat", ratio)
                      + (result.build_vs_faiss.map { String(format: ", build vs FAISS hnsw %.3f", $0) } ?? ""))
            }
        }
        try printJSON(SearchSummary(gallery: n, k: k, faiss: faiss, indexes: results))
    }
}

/// What `tools/faiss/bench.py` prints.
struct FAISSMeasurement: Codable {
    struct Figures: Codable {
        var build_s: Double
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
    var sweep: [SweepPoint]?
}

private struct SearchSummary: Encodable {
    var gallery: Int
    var k: Int
    var faiss: FAISSMeasurement?
    var indexes: [IndexResult]
}
