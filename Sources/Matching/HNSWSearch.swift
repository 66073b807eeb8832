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

/// An unbounded max-heap of (score, node): the frontier of a layer search, best first.
struct Frontier {
    private var scores: [Float] = []
    private var nodes: [UInt32] = []
    /// Scratch for the unvisited neighbours of the node being expanded.
    var pending: [Int] = []

    init(capacity: Int) {
        scores.reserveCapacity(capacity)
        nodes.reserveCapacity(capacity)
        pending.reserveCapacity(512)
    }

    var isEmpty: Bool { scores.isEmpty }

    mutating func removeAll() {
        scores.removeAll(keepingCapacity: true)
        nodes.removeAll(keepingCapacity: true)
    }

    mutating func push(_ score: Float, _ node: UInt32) {
        scores.append(score)
        nodes.append(node)
        var child = scores.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard scores[child] > scores[parent] else { break }
            scores.swapAt(child, parent)
            nodes.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (score: Float, node: UInt32) {
        let top = (scores[0], nodes[0])
        let lastScore = scores.removeLast()
        let lastNode = nodes.removeLast()
        if !scores.isEmpty {
            scores[0] = lastScore
            nodes[0] = lastNode
            var parent = 0
            let count = scores.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                var best = left
                if left + 1 < count, scores[left + 1] > scores[left] { best = left + 1 }
                guard scores[best] > scores[parent] else { break }
                scores.swapAt(best, parent)
                nodes.swapAt(best, parent)
                parent = best
            }
        }
        return top
    }
}

/// Greedy and beam searches over one consistent view of the graph and its store.
struct LayerSearch {
    let store: StoreView
    let graph: HNSWGraph.View

    @inline(__always)
    func similarity(_ query: UnsafePointer<Float>, _ node: Int) -> Float {
        VectorKernels.dot(query, store.vector(row: node), dimension: store.dimension)
    }

    /// Follows the best neighbour at `level` until none improves.
    @_optimize(speed)
    func greedy(_ query: UnsafePointer<Float>, from start: Int, score startScore: Float, level: Int) -> (node: Int, score: Float) {
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
        _ query: UnsafePointer<Float>, from start: Int, score startScore: Float, breadth: Int, level: Int,
        visited: VisitedSet, frontier: inout Frontier, eligible: ((Int) -> Bool)?
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
            let list = graph.list(Int(node), level: level)
            let count = LinkList.count(list)
            frontier.pending.removeAll(keepingCapacity: true)
            for index in 0..<count {
                let neighbour = LinkList.neighbour(list, index)
                if neighbour < limit && visited.insert(neighbour) { frontier.pending.append(neighbour) }
            }
            let pendingCount = frontier.pending.count
            var index = 0
            while index < pendingCount {
                let scores: SIMD4<Float>
                let group = min(4, pendingCount - index)
                if group == 4 {
                    scores = frontier.pending.withUnsafeBufferPointer { pending in
                        VectorKernels.dot(
                            query, rows: store.vector(row: pending[index]), store.vector(row: pending[index + 1]),
                            store.vector(row: pending[index + 2]), store.vector(row: pending[index + 3]), dimension: store.dimension
                        )
                    }
                } else {
                    var partial = SIMD4<Float>(repeating: 0)
                    for lane in 0..<group { partial[lane] = similarity(query, frontier.pending[index + lane]) }
                    scores = partial
                }
                for lane in 0..<group {
                    let neighbour = frontier.pending[index + lane]
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
        _ query: UnsafePointer<Float>, breadth: Int, visited: VisitedSet, eligible: ((Int) -> Bool)?
    ) -> TopK {
        guard !graph.isEmpty else { return TopK(capacity: breadth) }
        var node = graph.entryNode
        var score = similarity(query, node)
        var level = graph.topLevel
        while level > 0 {
            (node, score) = greedy(query, from: node, score: score, level: level)
            level -= 1
        }
        var frontier = Frontier(capacity: breadth * 4)
        return beam(query, from: node, score: score, breadth: breadth, level: 0, visited: visited, frontier: &frontier, eligible: eligible)
    }
}
