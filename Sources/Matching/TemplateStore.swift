import Synchronization

/// A fixed block of rows whose memory never moves, so readers can keep using it while writers
/// fill later rows or later blocks.
///
/// Concurrency contract (why `@unchecked Sendable` is sound): a row's vector, code, identifier
/// and owner are written once, by the single writer, before the row count that covers it is
/// published under `TemplateStore`'s lock; readers only touch rows below the count they read
/// under that lock. Tombstones are atomics. Nothing is written after publication except
/// tombstones.
final class StoreChunk: @unchecked Sendable {
    static let rowShift = 16
    static let rowCapacity = 1 << rowShift
    static let rowMask = rowCapacity - 1

    let dimension: Int
    /// Unit float vectors; nil in code-only stores.
    let floats: UnsafeMutablePointer<Float>?
    let codes: UnsafeMutablePointer<Int8>?
    let codeScales: UnsafeMutablePointer<Float>?
    let ids: UnsafeMutablePointer<UInt64>
    let owners: UnsafeMutablePointer<UInt64>
    let tombstones: UnsafeMutablePointer<Atomic<UInt64>>
    static let tombstoneWords = rowCapacity / 64

    init(dimension: Int, keepsFloats: Bool, keepsCodes: Bool) {
        self.dimension = dimension
        let rows = Self.rowCapacity
        floats = keepsFloats
            ? UnsafeMutableRawPointer.allocate(byteCount: rows * dimension * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: rows * dimension)
            : nil
        if keepsCodes {
            codes = UnsafeMutableRawPointer.allocate(byteCount: rows * dimension, alignment: 64)
                .bindMemory(to: Int8.self, capacity: rows * dimension)
            codeScales = .allocate(capacity: rows)
        } else {
            codes = nil
            codeScales = nil
        }
        ids = .allocate(capacity: rows)
        owners = .allocate(capacity: rows)
        tombstones = .allocate(capacity: Self.tombstoneWords)
        for word in 0..<Self.tombstoneWords { (tombstones + word).initialize(to: Atomic(0)) }
    }

    deinit {
        floats.map { UnsafeMutableRawPointer($0).deallocate() }
        codes.map { UnsafeMutableRawPointer($0).deallocate() }
        codeScales?.deallocate()
        ids.deallocate()
        owners.deallocate()
        tombstones.deinitialize(count: Self.tombstoneWords)
        tombstones.deallocate()
    }

    @inline(__always)
    func isRemoved(offset: Int) -> Bool {
        tombstones[offset >> 6].load(ordering: .acquiring) & (1 << UInt64(offset & 63)) != 0
    }

    func markRemoved(offset: Int) {
        tombstones[offset >> 6].bitwiseOr(1 << UInt64(offset & 63), ordering: .releasing)
    }
}

/// The column addresses of one chunk.
struct ChunkColumns {
    let floats: UnsafeMutablePointer<Float>?
    let codes: UnsafeMutablePointer<Int8>?
    let codeScales: UnsafeMutablePointer<Float>?
    let ids: UnsafeMutablePointer<UInt64>
    let owners: UnsafeMutablePointer<UInt64>
    let tombstones: UnsafeMutablePointer<Atomic<UInt64>>

    init(_ chunk: StoreChunk) {
        floats = chunk.floats
        codes = chunk.codes
        codeScales = chunk.codeScales
        ids = chunk.ids
        owners = chunk.owners
        tombstones = chunk.tombstones
    }

    @inline(__always)
    func isRemoved(offset: Int) -> Bool {
        tombstones[offset >> 6].load(ordering: .acquiring) & (1 << UInt64(offset & 63)) != 0
    }
}

/// The addresses of every chunk's columns, in one buffer, so that hot loops reach a row (or a
/// graph node's links) without reference counting: the chunk objects are shared by all threads,
/// and retaining one from two cores at once makes its counter's cache line bounce between them
/// (measured: a third of graph construction time went to `swift_retain`/`swift_release`).
final class AddressTable<Columns>: @unchecked Sendable {
    let columns: UnsafeMutablePointer<Columns>
    let count: Int

