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
    /// Templates generated at a time. Galleries up to this size are generated once and kept;
    /// larger ones are generated slice by slice while one index is built, so the float vectors
    /// of the whole gallery never sit in memory (ten million of them are 5 GB).
    public var sliceTemplates: Int

    /// Creates a configuration; the defaults follow the FAISS anchors (M 32, efConstruction 200).
    public init(
        galleryCount: Int, samplesPerIdentity: Int = 4, singleProbes: Int = 200, batchSize: Int = 200, k: Int = 10,
        hnsw: HNSWConfiguration = HNSWConfiguration(neighbours: 32, constructionBreadth: 200),
        searchBreadths: [Int] = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024],
        targetRecall: Double = 0.99, indexes: Set<SearchBenchmarkIndex> = SearchBenchmarkIndex.defaultSet, seed: UInt64 = 2024,
        sliceTemplates: Int = 1_048_576
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
        self.sliceTemplates = sliceTemplates
    }

    /// Whether the gallery is generated slice by slice (then only one index can be measured).
    public var isSliced: Bool { galleryCount > sliceTemplates }
}

/// The indexes a benchmark can measure.
public enum SearchBenchmarkIndex: String, Sendable, CaseIterable, Comparable {
    case flatFloat32 = "flat_float32", flatInt8Rerank = "flat_int8_rerank", flatInt8 = "flat_int8", hnsw

    /// Measured unless the caller picks: the three indexes FAISS has counterparts for.
    public static let defaultSet: Set<SearchBenchmarkIndex> = [.flatFloat32, .flatInt8Rerank, .hnsw]

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// An empty index of this kind.
    func makeIndex(dimension: Int, hnsw: HNSWConfiguration) throws(MatchingError) -> any TemplateIndex {
        switch self {
        case .flatFloat32: try FlatIndex(dimension: dimension, encoding: .float32)
        case .flatInt8Rerank: try FlatIndex(dimension: dimension, encoding: .int8Rerank)
        case .flatInt8: try FlatIndex(dimension: dimension, encoding: .int8)
        case .hnsw: try HNSWIndex(dimension: dimension, configuration: hnsw)
        }
    }
}

/// Figures for one index.
public struct SearchFigures: Sendable {
    /// Which index.
    public var index: SearchBenchmarkIndex
    /// Seconds to insert the whole gallery (graph construction included, generation excluded).
    public var buildSeconds: Double
    /// CPU seconds the process spent on those inserts (all threads).
    public var buildCPUSeconds: Double
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
    /// The single-probe results, probe by probe (to compare with another process's).
    public var results: [[SearchHit]] = []
}

/// Runs the Matching side of `biomatch bench search`: synthetic face-like data, each index
/// built and searched, recall against exact search. The data are written to a file first so a
/// reference implementation (FAISS) can be measured on exactly the same vectors.
public struct SearchBenchmark: Sendable {
    /// Settings.
    public let configuration: SearchBenchmarkConfiguration
    /// Probes: the first `singleProbes` are timed singly, the first `batchSize` form the batch.
    public let probes: [[Float]]
    private let generator: SyntheticFaceTemplates
    /// The whole gallery when it fits one slice.
    private let keptGallery: TemplateBatch?

    /// Prepares the data (the whole gallery only when it fits one slice).
    public init(_ configuration: SearchBenchmarkConfiguration) {
        self.configuration = configuration
        generator = SyntheticFaceTemplates(.init(
            identities: max(1, configuration.galleryCount / configuration.samplesPerIdentity),
            samplesPerIdentity: configuration.samplesPerIdentity, seed: configuration.seed
        ))
        probes = generator.probes(count: max(configuration.singleProbes, configuration.batchSize), seed: configuration.seed &+ 1).map(\.vector)
        keptGallery = configuration.isSliced ? nil : generator.gallery()
    }

    /// Templates in the gallery (identities x samples).
    public var galleryCount: Int { generator.configuration.identities * generator.configuration.samplesPerIdentity }

