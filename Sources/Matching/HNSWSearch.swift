import CMatchingPrefetch
import Synchronization

/// Marks visited nodes for one search with a generation number, so clearing is O(1).
/// Owned by one thread at a time (handed out by `VisitedPool`).
final class VisitedSet: @unchecked Sendable {
    private var tags: UnsafeMutablePointer<UInt16>
    private var capacity: Int
    private var generation: UInt16 = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1024)
        tags = .allocate(capacity: self.capacity)
        tags.initialize(repeating: 0, count: self.capacity)
    }

    deinit { tags.deallocate() }

    /// Forgets every mark and makes room for nodes below `nodeCount`.
    func reset(nodeCount: Int) {
        if nodeCount > capacity {
            tags.deallocate()
            capacity = max(nodeCount, capacity * 2)
            tags = .allocate(capacity: capacity)
            tags.initialize(repeating: 0, count: capacity)
            generation = 0
        }
        generation &+= 1
        if generation == 0 {
            tags.update(repeating: 0, count: capacity)
            generation = 1
        }
    }

    /// Asks for a node's mark to be brought into cache.
    @inline(__always)
    func prefetch(_ node: Int) { biomatch_prefetch(tags + node) }

    /// Marks a node; returns false when it was already marked.
    @inline(__always)
    func insert(_ node: Int) -> Bool {
        if tags[node] == generation { return false }
        tags[node] = generation
        return true
    }
}

/// Reuses visited sets between searches (each is as large as the gallery).
final class VisitedPool: Sendable {
    private let sets = Mutex<[VisitedSet]>([])

    func withSet<Result>(nodeCount: Int, _ body: (VisitedSet) -> Result) -> Result {
        let set = sets.withLock { $0.popLast() } ?? VisitedSet(capacity: nodeCount)
        set.reset(nodeCount: nodeCount)
        let result = body(set)
        sets.withLock { $0.append(set) }
        return result
    }
}

/// An unbounded max-heap of (score, node): the frontier of a layer search, best first; plus
/// scratch space for the node being expanded. Owned by one search at a time; raw buffers
/// because these few operations run for every visited node.
final class Frontier {
    private var scores: UnsafeMutablePointer<Float>
    private var nodes: UnsafeMutablePointer<UInt32>
    private var capacity: Int
    private(set) var count = 0
    /// Unvisited neighbours of the node being expanded.
    let pending: UnsafeMutablePointer<Int>

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        scores = .allocate(capacity: self.capacity)
        nodes = .allocate(capacity: self.capacity)
        pending = .allocate(capacity: 1024)
    }

    deinit {
        scores.deallocate()
        nodes.deallocate()
        pending.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// The best node still waiting (frontier not empty).
    var topNode: Int { Int(nodes[0]) }

    func removeAll() { count = 0 }

    @_optimize(speed)
    func push(_ score: Float, _ node: UInt32) {
        if count == capacity { grow() }
        var child = count
        count += 1
        while child > 0 {
            let parent = (child - 1) >> 1
            guard score > scores[parent] else { break }
            scores[child] = scores[parent]
            nodes[child] = nodes[parent]
            child = parent
        }
        scores[child] = score
        nodes[child] = node
    }

    @_optimize(speed)
    func pop() -> (score: Float, node: UInt32) {
        let top = (scores[0], nodes[0])
        count -= 1
        guard count > 0 else { return top }
        let lastScore = scores[count]
        let lastNode = nodes[count]
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            var best = left
            if left + 1 < count, scores[left + 1] > scores[left] { best = left + 1 }
            guard scores[best] > lastScore else { break }
            scores[parent] = scores[best]
            nodes[parent] = nodes[best]
            parent = best
        }
        scores[parent] = lastScore
        nodes[parent] = lastNode
        return top
    }

    private func grow() {
        let larger = capacity * 2
        let newScores = UnsafeMutablePointer<Float>.allocate(capacity: larger)
        let newNodes = UnsafeMutablePointer<UInt32>.allocate(capacity: larger)
        newScores.update(from: scores, count: count)
        newNodes.update(from: nodes, count: count)
        scores.deallocate()
        nodes.deallocate()
        scores = newScores
        nodes = newNodes
        capacity = larger
    }
}

/// A probe as a graph walk sees it: its unit float vector and, when the graph is walked on
/// int8 codes, its int16 codes and their scale.
struct GraphQuery {
    let floats: UnsafePointer<Float>
    let codes: UnsafePointer<Int16>?
    let scale: Float
}

/// Greedy and beam searches over one consistent view of the graph and its store.
struct LayerSearch {
    let store: StoreView
    let graph: HNSWGraph.View
    /// Read once here rather than on every similarity.
    let accelerated = VectorKernels.accelerated

    /// Similarity used to walk the graph: approximate (int8 codes) when the query carries codes.
    @inline(__always)
    func similarity(_ query: GraphQuery, _ node: Int) -> Float {
        if let codes = query.codes {
            let code = store.code(row: node)
            return Float(VectorKernels.dot(codes, code.codes, dimension: store.dimension, accelerated: accelerated))
                * (query.scale * code.scale)
        }
        return VectorKernels.dot(query.floats, store.vector(row: node), dimension: store.dimension)
    }