    init<Chunk>(_ chunks: [Chunk], addresses: (Chunk) -> Columns) {
        count = chunks.count
        columns = .allocate(capacity: max(1, chunks.count))
        for (index, chunk) in chunks.enumerated() { (columns + index).initialize(to: addresses(chunk)) }
    }

    deinit {
        columns.deinitialize(count: count)
        columns.deallocate()
    }
}

/// The column addresses of every chunk of a store view.
typealias ColumnTable = AddressTable<ChunkColumns>

extension AddressTable where Columns == ChunkColumns {
    convenience init(_ chunks: [StoreChunk]) {
        self.init(chunks, addresses: ChunkColumns.init)
    }
}

/// What a reader sees of a store: the blocks and how many rows of them are complete.
///
/// `@unchecked Sendable`: besides immutable values it holds `columns`, an address inside
/// `table`, which the view keeps alive; the memory it leads to follows `StoreChunk`'s contract.
struct StoreView: @unchecked Sendable {
    let chunks: [StoreChunk]
    let rowCount: Int
    let dimension: Int
    /// Largest quantisation error norm of any row (0 without codes): the int8 score bound.
    let maxCodeError: Float
    /// Keeps `columns` alive; the chunks it points into are kept alive by `chunks`.
    private let table: ColumnTable
    private let columns: UnsafeMutablePointer<ChunkColumns>

    init(chunks: [StoreChunk], rowCount: Int, dimension: Int, maxCodeError: Float, table: ColumnTable? = nil) {
        self.chunks = chunks
        self.rowCount = rowCount
        self.dimension = dimension
        self.maxCodeError = maxCodeError
        let table = table ?? ColumnTable(chunks)
        self.table = table
        columns = table.columns
    }

    @inline(__always)
    func chunk(ofRow row: Int) -> StoreChunk { chunks[row >> StoreChunk.rowShift] }

    /// The column addresses of the chunk holding `row`.
    @inline(__always)
    func columns(ofRow row: Int) -> ChunkColumns { columns[row >> StoreChunk.rowShift] }

    /// The unit float vector of a row (stores that keep floats only).
    @inline(__always)
    func vector(row: Int) -> UnsafePointer<Float> {
        UnsafePointer(columns[row >> StoreChunk.rowShift].floats! + (row & StoreChunk.rowMask) &* dimension)
    }

    /// The int8 code of a row and its scale (stores that keep codes only).
    @inline(__always)
    func code(row: Int) -> (codes: UnsafePointer<Int8>, scale: Float) {
        let chunk = columns[row >> StoreChunk.rowShift]
        let offset = row & StoreChunk.rowMask
        return (UnsafePointer(chunk.codes! + offset &* dimension), chunk.codeScales![offset])
    }

    @inline(__always)
    func isRemoved(row: Int) -> Bool {
        columns[row >> StoreChunk.rowShift].isRemoved(offset: row & StoreChunk.rowMask)
    }

    func id(row: Int) -> TemplateID {
        TemplateID(columns[row >> StoreChunk.rowShift].ids[row & StoreChunk.rowMask])
    }

    func owner(row: Int) -> OwnerID {
        OwnerID(columns[row >> StoreChunk.rowShift].owners[row & StoreChunk.rowMask])
    }

    /// Whether the row may be returned: live and accepted by the filter.
    @inline(__always)
    func isEligible(row: Int, filter: SearchFilter?) -> Bool {
        let chunk = columns[row >> StoreChunk.rowShift]
        let offset = row & StoreChunk.rowMask
        if chunk.isRemoved(offset: offset) { return false }
        guard let filter else { return true }
        return filter.accepts(TemplateID(chunk.ids[offset]), OwnerID(chunk.owners[offset]))
    }

    /// Visits the rows `range` as runs that lie within one chunk: (chunk, first offset, first row, count).
    @inline(__always)
    func forEachRun(in range: Range<Int>, _ body: (StoreChunk, Int, Int, Int) -> Void) {
        var row = range.lowerBound
        while row < range.upperBound {
            let offset = row & StoreChunk.rowMask
            let length = min(range.upperBound - row, StoreChunk.rowCapacity - offset)
            body(chunks[row >> StoreChunk.rowShift], offset, row, length)
            row += length
        }
    }