    /// Calls `body` with the gallery, slice by slice in row order.
    public func forEachSlice<Failure: Error>(_ body: (TemplateBatch) throws(Failure) -> Void) throws(Failure) {
        if let keptGallery { return try body(keptGallery) }
        let identities = generator.configuration.identities
        let step = max(1, configuration.sliceTemplates / generator.configuration.samplesPerIdentity)
        var first = 0
        while first < identities {
            let last = min(identities, first + step)
            try body(generator.gallery(identities: first..<last))
            first = last
        }
    }

    /// Writes the vectors for a reference run: "BMVECS01", UInt32 dimension, UInt64 gallery
    /// count, UInt64 probe count (little-endian), then gallery and probes as row-major float32.
    /// With `includeGallery` false the file holds the probes only (gallery count 0).
    public func writeVectors(to path: String, includeGallery: Bool = true) throws(SnapshotError) {
        guard let handle = fopen(path, "wb") else { throw .cannotOpen(path: path, errno: errno) }
        defer { fclose(handle) }
        var header = Array("BMVECS01".utf8)
        withUnsafeBytes(of: UInt32(generator.configuration.dimension).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(includeGallery ? galleryCount : 0).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(probes.count).littleEndian) { header += $0 }
        var ok = header.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count }
        if includeGallery {
            forEachSlice { slice in
                if ok { ok = slice.vectors.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count } }
            }
        }
        for probe in probes where ok { ok = probe.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count } }
        guard ok, fflush(handle) == 0 else { throw .ioFailed(path: path, errno: errno) }
    }

    /// Builds and measures every configured index, each against exact float search; `log`
    /// receives progress lines and `inspect` each index (still alive) with its figures and the
    /// exact results of the single probes, for measurements of its own (a snapshot, say).
    public func run(
        log: (String) -> Void = { _ in },
        inspect: (any TemplateIndex, SearchFigures, [[SearchHit]]) throws -> Void = { _, _, _ in }
    ) throws -> [SearchFigures] {
        let indexes = configuration.indexes.sorted()
        if configuration.isSliced && indexes.count != 1 {
            throw MatchingError.invalidParameter(
                name: "indexes", reason: "a gallery generated in slices is measured one index at a time, got \(indexes.count)")
        }
        let dimension = generator.configuration.dimension
        let k = configuration.k
        var truth: ExactTruth? = configuration.isSliced ? nil : try ExactTruth(self)
        var figures: [SearchFigures] = []
        for kind in indexes {
            let residentBefore = residentBytes()
            let index = try kind.makeIndex(dimension: dimension, hnsw: configuration.hnsw)
            var buildSeconds = 0.0
            var buildCPUSeconds = 0.0
            var sliced = configuration.isSliced ? ExactTruth(probes: Array(probes.prefix(configuration.singleProbes)), k: k) : nil
            var inserted = 0
            try forEachSlice { (slice) throws in
                let start = monotonicSeconds()
                let cpuStart = processCPUSeconds()
                try index.insert(slice)
                buildSeconds += monotonicSeconds() - start
                buildCPUSeconds += processCPUSeconds() - cpuStart
                inserted += slice.count
                if var partial = sliced {
                    try partial.add(slice)
                    sliced = partial
                    log("\(kind.rawValue): \(inserted) of \(galleryCount) inserted, \(rounded(buildSeconds)) s")
                }
            }
            if let sliced { truth = sliced }
            let memory = residentBytes().flatMap { after in residentBefore.map { after - $0 } }
            log("\(kind.rawValue): built \(galleryCount) in \(rounded(buildSeconds)) s (\(rounded(buildCPUSeconds)) CPU s)")
            guard let truth else { preconditionFailure("truth is computed before or while building") }
            let figure = try measure(
                kind, index, buildSeconds: buildSeconds, buildCPUSeconds: buildCPUSeconds, memory: memory, truth: truth.hits, log: log)
            figures.append(figure)
            try inspect(index, figure, truth.hits)
        }
        return figures
    }

    private func measure(
        _ kind: SearchBenchmarkIndex, _ index: any TemplateIndex, buildSeconds: Double, buildCPUSeconds: Double, memory: Int?,
        truth: [[SearchHit]], log: (String) -> Void
    ) throws(MatchingError) -> SearchFigures {
        let k = configuration.k
        let single = Array(probes.prefix(configuration.singleProbes))
        let batch = Array(probes.prefix(configuration.batchSize))
        let breadths: [Int?] = kind == .hnsw ? configuration.searchBreadths : [nil]
        var sweep: [(breadth: Int, recall: Double, p50Milliseconds: Double)] = []
        _ = try index.search(batch: Array(single.prefix(4)), parameters: SearchParameters(k: k, searchBreadth: breadths.first ?? nil))
        for breadth in breadths {
            let parameters = SearchParameters(k: k, searchBreadth: breadth)
            let (p50, p99, results) = try Self.latencies(index, single, parameters)
            let pointRecall = Self.recall(results, truth)
            if let breadth {
                sweep.append((breadth, pointRecall, p50))
                log("\(kind.rawValue): efSearch \(breadth): recall \(pointRecall), p50 \(rounded(p50)) ms")
            }
            guard breadth == nil || pointRecall >= configuration.targetRecall || breadth == breadths.last else { continue }
            let batchStart = monotonicSeconds()
            _ = try index.search(batch: batch, parameters: parameters)
            let batchMilliseconds = (monotonicSeconds() - batchStart) * 1000 / Double(batch.count)
            let figure = SearchFigures(
                index: kind, buildSeconds: buildSeconds, buildCPUSeconds: buildCPUSeconds, memoryBytes: memory,
                singleP50Milliseconds: p50, singleP99Milliseconds: p99, batchMillisecondsPerQuery: batchMilliseconds,
                recall: pointRecall, exactListFraction: Self.exactFraction(results, truth), searchBreadth: breadth,
                sweep: sweep, results: results
            )
            log("\(kind.rawValue): p50 \(rounded(p50)) ms, p99 \(rounded(p99)) ms, batch \(rounded(batchMilliseconds)) ms/query, recall \(pointRecall)")
            return figure
        }
        preconditionFailure("the last breadth always reports")
    }

    /// Median and 99th-percentile milliseconds of searching `probes` one at a time, and the results.
    public static func latencies(_ index: any TemplateIndex, _ probes: [[Float]], _ parameters: SearchParameters) throws(MatchingError) -> (Double, Double, [[SearchHit]]) {
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

    /// Mean recall@k of `results` against `truth` (by template identifier).
    public static func recall(_ results: [[SearchHit]], _ truth: [[SearchHit]]) -> Double {
        var found = 0
        var expected = 0
        for (hits, exact) in zip(results, truth) {
            let wanted = Set(exact.map(\.id))
            expected += wanted.count
            found += hits.filter { wanted.contains($0.id) }.count
        }
        return expected == 0 ? 1 : Double(found) / Double(expected)
    }

    /// Fraction of probes whose hit list equals the exact one, scores included.
    public static func exactFraction(_ results: [[SearchHit]], _ truth: [[SearchHit]]) -> Double {
        Double(zip(results, truth).filter { $0.0 == $0.1 }.count) / Double(max(1, results.count))
    }
}

