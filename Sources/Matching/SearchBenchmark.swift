#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `SearchBenchmark` measures.
public struct SearchBenchmarkConfiguration: Sendable {
    /// Gallery templates (identities x samples).
    public var galleryCount: Int
    /// Samples per identity in the synthetic gallery.
    public var samplesPerIdentity: Int
    /// Probes timed one at a time.
    public var singleProbes: Int
    /// Probes in the batched measurement.
    public var batchSize: Int
    /// Hits per search (recall is recall@k).
    public var k: Int
    /// HNSW construction settings.
    public var hnsw: HNSWConfiguration
    /// `efSearch` values tried, smallest first; the first reaching `targetRecall` is reported.
    public var searchBreadths: [Int]
    /// Recall@k the HNSW figures are reported at.
    public var targetRecall: Double
    /// Which indexes to measure.
    public var indexes: Set<SearchBenchmarkIndex>
    /// Seed of the synthetic data.
    public var seed: UInt64

    /// Creates a configuration; the defaults follow the FAISS anchors (M 32, efConstruction 200).
    public init(
        galleryCount: Int, samplesPerIdentity: Int = 4, singleProbes: Int = 200, batchSize: Int = 200, k: Int = 10,
        hnsw: HNSWConfiguration = HNSWConfiguration(neighbours: 32, constructionBreadth: 200),
        searchBreadths: [Int] = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024],
        targetRecall: Double = 0.99, indexes: Set<SearchBenchmarkIndex> = Set(SearchBenchmarkIndex.allCases), seed: UInt64 = 2024
    ) {
        self.galleryCount = galleryCount
        self.samplesPerIdentity = samplesPerIdentity
        self.singleProbes = singleProbes
        self.batchSize = batchSize
        self.k = k
        self.hnsw = hnsw
        self.searchBreadths = searchBreadths
        self.targetRecall = targetRecall
        self.indexes = indexes
        self.seed = seed
    }
}

/// The indexes a benchmark can measure.
public enum SearchBenchmarkIndex: String, Sendable, CaseIterable, Comparable {
    case flatFloat32 = "flat_float32", flatInt8Rerank = "flat_int8_rerank", hnsw

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Figures for one index.
public struct SearchFigures: Sendable {
    /// Which index.
    public var index: SearchBenchmarkIndex
    /// Seconds to insert the whole gallery (graph construction included).
    public var buildSeconds: Double
    /// Resident memory the index added, in bytes (nil where the platform does not say).
    public var memoryBytes: Int?
    /// Median latency of one probe, milliseconds.
    public var singleP50Milliseconds: Double
    /// 99th-percentile latency of one probe, milliseconds.
    public var singleP99Milliseconds: Double
    /// Wall time of a batched search divided by the batch size, milliseconds.
    public var batchMillisecondsPerQuery: Double
    /// Mean recall@k against the exact float search.
    public var recall: Double
    /// Fraction of probes whose hit list equals the exact one, scores included.
    public var exactListFraction: Double
    /// HNSW only: the efSearch reported, and every point of the sweep.
    public var searchBreadth: Int?
    public var sweep: [(breadth: Int, recall: Double, p50Milliseconds: Double)] = []
}

/// Runs the Matching side of `biomatch bench search`: synthetic face-like data, each index
/// built and searched, recall against exact search. The data are written to a file first so a
/// reference implementation (FAISS) can be measured on exactly the same vectors.
public struct SearchBenchmark: Sendable {
    /// Settings.
    public let configuration: SearchBenchmarkConfiguration
    /// The gallery.
    public let gallery: TemplateBatch
    /// Probes: the first `singleProbes` are timed singly, the first `batchSize` form the batch.
    public let probes: [[Float]]

