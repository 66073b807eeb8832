import Synchronization

/// Construction and search settings of an HNSW graph (Malkov & Yashunin, 2016).
public struct HNSWConfiguration: Sendable, Equatable {
    /// Links per node and level (`M`); level 0 keeps up to `2 * M`.
    public var neighbours: Int
    /// Beam width while inserting (`efConstruction`).
    public var constructionBreadth: Int
    /// Default beam width while searching (`efSearch`); `SearchParameters.searchBreadth` overrides it.
    public var searchBreadth: Int
    /// Threads used to insert a batch.
    public var buildThreads: Int
    /// Seed for node levels, so equal inputs build equal graphs on one thread.
    public var seed: UInt64
    /// Walk the graph (while building and searching) on int8 codes instead of float vectors:
    /// a quarter of the memory traffic per visited node, which is what graph search waits on.
    /// Final candidates are always re-scored from the float vectors. Costs 132 bytes per template.
    public var quantisedTraversal: Bool

    /// Creates a configuration; the defaults match common FAISS settings (M 32, efConstruction 200).
    public init(
        neighbours: Int = 32, constructionBreadth: Int = 200, searchBreadth: Int = 64, buildThreads: Int? = nil,
        seed: UInt64 = 42, quantisedTraversal: Bool = true
    ) {
        self.quantisedTraversal = quantisedTraversal
        self.neighbours = neighbours
        self.constructionBreadth = constructionBreadth
        self.searchBreadth = searchBreadth
        self.buildThreads = buildThreads ?? Parallel.processorCount
        self.seed = seed
    }

    func validated() throws(MatchingError) -> HNSWConfiguration {
        guard (2...256).contains(neighbours) else {
            throw .invalidParameter(name: "neighbours", reason: "must be in 2...256, got \(neighbours)")
        }
        guard constructionBreadth >= 1 else {
            throw .invalidParameter(name: "constructionBreadth", reason: "must be at least 1, got \(constructionBreadth)")
        }
        guard searchBreadth >= 1 else {
            throw .invalidParameter(name: "searchBreadth", reason: "must be at least 1, got \(searchBreadth)")
        }
        guard buildThreads >= 1 else {
            throw .invalidParameter(name: "buildThreads", reason: "must be at least 1, got \(buildThreads)")
        }
        return self
    }
}

/// The store and graph an HNSW index serves from; replaced whole by compaction.
final class HNSWCore: Sendable {
    let store: TemplateStore
    let graph: HNSWGraph

    init(store: TemplateStore, graph: HNSWGraph) {
        self.store = store
        self.graph = graph
    }
}

/// Approximate search on a hierarchical navigable small-world graph: sub-linear in the gallery
/// size, for galleries where even an int8 scan is too slow. Recall against exact search depends
/// on `searchBreadth`; measure it on your data (see `runSearchBenchmark`).
///
/// Inserts link new nodes while searches run (lists are read without locks, see `LinkChunk`);
/// batches are inserted on `buildThreads` threads. Removed templates stay in the graph as
/// waypoints but are never returned; `compact()` drops them and rebuilds the graph.
public final class HNSWIndex: TemplateIndex {
    /// Components per template.
    public let dimension: Int
    /// Construction and default search settings.
    public let configuration: HNSWConfiguration

    private let current: Mutex<HNSWCore>
    private let writeLock = Mutex(())
    private let visitedPool = VisitedPool()

    /// Creates an empty index.
    public init(dimension: Int = 128, configuration: HNSWConfiguration = HNSWConfiguration()) throws(MatchingError) {
        self.dimension = dimension
        self.configuration = try configuration.validated()
        let store = try TemplateStore(dimension: dimension, keepsCodes: configuration.quantisedTraversal)
        current = Mutex(HNSWCore(store: store, graph: Self.makeGraph(configuration)))
    }

    init(core: HNSWCore, configuration: HNSWConfiguration) {
        dimension = core.store.dimension
        self.configuration = configuration
        current = Mutex(core)
    }

    private static func makeGraph(_ configuration: HNSWConfiguration) -> HNSWGraph {
        HNSWGraph(neighbours: configuration.neighbours, constructionBreadth: configuration.constructionBreadth, seed: configuration.seed)
    }

    var core: HNSWCore { current.withLock { $0 } }

    /// Runs `body` with inserts, removals and compaction held off (snapshots).
    func withWritesPaused<Failure: Error>(_ body: (HNSWCore, StoreView) throws(Failure) -> Void) throws(Failure) {
        try writeLock.withLock { (_) throws(Failure) in
            let core = self.core
            try core.store.withWritesPaused { (view) throws(Failure) in try body(core, view) }
        }
    }