    func hit(row: Int, score: Float) -> SearchHit {
        SearchHit(id: id(row: row), owner: owner(row: row), score: score)
    }
}

/// Append-only columnar storage for templates: unit float vectors and int8 codes (either or
/// both), identifiers, owners and tombstones, in blocks that never move.
///
/// One writer at a time (inserts, removals) under `writer`; any number of readers take a
/// `StoreView` under the short `published` lock and then read without locks.
final class TemplateStore: Sendable {
    /// Row numbers are UInt32 throughout (graph links, heaps).
    static let rowLimit = Int(UInt32.max) - 1

    let dimension: Int
    let keepsCodes: Bool
    /// False for code-only stores (a fifth of the memory; scores are approximate).
    let keepsFloats: Bool

    private struct WriterState {
        var chunks: [StoreChunk] = []
        var rowCount = 0
        var rowOfID: [TemplateID: UInt32] = [:]
        var maxCodeError: Float = 0
        /// Set when a compaction replaced this store; writers must go to the new one.
        var isRetired = false
    }

    private let writer = Mutex(WriterState())
    private let published: Mutex<StoreView>
    private let liveRows = Atomic<Int>(0)

    init(dimension: Int, keepsCodes: Bool, keepsFloats: Bool = true) throws(MatchingError) {
        guard dimension > 0, dimension % 16 == 0 else { throw .unsupportedDimension(dimension) }
        precondition(keepsCodes || keepsFloats, "a store keeps floats, codes or both")
        self.dimension = dimension
        self.keepsCodes = keepsCodes
        self.keepsFloats = keepsFloats
        published = Mutex(StoreView(chunks: [], rowCount: 0, dimension: dimension, maxCodeError: 0))
    }

    /// The rows complete now; later appends are not visible through it.
    func view() -> StoreView { published.withLock { $0 } }

    /// Live templates.
    var liveCount: Int { liveRows.load(ordering: .relaxed) }

    /// Whether a template is live.
    func contains(_ id: TemplateID) -> Bool { writer.withLock { $0.rowOfID[id] != nil } }

    /// The row of a live template.
    func row(of id: TemplateID) -> Int? { writer.withLock { $0.rowOfID[id].map(Int.init) } }

    var isRetired: Bool { writer.withLock { $0.isRetired } }

    /// Runs `body` with writers held off, on a view of every row written so far (snapshots).
    func withWritesPaused<Failure: Error>(_ body: (StoreView) throws(Failure) -> Void) throws(Failure) {
        try writer.withLock { (state) throws(Failure) in
            try body(StoreView(chunks: state.chunks, rowCount: state.rowCount, dimension: dimension, maxCodeError: state.maxCodeError))
        }
    }

    /// Checks a batch without changing anything.
    private func validate(_ batch: TemplateBatch, against state: WriterState) throws(MatchingError) {
        guard batch.dimension == dimension else {
            throw .dimensionMismatch(expected: dimension, actual: batch.dimension)
        }
        guard batch.owners.count == batch.ids.count, batch.vectors.count == batch.ids.count * dimension else {
            throw .malformedBatch(
                reason: "\(batch.ids.count) ids, \(batch.owners.count) owners, \(batch.vectors.count) floats for dimension \(dimension)"
            )
        }
        guard state.rowCount + batch.count <= Self.rowLimit else { throw .capacityExceeded(limit: Self.rowLimit) }
        var batchIDs = Set<TemplateID>(minimumCapacity: batch.count)
        for id in batch.ids {
            if state.rowOfID[id] != nil || !batchIDs.insert(id).inserted { throw .duplicateTemplate(id) }
        }
        try batch.vectors.withUnsafeBufferPointer { (values) throws(MatchingError) in
            for row in 0..<batch.count {
                var squared: Float = 0
                for index in row * dimension ..< (row + 1) * dimension {
                    let value = values[index]
                    guard value.isFinite else { throw .invalidVector(reason: "\(batch.ids[row]) contains \(value)") }
                    squared += value * value
                }
                guard squared > 0 else { throw .invalidVector(reason: "\(batch.ids[row]) has zero length") }
            }
        }
    }

