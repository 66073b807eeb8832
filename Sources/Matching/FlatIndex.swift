import Synchronization

/// Exhaustive search over every template, on all cores.
///
/// Three encodings:
/// - `.float32` compares the probe with every stored unit vector: exact, memory-bound
///   (512 bytes per 128-D template).
/// - `.int8Rerank` scans 8-bit codes (a quarter of the bytes) with integer arithmetic, keeps
///   every template whose approximate score could still reach the top k (the quantisation
///   error is bounded per query, see `QuantisedScan`), and re-scores those from the float
///   vectors. Its results are identical to `.float32`, scores included.
/// - `.int8` keeps only the codes (148 bytes per 128-D template with identifiers, against 660
///   for `.int8Rerank`): for galleries of tens of millions. Scores are the int8 approximations.
public final class FlatIndex: TemplateIndex {
    /// How templates are scanned.
    public enum Encoding: String, Sendable, CaseIterable {
        /// Float vectors only.
        case float32
        /// Int8 codes scanned, float vectors kept for exact re-ranking.
        case int8Rerank
        /// Int8 codes only. A score differs from the exact cosine by at most
        /// `E + (1 + E) * e` (E: the gallery's largest code error, about 0.01 for SFace-like
        /// templates; e: the probe's int16 error, about 1e-4), so templates whose exact scores lie
        /// closer than about twice that may swap ranks; threshold decisions move by as much.
        case int8
    }

    /// Components per template.
    public let dimension: Int
    /// The scan encoding.
    public let encoding: Encoding
    /// Galleries smaller than this are scanned on one thread (thread hand-off costs more).
    public static let defaultParallelThreshold = 16_384
    /// This index's threshold (tests lower it to exercise the parallel path on small galleries).
    let parallelThreshold: Int

    private let current: Mutex<TemplateStore>

    /// Creates an empty index for `dimension`-long templates (a positive multiple of 16).
    public convenience init(dimension: Int = 128, encoding: Encoding = .int8Rerank) throws(MatchingError) {
        try self.init(dimension: dimension, encoding: encoding, parallelThreshold: Self.defaultParallelThreshold)
    }

    init(dimension: Int, encoding: Encoding, parallelThreshold: Int) throws(MatchingError) {
        self.dimension = dimension
        self.encoding = encoding
        self.parallelThreshold = parallelThreshold
        current = Mutex(try TemplateStore(dimension: dimension, keepsCodes: encoding != .float32, keepsFloats: encoding != .int8))
    }

    init(store: TemplateStore, encoding: Encoding) {
        dimension = store.dimension
        self.encoding = encoding
        parallelThreshold = Self.defaultParallelThreshold
        current = Mutex(store)
    }

    var store: TemplateStore { current.withLock { $0 } }

    public var count: Int { store.liveCount }

    public func contains(_ id: TemplateID) -> Bool { store.contains(id) }

    public func insert(_ batch: TemplateBatch) throws(MatchingError) {
        while true {
            do {
                _ = try store.append(batch)
                return
            } catch {
                switch error {
                case .retired: continue
                case let .invalid(reason): throw reason
                }
            }
        }
    }

    @discardableResult
    public func remove(_ ids: [TemplateID]) -> Int {
        while true {
            if let rows = store.remove(ids) { return rows.count }
        }
    }

    public func compact() {
        while true {
            let store = self.store
            let swapped: Void? = store.compact { replacement, _ in current.withLock { $0 = replacement } }
            if swapped != nil { return }
        }
    }

    public func search(_ probe: [Float], parameters: SearchParameters) throws(MatchingError) -> [SearchHit] {
        try search(batch: [probe], parameters: parameters)[0]
    }

    public func search(batch probes: [[Float]], parameters: SearchParameters) throws(MatchingError) -> [[SearchHit]] {
        let parameters = try parameters.validated()
        let queries = try ProbeMatrix(probes, dimension: dimension)
        let view = store.view()
        let ranked: [[(score: Float, row: UInt32)]]
        switch encoding {
        case .float32:
            ranked = ExactScan.topK(view: view, queries: queries, parameters: parameters, parallelThreshold: parallelThreshold)
        case .int8Rerank:
            ranked = QuantisedScan.topK(view: view, queries: queries, parameters: parameters, parallelThreshold: parallelThreshold)
        case .int8:
            ranked = QuantisedScan.approximateTopK(view: view, queries: queries, parameters: parameters, parallelThreshold: parallelThreshold)
        }
        // A removal may have landed while the scan ran: never hand it out.
        return ranked.map { list in
            list.compactMap { view.isRemoved(row: Int($0.row)) ? nil : view.hit(row: Int($0.row), score: $0.score) }
        }
    }
}

/// Rows per block in batched scans: the block stays in cache while every probe passes over it.
private let batchBlockRows = 256

/// Exact float scans.
enum ExactScan {
    /// The best k (score, row) pairs for each query, best first, honouring threshold and filter.
    static func topK(view: StoreView, queries: ProbeMatrix, parameters: SearchParameters, parallelThreshold: Int) -> [[(score: Float, row: UInt32)]] {
        let workers = view.rowCount >= parallelThreshold ? Parallel.processorCount : 1
        let slots = WorkerSlots<[TopK]>(repeating: [], count: workers)
        Parallel.run(workers: workers) { worker in
            let range = Parallel.slice(view.rowCount, worker: worker, of: workers)
            slots[worker] = scan(view: view, rows: range, queries: queries, k: parameters.k,
                                 minimumScore: parameters.minimumScore, filter: parameters.filter)
        }
        return (0..<queries.count).map { query in
            var merged = TopK(capacity: parameters.k)
            for worker in 0..<workers { merged.merge(slots[worker][query]) }
            return merged.sorted()
        }
    }

    @_optimize(speed)
    static func scan(
        view: StoreView, rows: Range<Int>, queries: ProbeMatrix, k: Int, minimumScore: Float, filter: SearchFilter?
    ) -> [TopK] {
        let dimension = view.dimension
        let accelerated = VectorKernels.accelerated
        var heaps = [TopK](repeating: TopK(capacity: k), count: queries.count)
        var bars = [Float](repeating: -.infinity, count: queries.count)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: batchBlockRows)
        defer { scores.deallocate() }
        view.forEachRun(in: rows) { chunk, firstOffset, firstRow, length in
            guard let floats = chunk.floats else { return }
            // Blocks small enough to stay in cache while every probe passes over them; the scores
            // of a block land in a buffer first, so the kernel runs without branches.
            var blockStart = 0
            while blockStart < length {
                let blockLength = min(length - blockStart, batchBlockRows)
                let block = UnsafePointer(floats + (firstOffset + blockStart) * dimension)
                for query in 0..<queries.count {
                    VectorKernels.scores(
                        queries.probe(query), rows: block, count: blockLength, dimension: dimension, into: scores,
                        accelerated: accelerated)
                    var bar = max(bars[query], minimumScore.nextDown)
                    for index in 0..<blockLength where scores[index] > bar {
                        let row = firstRow + blockStart + index
                        if view.isEligible(row: row, filter: filter) {
                            heaps[query].offer(score: scores[index], row: UInt32(row))
                            bars[query] = heaps[query].admissionScore
                            bar = max(bars[query], minimumScore.nextDown)
                        }
                    }
                }
                blockStart += blockLength
            }
        }
        return heaps
    }
}