    public var count: Int { core.store.liveCount }

    public func contains(_ id: TemplateID) -> Bool { core.store.contains(id) }

    public func insert(_ batch: TemplateBatch) throws(MatchingError) {
        try writeLock.withLock { (_) throws(MatchingError) in
            let core = self.core
            core.graph.reserve(rowCount: core.store.view().rowCount + batch.count)
            let rows: Range<Int>
            do throws(StoreAppendFailure) {
                rows = try core.store.append(batch)
            } catch {
                // Compaction holds the write lock too, so the store cannot be retired here.
                guard case let .invalid(reason) = error else { preconditionFailure("store retired under the write lock") }
                throw reason
            }
            Self.link(rows: rows, core: core, threads: configuration.buildThreads, pool: visitedPool)
        }
    }

    @discardableResult
    public func remove(_ ids: [TemplateID]) -> Int {
        while true {
            if let rows = core.store.remove(ids) { return rows.count }
        }
    }

    public func compact() {
        writeLock.withLock { _ in
            let old = self.core
            _ = old.store.compact { replacement, _ in
                let graph = Self.makeGraph(configuration)
                let rows = replacement.view().rowCount
                graph.reserve(rowCount: rows)
                let core = HNSWCore(store: replacement, graph: graph)
                Self.link(rows: 0..<rows, core: core, threads: configuration.buildThreads, pool: visitedPool)
                current.withLock { $0 = core }
            }
        }
    }

    public func search(_ probe: [Float], parameters: SearchParameters) throws(MatchingError) -> [SearchHit] {
        try search(batch: [probe], parameters: parameters)[0]
    }

    public func search(batch probes: [[Float]], parameters: SearchParameters) throws(MatchingError) -> [[SearchHit]] {
        let parameters = try parameters.validated()
        let queries = try ProbeMatrix(probes, dimension: dimension)
        let core = self.core
        // Store first, then graph: the graph's link storage then covers every row the store shows.
        let store = core.store.view()
        let search = LayerSearch(store: store, graph: core.graph.view())
        let breadth = max(parameters.searchBreadth ?? configuration.searchBreadth, parameters.k)
        let filter = parameters.filter
        let eligible: @Sendable (Int) -> Bool = { row in store.isEligible(row: row, filter: filter) }
        let quantised = core.store.keepsCodes
        if quantised { queries.quantise() }
        let workers = min(queries.count, Parallel.processorCount)
        let slots = WorkerSlots<[[SearchHit]]>(repeating: [], count: workers)
        let pool = visitedPool
        Parallel.run(workers: workers) { worker in
            var answers: [[SearchHit]] = []
            for query in Parallel.slice(queries.count, worker: worker, of: workers) {
                let probe = queries.probe(query)
                let graphQuery = GraphQuery(
                    floats: probe, codes: quantised ? queries.probeCodes(query) : nil, scale: quantised ? queries.scales[query] : 1
                )
                let found = pool.withSet(nodeCount: store.rowCount) { visited in
                    search.search(graphQuery, breadth: breadth, visited: visited, eligible: eligible)
                }
                // Walk scores are approximate (int8 codes, or a different summation order): every
                // candidate that could be in the exact top k given the error bound is re-scored
                // with the canonical float kernel, so scores equal a flat index's bit for bit.
                // Removals that landed during the walk are dropped here.
                let bound = quantised
                    ? store.maxCodeError + (1 + store.maxCodeError) * queries.errorNorms[query] + QuantisedScan.roundingSlack
                    : QuantisedScan.roundingSlack
                let ranked = found.sorted()
                var cutoff = parameters.minimumScore - bound
                if ranked.count >= parameters.k { cutoff = max(cutoff, ranked[parameters.k - 1].score - 2 * bound) }
                var best = TopK(capacity: parameters.k)
                for candidate in ranked where candidate.score >= cutoff {
                    let row = Int(candidate.row)
                    let score = VectorKernels.dot(probe, store.vector(row: row), dimension: store.dimension)
                    if score >= parameters.minimumScore, !store.isRemoved(row: row) { best.offer(score: score, row: candidate.row) }
                }
                answers.append(best.sorted().map { store.hit(row: Int($0.row), score: $0.score) })
            }
            slots[worker] = answers
        }
        return slots.all.flatMap { $0 }
    }