    /// Appends a batch and publishes it; returns the new rows. Throws (adding nothing) when
    /// the batch is invalid, an identifier is live, or the store was retired by a compaction
    /// (`StoreRetired`, which the owning index handles by retrying on the new store).
    func append(_ batch: TemplateBatch) throws(StoreAppendFailure) -> Range<Int> {
        try writer.withLock { (state) throws(StoreAppendFailure) -> Range<Int> in
            if state.isRetired { throw .retired }
            do throws(MatchingError) {
                try validate(batch, against: state)
            } catch {
                throw .invalid(error)
            }
            let first = state.rowCount
            // Code-only stores normalise into scratch space and keep just the code.
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dimension)
            defer { scratch.deallocate() }
            batch.vectors.withUnsafeBufferPointer { values in
                for index in 0..<batch.count {
                    let row = first + index
                    if row >> StoreChunk.rowShift == state.chunks.count {
                        state.chunks.append(makeChunk())
                    }
                    let chunk = state.chunks[row >> StoreChunk.rowShift]
                    let offset = row & StoreChunk.rowMask
                    let destination = chunk.floats.map { $0 + offset * dimension } ?? scratch
                    // Validation guarantees a finite, non-zero vector, so this cannot throw.
                    try? VectorKernels.normalise(values[index * dimension ..< (index + 1) * dimension], into: destination)
                    if let codes = chunk.codes, let scales = chunk.codeScales {
                        let quantised = QuantisedVector.quantise(
                            destination, dimension: dimension, levels: 127, into: codes + offset * dimension
                        )
                        scales[offset] = quantised.scale
                        state.maxCodeError = max(state.maxCodeError, quantised.errorNorm)
                    }
                    chunk.ids[offset] = batch.ids[index].rawValue
                    chunk.owners[offset] = batch.owners[index].rawValue
                    state.rowOfID[batch.ids[index]] = UInt32(row)
                }
            }
            state.rowCount += batch.count
            liveRows.add(batch.count, ordering: .relaxed)
            publish(state)
            return first ..< state.rowCount
        }
    }

    private func makeChunk() -> StoreChunk {
        StoreChunk(dimension: dimension, keepsFloats: keepsFloats, keepsCodes: keepsCodes)
    }

    private func publish(_ state: borrowing WriterState) {
        let view = StoreView(chunks: state.chunks, rowCount: state.rowCount, dimension: dimension, maxCodeError: state.maxCodeError)
        published.withLock { $0 = view }
    }

    /// Marks templates removed (visible to every search that starts afterwards) and returns
    /// their rows; nil when the store was retired by a compaction.
    func remove(_ ids: [TemplateID]) -> [Int]? {
        writer.withLock { state -> [Int]? in
            if state.isRetired { return nil }
            var rows: [Int] = []
            for id in ids {
                guard let row = state.rowOfID.removeValue(forKey: id) else { continue }
                let row64 = Int(row)
                state.chunks[row64 >> StoreChunk.rowShift].markRemoved(offset: row64 & StoreChunk.rowMask)
                rows.append(row64)
            }
            liveRows.subtract(rows.count, ordering: .relaxed)
            return rows
        }
    }

    /// Copies the live rows, in order, into a new store, and retires this one so later writes
    /// fail here and go to the replacement. `body` runs while writers are held off, with the new
    /// store and, for each new row, the old row it came from: the owning index swaps its
    /// reference there so no write can slip between copy and swap.
    func compact<Result>(_ body: (TemplateStore, [UInt32]) -> Result) -> Result? {
        writer.withLock { state -> Result? in
            if state.isRetired { return nil }
            // Same configuration as self, so creating it cannot fail.
            let replacement = try! TemplateStore(dimension: dimension, keepsCodes: keepsCodes, keepsFloats: keepsFloats)
            var oldRows: [UInt32] = []
            oldRows.reserveCapacity(state.rowOfID.count)
            let view = StoreView(chunks: state.chunks, rowCount: state.rowCount, dimension: dimension, maxCodeError: state.maxCodeError)
            for row in 0..<state.rowCount where !view.isRemoved(row: row) { oldRows.append(UInt32(row)) }
            replacement.adoptRows(oldRows, from: view)
            state.isRetired = true
            return body(replacement, oldRows)
        }
    }

    /// Copies rows from another store's view into this (new, empty) store.
    private func adoptRows(_ rows: [UInt32], from source: StoreView) {
        writer.withLock { state in
            for (index, sourceRow) in rows.enumerated() {
                if index >> StoreChunk.rowShift == state.chunks.count {
                    state.chunks.append(makeChunk())
                }
                let chunk = state.chunks[index >> StoreChunk.rowShift]
                let offset = index & StoreChunk.rowMask
                let sourceChunk = source.chunk(ofRow: Int(sourceRow))
                let sourceOffset = Int(sourceRow) & StoreChunk.rowMask
                if let floats = chunk.floats, let sourceFloats = sourceChunk.floats {
                    (floats + offset * dimension).update(from: sourceFloats + sourceOffset * dimension, count: dimension)
                }
                if let codes = chunk.codes, let scales = chunk.codeScales,
                   let sourceCodes = sourceChunk.codes, let sourceScales = sourceChunk.codeScales {
                    (codes + offset * dimension).update(from: sourceCodes + sourceOffset * dimension, count: dimension)
                    scales[offset] = sourceScales[sourceOffset]
                }
                chunk.ids[offset] = sourceChunk.ids[sourceOffset]
                chunk.owners[offset] = sourceChunk.owners[sourceOffset]
                state.rowOfID[TemplateID(sourceChunk.ids[sourceOffset])] = UInt32(index)
            }
            state.rowCount = rows.count
            state.maxCodeError = source.maxCodeError
            liveRows.store(rows.count, ordering: .relaxed)
            publish(state)
        }
    }

    /// Fills a new, empty store from raw columns (snapshot loading): `fill` is called once per
    /// chunk with the chunk and the range of rows it must write; afterwards the identifier map
    /// is rebuilt and tombstones are applied.
    /// Returns false (leaving the store unusable) when two live rows share an identifier.
    func load<Failure: Error>(
        rowCount: Int, maxCodeError: Float, isRemoved: (Int) -> Bool,
        fill: (StoreChunk, Range<Int>) throws(Failure) -> Void
    ) throws(Failure) -> Bool {
        try writer.withLock { (state) throws(Failure) -> Bool in
            precondition(state.rowCount == 0, "load needs an empty store")
            var row = 0
            while row < rowCount {
                let chunk = makeChunk()
                let end = min(rowCount, row + StoreChunk.rowCapacity)
                try fill(chunk, row ..< end)
                state.chunks.append(chunk)
                row = end
            }
            state.rowCount = rowCount
            state.maxCodeError = maxCodeError
            // Chunk by chunk with the chunk held once: ten million rows are loaded at start-up.
            var rowOfID = [TemplateID: UInt32](minimumCapacity: rowCount)
            var live = 0
            for (chunkIndex, chunk) in state.chunks.enumerated() {
                let first = chunkIndex << StoreChunk.rowShift
                let ids = chunk.ids
                for offset in 0 ..< min(StoreChunk.rowCapacity, rowCount - first) {
                    if isRemoved(first + offset) {
                        chunk.markRemoved(offset: offset)
                    } else {
                        rowOfID[TemplateID(ids[offset])] = UInt32(first + offset)
                        live += 1
                    }
                }
            }
            state.rowOfID = rowOfID
            guard state.rowOfID.count == live else { return false }
            liveRows.store(live, ordering: .relaxed)
            publish(state)
            return true
        }
    }
}

/// Why `TemplateStore.append` added nothing.
enum StoreAppendFailure: Error {
    /// The batch was invalid.
    case invalid(MatchingError)
    /// A compaction replaced the store; retry on the index's current store.
    case retired
}