    /// Asks for the memory a similarity of `node` will read: the code's cache lines and its
    /// scale, or the float vector's lines.
    @inline(__always)
    func prefetch(_ query: GraphQuery, _ node: Int) {
        let chunk = store.columns(ofRow: node)
        let offset = node & StoreChunk.rowMask
        if query.codes != nil, let codes = chunk.codes, let scales = chunk.codeScales {
            let code = UnsafeRawPointer(codes + offset &* store.dimension)
            var line = 0
            while line < store.dimension {
                biomatch_prefetch(code + line)
                line &+= 64
            }
            biomatch_prefetch(scales + offset)
        } else if let floats = chunk.floats {
            let vector = UnsafeRawPointer(floats + offset &* store.dimension)
            var line = 0
            while line < store.dimension &* 4 {
                biomatch_prefetch(vector + line)
                line &+= 64
            }
        }
    }

    @inline(__always)
    func similarities(_ query: GraphQuery, _ n0: Int, _ n1: Int, _ n2: Int, _ n3: Int) -> SIMD4<Float> {
        if let codes = query.codes {
            let c0 = store.code(row: n0), c1 = store.code(row: n1), c2 = store.code(row: n2), c3 = store.code(row: n3)
            let dots = VectorKernels.dot(
                codes, codes: c0.codes, c1.codes, c2.codes, c3.codes, dimension: store.dimension, accelerated: accelerated)
            return SIMD4<Float>(dots) * (SIMD4(c0.scale, c1.scale, c2.scale, c3.scale) * query.scale)
        }
        return VectorKernels.dot(
            query.floats, rows: store.vector(row: n0), store.vector(row: n1), store.vector(row: n2), store.vector(row: n3),
            dimension: store.dimension, accelerated: accelerated
        )
    }

    /// Follows the best neighbour at `level` until none improves.
    @_optimize(speed)
    func greedy(_ query: GraphQuery, from start: Int, score startScore: Float, level: Int) -> (node: Int, score: Float) {
        var node = start
        var best = startScore
        var improved = true
        let limit = store.rowCount
        while improved {
            improved = false
            let list = graph.list(node, level: level)
            let count = LinkList.count(list)
            for index in 0..<count {
                let neighbour = LinkList.neighbour(list, index)
                guard neighbour < limit else { continue }
                let score = similarity(query, neighbour)
                if score > best {
                    best = score
                    node = neighbour
                    improved = true
                }
            }
        }
        return (node, best)
    }

    /// Beam search at `level` keeping `breadth` results. With `eligible`, only eligible nodes
    /// enter the results but every node is still walked through.
    @_optimize(speed)
    func beam(
        _ query: GraphQuery, from start: Int, score startScore: Float, breadth: Int, level: Int,
        visited: VisitedSet, frontier: Frontier, eligible: ((Int) -> Bool)?
    ) -> TopK {
        var results = TopK(capacity: breadth)
        frontier.removeAll()
        let limit = store.rowCount
        _ = visited.insert(start)
        frontier.push(startScore, UInt32(start))
        if eligible?(start) ?? true { results.offer(score: startScore, row: UInt32(start)) }
        while !frontier.isEmpty {
            let (score, node) = frontier.pop()
            // Past the worst kept result nothing better can follow (unless a filter keeps the
            // results from filling, in which case the walk continues).
            if score < results.admissionScore && (results.isFull || eligible == nil) { break }
            // Ask for the next candidate's links now so that miss overlaps this node's work.
            if !frontier.isEmpty { biomatch_prefetch(graph.list(frontier.topNode, level: level)) }
            let list = graph.list(Int(node), level: level)
            let count = LinkList.count(list)
            for index in 0..<count {
                let neighbour = LinkList.neighbour(list, index)
                if neighbour < limit { visited.prefetch(neighbour) }
            }
            let pending = frontier.pending
            var pendingCount = 0
            for index in 0..<count {
                let neighbour = LinkList.neighbour(list, index)
                if neighbour < limit && visited.insert(neighbour) {
                    pending[pendingCount] = neighbour
                    pendingCount += 1
                }
            }
            // Start every vector's misses before the arithmetic needs any of them.
            for index in 0..<pendingCount { prefetch(query, pending[index]) }
            var index = 0
            while index < pendingCount {
                let scores: SIMD4<Float>
                let group = min(4, pendingCount - index)
                if group == 4 {
                    scores = similarities(query, pending[index], pending[index + 1], pending[index + 2], pending[index + 3])
                } else {
                    var partial = SIMD4<Float>(repeating: 0)
                    for lane in 0..<group { partial[lane] = similarity(query, pending[index + lane]) }
                    scores = partial
                }
                for lane in 0..<group {
                    let neighbour = pending[index + lane]
                    let neighbourScore = scores[lane]
                    if !results.isFull || neighbourScore > results.admissionScore {
                        frontier.push(neighbourScore, UInt32(neighbour))
                        if eligible?(neighbour) ?? true { results.offer(score: neighbourScore, row: UInt32(neighbour)) }
                    }
                }
                index += group
            }
        }
        return results
    }

    /// Descends from the entry point to level 0 and beam-searches there.
    func search(
        _ query: GraphQuery, breadth: Int, visited: VisitedSet, eligible: ((Int) -> Bool)?
    ) -> TopK {
        guard !graph.isEmpty else { return TopK(capacity: breadth) }
        var node = graph.entryNode
        var score = similarity(query, node)
        var level = graph.topLevel
        while level > 0 {
            (node, score) = greedy(query, from: node, score: score, level: level)
            level -= 1
        }
        let frontier = Frontier(capacity: breadth * 4)
        return beam(query, from: node, score: score, breadth: breadth, level: 0, visited: visited, frontier: frontier, eligible: eligible)
    }
}