    /// Links store rows into the graph on `threads` threads.
    static func link(rows: Range<Int>, core: HNSWCore, threads: Int, pool: VisitedPool) {
        guard !rows.isEmpty else { return }
        let builder = GraphBuilder(core: core)
        var remaining = rows
        if core.graph.view().isEmpty {
            builder.insert(row: rows.lowerBound, pool: pool)
            remaining = rows.dropFirst()
        }
        // Insert in a scrambled order: a subject's templates usually arrive together, and two
        // threads inserting two of them at once would each miss the other (neither is linked
        // yet), leaving exactly the genuine matches poorly connected.
        let order = ScrambledOrder(count: remaining.count)
        let next = SharedCounter(0)
        let first = remaining.lowerBound
        let workers = min(threads, max(1, remaining.count / 64))
        Parallel.run(workers: workers) { _ in
            while true {
                let index = next.value.add(1, ordering: .relaxed).oldValue
                guard index < order.count else { return }
                builder.insert(row: first + order[index], pool: pool)
            }
        }
    }
}

/// A fixed permutation of 0..<count: i -> i * stride mod count, with stride coprime to count.
struct ScrambledOrder: Sendable {
    let count: Int
    private let stride: Int

    init(count: Int) {
        self.count = count
        var stride = 2_654_435_761 % max(count, 1)
        while count > 1 && gcd(stride, count) != 1 { stride += 1 }
        self.stride = max(stride, 1)
    }

    subscript(index: Int) -> Int { count <= 1 ? index : Int((UInt64(index) &* UInt64(stride)) % UInt64(count)) }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

/// A counter shared by worker threads.
final class SharedCounter: Sendable {
    let value: Atomic<Int>
    init(_ start: Int) { value = Atomic(start) }
}

/// Inserts nodes into an HNSW graph; safe to call from several threads at once.
struct GraphBuilder: Sendable {
    let core: HNSWCore

    func insert(row: Int, pool: VisitedPool) {
        let graph = core.graph
        let store = core.store.view()
        let level = graph.randomLevel(row: row)
        var view = graph.view()
        view.chunk(row).prepare(offset: row & StoreChunk.rowMask, level: level)
        if view.isEmpty {
            graph.offerEntry(node: row, level: level)
            view = graph.view()
            if view.entryNode == row { return }
        }
        let search = LayerSearch(store: store, graph: view)
        let vector = store.vector(row: row)
        var queryCodes = [Int16](repeating: 0, count: store.dimension)
        queryCodes.withUnsafeMutableBufferPointer { codes in
            let quantised = core.store.keepsCodes
                ? QuantisedVector.quantise(vector, dimension: store.dimension, levels: 32767, into: codes.baseAddress!)
                : QuantisedVector(scale: 1, errorNorm: 0)
            let query = GraphQuery(floats: vector, codes: core.store.keepsCodes ? UnsafePointer(codes.baseAddress!) : nil, scale: quantised.scale)
            var node = view.entryNode
            var score = search.similarity(query, node)
            var currentLevel = view.topLevel
            while currentLevel > level {
                (node, score) = search.greedy(query, from: node, score: score, level: currentLevel)
                currentLevel -= 1
            }
            let frontier = Frontier(capacity: graph.constructionBreadth * 4)
            // Choose neighbours level by level, top down; only then write this node's lists
            // (all levels) and after that the links back to it, so a concurrent search that
            // reaches the node at any level finds its lists below complete.
            var chosenPerLevel: [[(score: Float, row: UInt32)]] = []
            let topLinkLevel = min(level, view.topLevel)
            pool.withSet(nodeCount: store.rowCount) { visited in
                for linkLevel in stride(from: topLinkLevel, through: 0, by: -1) {
                    visited.reset(nodeCount: store.rowCount)
                    let found = search.beam(
                        query, from: node, score: score, breadth: graph.constructionBreadth, level: linkLevel,
                        visited: visited, frontier: frontier, eligible: nil
                    ).sorted().filter { Int($0.row) != row }
                    if let best = found.first {
                        node = Int(best.row)
                        score = best.score
                    }
                    // M links on every level, as in the authors' hnswlib: level-0 lists hold 2M
                    // (the paper's Mmax0) so that links back from later nodes fit before pruning.
                    chosenPerLevel.append(selectNeighbours(found, limit: graph.neighbours, store: store))
                }
            }
            for linkLevel in stride(from: 0, through: topLinkLevel, by: 1) {
                let ownList = view.list(row, level: linkLevel)
                _ = LinkList.lock(ownList)
                LinkList.store(ownList, chosenPerLevel[topLinkLevel - linkLevel].map(\.row))
            }
            for linkLevel in stride(from: 0, through: topLinkLevel, by: 1) {
                let capacity = linkLevel == 0 ? 2 * graph.neighbours : graph.neighbours
                for neighbour in chosenPerLevel[topLinkLevel - linkLevel] {
                    connect(Int(neighbour.row), to: row, level: linkLevel, capacity: capacity, view: view, store: store)
                }
            }
        }
        graph.offerEntry(node: row, level: level)
    }