    /// Generates the data.
    public init(_ configuration: SearchBenchmarkConfiguration) {
        self.configuration = configuration
        let generator = SyntheticFaceTemplates(.init(
            identities: max(1, configuration.galleryCount / configuration.samplesPerIdentity),
            samplesPerIdentity: configuration.samplesPerIdentity, seed: configuration.seed
        ))
        gallery = generator.gallery()
        probes = generator.probes(count: max(configuration.singleProbes, configuration.batchSize), seed: configuration.seed &+ 1).map(\.vector)
    }

    /// Writes the vectors for a reference run: "BMVECS01", UInt32 dimension, UInt64 gallery
    /// count, UInt64 probe count (little-endian), then gallery and probes as row-major float32.
    public func writeVectors(to path: String) throws(SnapshotError) {
        guard let handle = fopen(path, "wb") else { throw .cannotOpen(path: path, errno: errno) }
        defer { fclose(handle) }
        var header = Array("BMVECS01".utf8)
        withUnsafeBytes(of: UInt32(gallery.dimension).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(gallery.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(probes.count).littleEndian) { header += $0 }
        var ok = header.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count }
        ok = ok && gallery.vectors.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count }
        for probe in probes where ok { ok = probe.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count } }
        guard ok, fflush(handle) == 0 else { throw .ioFailed(path: path, errno: errno) }
    }

    /// Builds and measures every configured index; `log` receives progress lines.
    public func run(log: (String) -> Void = { _ in }) throws(MatchingError) -> [SearchFigures] {
        let k = configuration.k
        let single = Array(probes.prefix(configuration.singleProbes))
        let batch = Array(probes.prefix(configuration.batchSize))
        var figures: [SearchFigures] = []
        var truth: [[SearchHit]] = []

        func measure(_ index: SearchBenchmarkIndex, build: () throws(MatchingError) -> any TemplateIndex, breadth: Int?) throws(MatchingError) -> (SearchFigures, any TemplateIndex) {
            let residentBefore = residentBytes()
            let start = monotonicSeconds()
            let built = try build()
            let buildSeconds = monotonicSeconds() - start
            let memory = residentBytes().flatMap { after in residentBefore.map { after - $0 } }
            log("\(index.rawValue): built \(gallery.count) in \(rounded(buildSeconds)) s")
            let parameters = SearchParameters(k: k, searchBreadth: breadth)
            _ = try built.search(batch: Array(single.prefix(4)), parameters: parameters)
            let (p50, p99, results) = try latencies(built, single, parameters)
            let batchStart = monotonicSeconds()
            _ = try built.search(batch: batch, parameters: parameters)
            let batchMilliseconds = (monotonicSeconds() - batchStart) * 1000 / Double(batch.count)
            if truth.isEmpty { truth = results }
            let figure = SearchFigures(
                index: index, buildSeconds: buildSeconds, memoryBytes: memory,
                singleP50Milliseconds: p50, singleP99Milliseconds: p99, batchMillisecondsPerQuery: batchMilliseconds,
                recall: recall(results, truth), exactListFraction: exactFraction(results, truth), searchBreadth: breadth
            )
            log("\(index.rawValue): p50 \(rounded(p50)) ms, p99 \(rounded(p99)) ms, batch \(rounded(batchMilliseconds)) ms/query, recall \(figure.recall)")
            return (figure, built)
        }

        // The exact float index goes first: its results are the ground truth for the others.
        do {
            let (figure, _) = try measure(.flatFloat32, build: { () throws(MatchingError) -> any TemplateIndex in
                let index = try FlatIndex(dimension: gallery.dimension, encoding: .float32)
                try index.insert(gallery)
                return index
            }, breadth: nil)
            if configuration.indexes.contains(.flatFloat32) { figures.append(figure) }
        }
        if configuration.indexes.contains(.flatInt8Rerank) {
            let (figure, _) = try measure(.flatInt8Rerank, build: { () throws(MatchingError) -> any TemplateIndex in
                let index = try FlatIndex(dimension: gallery.dimension, encoding: .int8Rerank)
                try index.insert(gallery)
                return index
            }, breadth: nil)
            figures.append(figure)
        }
        if configuration.indexes.contains(.hnsw) {
            let residentBefore = residentBytes()
            let start = monotonicSeconds()
            let index = try HNSWIndex(dimension: gallery.dimension, configuration: configuration.hnsw)
            try index.insert(gallery)
            let buildSeconds = monotonicSeconds() - start
            let memory = residentBytes().flatMap { after in residentBefore.map { after - $0 } }
            log("hnsw: built \(gallery.count) in \(rounded(buildSeconds)) s")
            var sweep: [(breadth: Int, recall: Double, p50Milliseconds: Double)] = []
            var chosen: SearchFigures?
            for breadth in configuration.searchBreadths {
                let parameters = SearchParameters(k: k, searchBreadth: breadth)
                let (p50, p99, results) = try latencies(index, single, parameters)
                let pointRecall = recall(results, truth)
                sweep.append((breadth, pointRecall, p50))
                log("hnsw: efSearch \(breadth): recall \(pointRecall), p50 \(rounded(p50)) ms")
                if pointRecall >= configuration.targetRecall || breadth == configuration.searchBreadths.last {
                    let batchStart = monotonicSeconds()
                    _ = try index.search(batch: batch, parameters: parameters)
                    let batchMilliseconds = (monotonicSeconds() - batchStart) * 1000 / Double(batch.count)
                    chosen = SearchFigures(
                        index: .hnsw, buildSeconds: buildSeconds, memoryBytes: memory,
                        singleP50Milliseconds: p50, singleP99Milliseconds: p99, batchMillisecondsPerQuery: batchMilliseconds,
                        recall: pointRecall, exactListFraction: exactFraction(results, truth), searchBreadth: breadth
                    )
                    break
                }
            }
            if var chosen {
                chosen.sweep = sweep
                figures.append(chosen)
            }
        }
        return figures
    }

    private func latencies(_ index: any TemplateIndex, _ probes: [[Float]], _ parameters: SearchParameters) throws(MatchingError) -> (Double, Double, [[SearchHit]]) {
        var times: [Double] = []
        var results: [[SearchHit]] = []
        for probe in probes {
            let start = monotonicSeconds()
            results.append(try index.search(probe, parameters: parameters))
            times.append((monotonicSeconds() - start) * 1000)
        }
        times.sort()
        func percentile(_ fraction: Double) -> Double { times[min(times.count - 1, Int(Double(times.count - 1) * fraction + 0.5))] }
        return (percentile(0.5), percentile(0.99), results)
    }

    private func recall(_ results: [[SearchHit]], _ truth: [[SearchHit]]) -> Double {
        var found = 0
        var expected = 0
        for (hits, exact) in zip(results, truth) {
            let wanted = Set(exact.map(\.id))
            expected += wanted.count
            found += hits.filter { wanted.contains($0.id) }.count
        }
        return expected == 0 ? 1 : Double(found) / Double(expected)
    }

    private func exactFraction(_ results: [[SearchHit]], _ truth: [[SearchHit]]) -> Double {
        Double(zip(results, truth).filter { $0.0 == $0.1 }.count) / Double(max(1, results.count))
    }
}

/// Resident set size of this process, from /proc (Linux only).
func residentBytes() -> Int? {
    #if os(Linux)
    guard let handle = fopen("/proc/self/statm", "r") else { return nil }
    defer { fclose(handle) }
    var size = 0
    var resident = 0
    guard fscanf_two(handle, &size, &resident) else { return nil }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    #else
    return nil
    #endif
}

#if os(Linux)
private func fscanf_two(_ handle: UnsafeMutablePointer<FILE>, _ first: inout Int, _ second: inout Int) -> Bool {
    var line = [CChar](repeating: 0, count: 256)
    guard fgets(&line, Int32(line.count), handle) != nil else { return false }
    let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
    guard fields.count >= 2, let a = Int(fields[0]), let b = Int(fields[1]) else { return false }
    first = a
    second = b
    return true
}
#endif

private func rounded(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return "\(scaled)"
}