/// Exact float top-k of every probe over a gallery added slice by slice: each slice is searched
/// by an exact float index of its own and the lists are merged (ties to the earlier row, as in
/// one index, since identifiers follow rows).
struct ExactTruth {
    let probes: [[Float]]
    let k: Int
    private(set) var hits: [[SearchHit]]

    init(probes: [[Float]], k: Int) {
        self.probes = probes
        self.k = k
        hits = Array(repeating: [], count: probes.count)
    }

    /// The truth for a whole benchmark gallery.
    init(_ benchmark: SearchBenchmark) throws(MatchingError) {
        self.init(probes: Array(benchmark.probes.prefix(benchmark.configuration.singleProbes)), k: benchmark.configuration.k)
        try benchmark.forEachSlice { (slice) throws(MatchingError) in try add(slice) }
    }

    mutating func add(_ slice: TemplateBatch) throws(MatchingError) {
        let index = try FlatIndex(dimension: slice.dimension, encoding: .float32)
        try index.insert(slice)
        let found = try index.search(batch: Array(probes), parameters: SearchParameters(k: k))
        for probe in hits.indices {
            hits[probe] = Array((hits[probe] + found[probe]).sorted { a, b in
                a.score != b.score ? a.score > b.score : a.id < b.id
            }.prefix(k))
        }
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