    /// The HNSW heuristic: walk candidates best first and keep one only if it is closer to the
    /// query than to every neighbour already kept, which spreads links over directions.
    @_optimize(speed)
    func selectNeighbours(_ candidates: [(score: Float, row: UInt32)], limit: Int, store: StoreView) -> [(score: Float, row: UInt32)] {
        var chosen: [(score: Float, row: UInt32)] = []
        chosen.reserveCapacity(limit)
        var chosenRows: [Int] = []
        chosenRows.reserveCapacity(limit)
        let search = LayerSearch(store: store, graph: .empty)
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: store.dimension) { scratch in
            for candidate in candidates {
                if chosen.count >= limit { break }
                let query = storedQuery(row: Int(candidate.row), store: store, scratch: scratch.baseAddress!)
                // Compare with the kept neighbours four at a time (their loads overlap).
                var keep = true
                var index = 0
                chosenRows.withUnsafeBufferPointer { kept in
                    while keep && index + 4 <= kept.count {
                        let similarities = search.similarities(query, kept[index], kept[index + 1], kept[index + 2], kept[index + 3])
                        if any(similarities .> SIMD4(repeating: candidate.score)) { keep = false }
                        index += 4
                    }
                    while keep && index < kept.count {
                        if search.similarity(query, kept[index]) > candidate.score { keep = false }
                        index += 1
                    }
                }
                if keep {
                    chosen.append(candidate)
                    chosenRows.append(Int(candidate.row))
                }
            }
        }
        return chosen
    }

    /// A stored row as a graph query: its float vector, and its int8 code widened to int16 when
    /// the store keeps codes (pairwise similarities during construction then read codes only).
    @_optimize(speed)
    private func storedQuery(row: Int, store: StoreView, scratch: UnsafeMutablePointer<Int16>) -> GraphQuery {
        guard core.store.keepsCodes else { return GraphQuery(floats: store.vector(row: row), codes: nil, scale: 1) }
        let code = store.code(row: row)
        let source = UnsafeRawPointer(code.codes)
        let destination = UnsafeMutableRawPointer(scratch)
        for offset in stride(from: 0, to: store.dimension, by: 16) {
            let bytes = source.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            destination.storeBytes(of: VectorKernels.widen(bytes.lowHalf), toByteOffset: offset * 2, as: SIMD8<Int16>.self)
            destination.storeBytes(of: VectorKernels.widen(bytes.highHalf), toByteOffset: offset * 2 + 16, as: SIMD8<Int16>.self)
        }
        return GraphQuery(floats: store.vector(row: row), codes: UnsafePointer(scratch), scale: code.scale)
    }

    /// Adds `newRow` to `node`'s list at `level`, pruning with the heuristic when full.
    @_optimize(speed)
    private func connect(_ node: Int, to newRow: Int, level: Int, capacity: Int, view: HNSWGraph.View, store: StoreView) {
        let list = view.list(node, level: level)
        let count = LinkList.lock(list)
        if count < capacity {
            list[1 + count].store(UInt32(newRow), ordering: .releasing)
            LinkList.unlock(list, count: count + 1)
            return
        }
        let search = LayerSearch(store: store, graph: view)
        var candidates: [(score: Float, row: UInt32)] = []
        candidates.reserveCapacity(count + 1)
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: store.dimension) { scratch in
            let query = storedQuery(row: node, store: store, scratch: scratch.baseAddress!)
            candidates.append((search.similarity(query, newRow), UInt32(newRow)))
            var index = 0
            while index + 4 <= count {
                let rows = (LinkList.neighbour(list, index), LinkList.neighbour(list, index + 1),
                            LinkList.neighbour(list, index + 2), LinkList.neighbour(list, index + 3))
                let similarities = search.similarities(query, rows.0, rows.1, rows.2, rows.3)
                candidates.append((similarities[0], UInt32(rows.0)))
                candidates.append((similarities[1], UInt32(rows.1)))
                candidates.append((similarities[2], UInt32(rows.2)))
                candidates.append((similarities[3], UInt32(rows.3)))
                index += 4
            }
            while index < count {
                let neighbour = LinkList.neighbour(list, index)
                candidates.append((search.similarity(query, neighbour), UInt32(neighbour)))
                index += 1
            }
        }
        candidates.sort { $0.score > $1.score }
        let kept = selectNeighbours(candidates, limit: capacity, store: store)
        LinkList.store(list, kept.map(\.row))
    }
}
