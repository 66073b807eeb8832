import Synchronization

/// Link lists for one block of graph nodes (node number = store row), in memory that never moves.
///
/// A list is a count word followed by neighbour slots, all atomics: writers (holding the list's
/// lock, bit 31 of the count word) store slots then release the count; readers load with
/// acquire and may see a mix of old and new neighbours, which only perturbs the approximate
/// search, never memory safety: every slot always holds a node whose data was published.
final class LinkChunk: @unchecked Sendable {
    static let lockBit: UInt32 = 1 << 31

    let baseWidth: Int
    let upperWidth: Int
    /// Level-0 lists: `rowCapacity * baseWidth` words.
    let base: UnsafeMutablePointer<Atomic<UInt32>>
    /// Levels: written before the node is linked anywhere.
    let levels: UnsafeMutablePointer<UInt8>
    /// Lists for levels 1...level, `level * upperWidth` words; nil for level-0 nodes.
    let upper: UnsafeMutablePointer<UnsafeMutablePointer<Atomic<UInt32>>?>

    init(neighbours: Int) {
        baseWidth = 1 + 2 * neighbours
        upperWidth = 1 + neighbours
        let rows = StoreChunk.rowCapacity
        base = .allocate(capacity: rows * baseWidth)
        for word in 0 ..< rows * baseWidth { (base + word).initialize(to: Atomic(0)) }
        levels = .allocate(capacity: rows)
        levels.initialize(repeating: 0, count: rows)
        upper = .allocate(capacity: rows)
        upper.initialize(repeating: nil, count: rows)
    }

    deinit {
        let rows = StoreChunk.rowCapacity
        for offset in 0..<rows {
            if let lists = upper[offset] {
                let words = Int(levels[offset]) * upperWidth
                lists.deinitialize(count: words)
                lists.deallocate()
            }
        }
        base.deinitialize(count: rows * baseWidth)
        base.deallocate()
        levels.deallocate()
        upper.deallocate()
    }

    /// Gives a node its level and empty upper lists (before it is linked).
    func prepare(offset: Int, level: Int) {
        levels[offset] = UInt8(level)
        guard level > 0 else { return }
        let words = level * upperWidth
        let lists = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: words)
        for word in 0..<words { (lists + word).initialize(to: Atomic(0)) }
        upper[offset] = lists
    }

    @inline(__always)
    func list(offset: Int, level: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        level == 0 ? base + offset * baseWidth : upper[offset]! + (level - 1) * upperWidth
    }
}

/// The list addresses of one `LinkChunk`.
struct LinkColumns {
    let base: UnsafeMutablePointer<Atomic<UInt32>>
    let levels: UnsafeMutablePointer<UInt8>
    let upper: UnsafeMutablePointer<UnsafeMutablePointer<Atomic<UInt32>>?>
}

/// The list addresses of every chunk, so searches reach a list without reference counting on
/// the shared chunk objects.
typealias LinkTable = AddressTable<LinkColumns>

extension AddressTable where Columns == LinkColumns {
    convenience init(_ chunks: [LinkChunk]) {
        self.init(chunks) { LinkColumns(base: $0.base, levels: $0.levels, upper: $0.upper) }
    }
}

/// The layered proximity graph of an HNSW index, over the rows of a `TemplateStore`.
final class HNSWGraph: Sendable {
    let neighbours: Int
    let constructionBreadth: Int
    /// The chunks, and their addresses (replaced whenever a chunk is added).
    private let chunks = Mutex<(chunks: [LinkChunk], table: LinkTable)>(([], LinkTable([])))
    /// Entry node (low 32 bits) and top level (high 32 bits); `UInt64.max` while empty.
    private let entry = Atomic<UInt64>(.max)
    private let levelScale: Double
    let seed: UInt64

    init(neighbours: Int, constructionBreadth: Int, seed: UInt64) {
        self.neighbours = neighbours
        self.constructionBreadth = constructionBreadth
        self.seed = seed
        levelScale = 1 / _logarithm(Double(neighbours))
    }

    /// A consistent view of the graph for one search or insertion.
    ///
    /// `@unchecked Sendable`: `columns` is an address inside `table`, which the view keeps alive,
    /// as `chunks` keeps the lists; lists are read and written as `LinkChunk` describes.
    struct View: @unchecked Sendable {
        let chunks: [LinkChunk]
        let entry: UInt64
        private let table: LinkTable
        private let columns: UnsafeMutablePointer<LinkColumns>
        private let baseWidth: Int
        private let upperWidth: Int

        init(chunks: [LinkChunk], table: LinkTable, entry: UInt64, neighbours: Int) {
            self.chunks = chunks
            self.table = table
            self.entry = entry
            columns = table.columns
            baseWidth = 1 + 2 * neighbours
            upperWidth = 1 + neighbours
        }

        /// A view of no graph (for code that needs a `LayerSearch` only for similarities).
        static let empty = View(chunks: [], table: LinkTable([]), entry: .max, neighbours: 1)

        var isEmpty: Bool { entry == .max }
        var entryNode: Int { Int(entry & 0xFFFF_FFFF) }
        var topLevel: Int { Int(entry >> 32) }

        @inline(__always)
        func chunk(_ node: Int) -> LinkChunk { chunks[node >> StoreChunk.rowShift] }

        @inline(__always)
        func level(of node: Int) -> Int { Int(columns[node >> StoreChunk.rowShift].levels[node & StoreChunk.rowMask]) }

        @inline(__always)
        func list(_ node: Int, level: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
            let chunk = columns[node >> StoreChunk.rowShift]
            let offset = node & StoreChunk.rowMask
            return level == 0 ? chunk.base + offset &* baseWidth : chunk.upper[offset]! + (level &- 1) &* upperWidth
        }
    }

    func view() -> View {
        // Chunks first: an entry never names a node whose chunk a reader cannot see.
        let (chunks, table) = self.chunks.withLock { $0 }
        return View(chunks: chunks, table: table, entry: entry.load(ordering: .acquiring), neighbours: neighbours)
    }

    /// Makes sure link storage exists for rows below `rowCount`.
    func reserve(rowCount: Int) {
        chunks.withLock { state in
            guard state.chunks.count << StoreChunk.rowShift < rowCount else { return }
            while state.chunks.count << StoreChunk.rowShift < rowCount { state.chunks.append(LinkChunk(neighbours: neighbours)) }
            state.table = LinkTable(state.chunks)
        }
    }

    /// The level of a new node: geometric with ratio 1/M, seeded per row so builds repeat.
    func randomLevel(row: Int) -> Int {
        var generator = SeededGenerator(seed: seed ^ (UInt64(row) &* 0x9E37_79B9_7F4A_7C15))
        let uniform = Double.random(in: Double.leastNonzeroMagnitude ..< 1, using: &generator)
        return min(Int(-_logarithm(uniform) * levelScale), 15)
    }

    /// Raises the entry point to `node` if its level is above the current top (or the graph is empty).
    func offerEntry(node: Int, level: Int) {
        var current = entry.load(ordering: .acquiring)
        while current == .max || level > Int(current >> 32) {
            let proposed = UInt64(level) << 32 | UInt64(node)
            let (exchanged, original) = entry.compareExchange(expected: current, desired: proposed, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// Sets the entry directly (snapshot loading).
    func restoreEntry(_ packed: UInt64) { entry.store(packed, ordering: .releasing) }
    var packedEntry: UInt64 { entry.load(ordering: .acquiring) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _logarithm(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func yieldThread() { _ = sched_yield() }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _logarithm(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func yieldThread() { _ = sched_yield() }
#endif

/// Link-list access shared by search and construction.
enum LinkList {
    static let countMask: UInt32 = ~LinkChunk.lockBit

    @inline(__always)
    static func count(_ list: UnsafeMutablePointer<Atomic<UInt32>>) -> Int {
        Int(list[0].load(ordering: .acquiring) & countMask)
    }

    @inline(__always)
    static func neighbour(_ list: UnsafeMutablePointer<Atomic<UInt32>>, _ index: Int) -> Int {
        Int(list[1 + index].load(ordering: .acquiring))
    }

    /// Takes the list's lock; returns the neighbour count.
    @inline(__always)
    static func lock(_ list: UnsafeMutablePointer<Atomic<UInt32>>) -> Int {
        var spins = 0
        while true {
            let word = list[0].load(ordering: .relaxed)
            if word & LinkChunk.lockBit == 0 {
                let (exchanged, _) = list[0].compareExchange(expected: word, desired: word | LinkChunk.lockBit, ordering: .acquiring)
                if exchanged { return Int(word) }
            }
            spins += 1
            if spins > 64 { yieldThread() }
        }
    }

    /// Writes neighbours and releases the lock by publishing the new count.
    @inline(__always)
    static func store(_ list: UnsafeMutablePointer<Atomic<UInt32>>, _ nodes: some Collection<UInt32>) {
        var index = 1
        for node in nodes {
            list[index].store(node, ordering: .releasing)
            index += 1
        }
        list[0].store(UInt32(nodes.count), ordering: .releasing)
    }

    /// Releases the lock without changing the list.
    @inline(__always)
    static func unlock(_ list: UnsafeMutablePointer<Atomic<UInt32>>, count: Int) {
        list[0].store(UInt32(count), ordering: .releasing)
    }
}
