#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Why a snapshot could not be written or read.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or created (`errno` attached).
    case cannotOpen(path: String, errno: Int32)
    /// A read or write failed part-way (`errno` attached).
    case ioFailed(path: String, errno: Int32)
    /// The file does not start with the snapshot signature.
    case notASnapshot(path: String)
    /// Written by a newer format version than this build reads.
    case unsupportedVersion(found: UInt32, supported: UInt32)
    /// The file is shorter than its header says.
    case truncated(path: String, expectedBytes: UInt64, actualBytes: UInt64)
    /// A section's bytes do not match the checksum recorded for them.
    case checksumMismatch(section: String)
    /// The content is self-inconsistent (a link past the last row, a repeated identifier, ...).
    case malformed(reason: String)
    /// The index kind cannot be written (only this module's indexes can).
    case unsupportedIndex(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code): "cannot open \(path): \(String(cString: strerror(code)))"
        case let .ioFailed(path, code): "I/O error on \(path): \(String(cString: strerror(code)))"
        case let .notASnapshot(path): "\(path) is not a BioMatch index snapshot"
        case let .unsupportedVersion(found, supported): "snapshot format \(found) is newer than this build's \(supported)"
        case let .truncated(path, expected, actual): "\(path) is truncated: \(actual) of \(expected) bytes"
        case let .checksumMismatch(section): "snapshot section \(section) is corrupt (checksum mismatch)"
        case let .malformed(reason): "snapshot is malformed: \(reason)"
        case let .unsupportedIndex(kind): "cannot snapshot an index of type \(kind)"
        }
    }
}

/// Saves and loads indexes as one binary file: a 4 KiB header (signature, format version, index
/// kind and settings, a table of sections with offsets, lengths and checksums, and the header's
/// own checksum) followed by 64-byte-aligned column sections copied straight from and into the
/// index's memory: identifiers, owners, removal bitmap, float vectors (absent for the code-only
/// flat index, kind 4), int8 codes and scales, graph levels, level-0 links, upper links. Loading
/// is a handful of large reads plus checksum and bounds checks and the identifier map, no
/// per-element parsing. Integers are little-endian.
public enum IndexSnapshot {
    /// The format version written, and the newest one read.
    public static let formatVersion: UInt32 = 1
    static let signature: [UInt8] = Array("BIOMIDX".utf8) + [0x1A]
    static let headerSize = 4096

    enum Kind: UInt32 {
        case flatFloat32 = 1, flatInt8 = 2, hnsw = 3, flatInt8Codes = 4

        /// Float vectors are stored (all kinds but the code-only flat index).
        var hasFloats: Bool { self != .flatInt8Codes }

        var flatEncoding: FlatIndex.Encoding? {
            switch self {
            case .flatFloat32: .float32
            case .flatInt8: .int8Rerank
            case .flatInt8Codes: .int8
            case .hnsw: nil
            }
        }
    }

    enum Section: UInt32, CaseIterable {
        case ids = 1, owners, removed, floats, codes, codeScales, levels, baseLinks, upperLinks

        var name: String { String(describing: self) }
    }

    /// Writes `index` to `path` atomically (a temporary file renamed over the target). Writers
    /// wait while it runs; searches do not.
    public static func save(_ index: any TemplateIndex, to path: String) throws(SnapshotError) {
        if let flat = index as? FlatIndex {
            let kind: Kind = switch flat.encoding {
            case .float32: .flatFloat32
            case .int8Rerank: .flatInt8
            case .int8: .flatInt8Codes
            }
            try flat.store.withWritesPaused { (view) throws(SnapshotError) in
                try write(path: path, kind: kind, view: view, graph: nil, hnsw: nil)
            }
        } else if let hnsw = index as? HNSWIndex {
            try hnsw.withWritesPaused { (core, view) throws(SnapshotError) in
                try write(path: path, kind: .hnsw, view: view, graph: core.graph, hnsw: hnsw.configuration)
            }
        } else {
            throw .unsupportedIndex(String(describing: type(of: index)))
        }
    }

    /// Reads an index written by `save`; its kind and settings come from the file.
    public static func load(from path: String) throws(SnapshotError) -> any TemplateIndex {
        let file = try SnapshotReader(path: path)
        defer { file.close() }
        let header = try file.header()
        let store: TemplateStore
        do {
            store = try TemplateStore(dimension: header.dimension, keepsCodes: header.hasCodes, keepsFloats: header.kind.hasFloats)
        } catch {
            throw .malformed(reason: error.description)
        }
        let rows = header.rowCount
        let dimension = header.dimension
        let removedWords = (rows + 63) / 64
        var removedBitmap = [UInt64](repeating: 0, count: removedWords)
        try withMutableBytes(of: &removedBitmap) { (bytes) throws(SnapshotError) in
            try file.readSection(.removed, header: header, expectedBytes: removedWords * 8) { (read) throws(SnapshotError) in
                try read(bytes)
            }
        }
        try file.readColumns(header: header, rows: rows, dimension: dimension, store: store, removedBitmap: removedBitmap)
        if let encoding = header.kind.flatEncoding { return FlatIndex(store: store, encoding: encoding) }
        switch header.kind {
        case .flatFloat32, .flatInt8, .flatInt8Codes:
            preconditionFailure("flat kinds returned above")
        case .hnsw:
            guard let configuration = header.hnsw else { throw .malformed(reason: "graph settings missing") }
            let graph = HNSWGraph(neighbours: configuration.neighbours, constructionBreadth: configuration.constructionBreadth, seed: configuration.seed)
            try file.readGraph(header: header, rows: rows, graph: graph)
            return HNSWIndex(core: HNSWCore(store: store, graph: graph), configuration: configuration)
        }
    }

    // MARK: Writing

    private static func write(path: String, kind: Kind, view: StoreView, graph: HNSWGraph?, hnsw: HNSWConfiguration?) throws(SnapshotError) {
        let rows = view.rowCount
        let dimension = view.dimension
        let graphView = graph?.view()
        // Upper-level link words per node with level > 0, in row order.
        var upperWords = 0
        if let graphView {
            for row in 0..<rows { upperWords += graphView.level(of: row) * graphView.chunk(row).upperWidth }
        }
        var plan: [(Section, Int)] = [(.ids, rows * 8), (.owners, rows * 8), (.removed, (rows + 63) / 64 * 8)]
        if kind.hasFloats { plan.append((.floats, rows * dimension * 4)) }
        let hasCodes = view.chunks.first?.codes != nil || kind == .flatInt8 || kind == .flatInt8Codes || (hnsw?.quantisedTraversal ?? false)
        if hasCodes { plan += [(.codes, rows * dimension), (.codeScales, rows * 4)] }
        if graphView != nil, let hnsw {
            let baseWidth = 1 + 2 * hnsw.neighbours
            plan += [(.levels, rows), (.baseLinks, rows * baseWidth * 4), (.upperLinks, upperWords * 4)]
        }
        var entries: [SectionEntry] = []
        var offset = headerSize
        for (section, length) in plan {
            entries.append(SectionEntry(section: section, offset: UInt64(offset), length: UInt64(length), checksum: 0))
            offset = (offset + length + 63) / 64 * 64
        }

        let temporary = path + ".partial"
        let writer = try SnapshotWriter(path: temporary)
        do throws(SnapshotError) {
            try writer.writeZeros(headerSize)
            for index in entries.indices {
                try writer.pad(to: Int(entries[index].offset))
                var checksum = Checksum64()
                let section = entries[index].section
                let emit = { (bytes: UnsafeRawBufferPointer) throws(SnapshotError) in
                    checksum.update(bytes)
                    try writer.write(bytes)
                }
                switch section {
                case .ids: try eachRun(view) { (chunk, count) throws(SnapshotError) in try emit(UnsafeRawBufferPointer(start: chunk.ids, count: count * 8)) }
                case .owners: try eachRun(view) { (chunk, count) throws(SnapshotError) in try emit(UnsafeRawBufferPointer(start: chunk.owners, count: count * 8)) }
                case .floats: try eachRun(view) { (chunk, count) throws(SnapshotError) in try emit(UnsafeRawBufferPointer(start: chunk.floats!, count: count * dimension * 4)) }
                case .codes: try eachRun(view) { (chunk, count) throws(SnapshotError) in try emit(UnsafeRawBufferPointer(start: chunk.codes!, count: count * dimension)) }
                case .codeScales: try eachRun(view) { (chunk, count) throws(SnapshotError) in try emit(UnsafeRawBufferPointer(start: chunk.codeScales!, count: count * 4)) }
                case .removed:
                    var words = [UInt64](repeating: 0, count: (rows + 63) / 64)
                    for row in 0..<rows where view.isRemoved(row: row) { words[row >> 6] |= 1 << UInt64(row & 63) }
                    try withBytes(of: words) { (bytes) throws(SnapshotError) in try emit(bytes) }
                case .levels:
                    for chunkIndex in 0 ..< (rows + StoreChunk.rowCapacity - 1) / StoreChunk.rowCapacity {
                        let count = min(StoreChunk.rowCapacity, rows - chunkIndex * StoreChunk.rowCapacity)
                        try emit(UnsafeRawBufferPointer(start: graphView!.chunks[chunkIndex].levels, count: count))
                    }
                case .baseLinks:
                    for chunkIndex in 0 ..< (rows + StoreChunk.rowCapacity - 1) / StoreChunk.rowCapacity {
                        let links = graphView!.chunks[chunkIndex]
                        let count = min(StoreChunk.rowCapacity, rows - chunkIndex * StoreChunk.rowCapacity)
                        try emit(UnsafeRawBufferPointer(start: UnsafeRawPointer(links.base), count: count * links.baseWidth * 4))
                    }
                case .upperLinks:
                    var buffer: [UInt32] = []
                    buffer.reserveCapacity(min(upperWords, 1 << 20))
                    for row in 0..<rows {
                        let level = graphView!.level(of: row)
                        guard level > 0 else { continue }
                        let chunk = graphView!.chunk(row)
                        let words = chunk.upper[row & StoreChunk.rowMask]!
                        for word in 0 ..< level * chunk.upperWidth { buffer.append(words[word].load(ordering: .acquiring)) }
                        if buffer.count >= 1 << 20 {
                            try withBytes(of: buffer) { (bytes) throws(SnapshotError) in try emit(bytes) }
                            buffer.removeAll(keepingCapacity: true)
                        }
                    }
                    try withBytes(of: buffer) { (bytes) throws(SnapshotError) in try emit(bytes) }
                }
                entries[index].checksum = checksum.finalize()
            }
            let header = encodeHeader(kind: kind, hasCodes: hasCodes, view: view, graph: graph, hnsw: hnsw, entries: entries)
            try withBytes(of: header) { (bytes) throws(SnapshotError) in try writer.write(bytes, at: 0) }
            try writer.finish()
        } catch {
            writer.abandon()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .ioFailed(path: path, errno: code)
        }
    }

    /// Calls `body` for each chunk with the number of rows of it in the view.
    private static func eachRun(_ view: StoreView, _ body: (StoreChunk, Int) throws(SnapshotError) -> Void) throws(SnapshotError) {
        var row = 0
        for chunk in view.chunks where row < view.rowCount {
            let count = min(StoreChunk.rowCapacity, view.rowCount - row)
            try body(chunk, count)
            row += count
        }
    }

    struct SectionEntry {
        var section: Section
        var offset: UInt64
        var length: UInt64
        var checksum: UInt64
    }

    struct Header {
        var kind: Kind
        /// Int8 codes are stored (flags bit 0).
        var hasCodes: Bool
        var dimension: Int
        var rowCount: Int
        var maxCodeError: Float
        var hnsw: HNSWConfiguration?
        var entry: UInt64
        var sections: [Section: SectionEntry]
    }

    private static func encodeHeader(kind: Kind, hasCodes: Bool, view: StoreView, graph: HNSWGraph?, hnsw: HNSWConfiguration?, entries: [SectionEntry]) -> [UInt8] {
        var bytes = signature
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func put64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        put32(formatVersion)
        put32(kind.rawValue)
        put32(hasCodes ? 1 : 0)
        put32(UInt32(view.dimension))
        put32(UInt32(hnsw?.neighbours ?? 0))
        put32(UInt32(hnsw?.constructionBreadth ?? 0))
        put32(UInt32(hnsw?.searchBreadth ?? 0))
        put64(hnsw?.seed ?? 0)
        put64(graph?.packedEntry ?? .max)
        put64(UInt64(view.rowCount))
        put32(view.maxCodeError.bitPattern)
        put32(UInt32(entries.count))
        for entry in entries {
            put32(entry.section.rawValue)
            put32(0)
            put64(entry.offset)
            put64(entry.length)
            put64(entry.checksum)
        }
        var checksum = Checksum64()
        bytes.withUnsafeBytes { checksum.update($0) }
        put64(checksum.finalize())
        return bytes + [UInt8](repeating: 0, count: headerSize - bytes.count)
    }

    static func decodeHeader(_ bytes: [UInt8], path: String) throws(SnapshotError) -> Header {
        guard bytes.count == headerSize, Array(bytes[0..<8]) == signature else { throw .notASnapshot(path: path) }
        var cursor = 8
        func get32() -> UInt32 {
            defer { cursor += 4 }
            return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)) }
        }
        func get64() -> UInt64 {
            defer { cursor += 8 }
            return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: cursor, as: UInt64.self)) }
        }
        let version = get32()
        guard version <= formatVersion, version >= 1 else { throw .unsupportedVersion(found: version, supported: formatVersion) }
        let kindValue = get32()
        let flags = get32()
        let dimension = Int(get32())
        let neighbours = Int(get32())
        let constructionBreadth = Int(get32())
        let searchBreadth = Int(get32())
        let seed = get64()
        let entry = get64()
        let rowCount = get64()
        let maxCodeError = Float(bitPattern: get32())
        let sectionCount = Int(get32())
        guard sectionCount <= Section.allCases.count else { throw .malformed(reason: "\(sectionCount) sections") }
        var sections: [Section: SectionEntry] = [:]
        var raw: [(UInt32, UInt64, UInt64, UInt64)] = []
        for _ in 0..<sectionCount {
            let id = get32()
            _ = get32()
            raw.append((id, get64(), get64(), get64()))
        }
        let headerEnd = cursor
        var checksum = Checksum64()
        bytes.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<headerEnd])) }
        guard get64() == checksum.finalize() else { throw .checksumMismatch(section: "header") }
        for (id, offset, length, sum) in raw {
            guard let section = Section(rawValue: id) else { throw .malformed(reason: "unknown section \(id)") }
            sections[section] = SectionEntry(section: section, offset: offset, length: length, checksum: sum)
        }
        guard let kind = Kind(rawValue: kindValue) else { throw .malformed(reason: "unknown index kind \(kindValue)") }
        guard rowCount < UInt64(TemplateStore.rowLimit) else { throw .malformed(reason: "\(rowCount) rows") }
        var hnsw: HNSWConfiguration?
        if kind == .hnsw {
            do {
                hnsw = try HNSWConfiguration(
                    neighbours: neighbours, constructionBreadth: constructionBreadth, searchBreadth: searchBreadth,
                    seed: seed, quantisedTraversal: flags & 1 != 0
                ).validated()
            } catch {
                throw .malformed(reason: error.description)
            }
        }
        guard kind != .flatFloat32 || flags & 1 == 0, kind != .flatInt8 || flags & 1 == 1, kind != .flatInt8Codes || flags & 1 == 1 else {
            throw .malformed(reason: "index kind \(kindValue) with flags \(flags)")
        }
        return Header(kind: kind, hasCodes: flags & 1 != 0, dimension: dimension, rowCount: Int(rowCount), maxCodeError: maxCodeError, hnsw: hnsw, entry: entry, sections: sections)
    }
}

/// Sequential writes to a new file with a final fsync.
private final class SnapshotWriter {
    let path: String
    private var descriptor: Int32
    private var position = 0

    init(path: String) throws(SnapshotError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
    }

    deinit { if descriptor >= 0 { _ = closeFile(descriptor) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = writeFile(descriptor, base, min(remaining, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw .ioFailed(path: path, errno: errno)
            }
            base += written
            remaining -= written
            position += written
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SnapshotError) {
        guard pwrite(descriptor, bytes.baseAddress, bytes.count, off_t(offset)) == bytes.count else {
            throw .ioFailed(path: path, errno: errno)
        }
    }

    func writeZeros(_ count: Int) throws(SnapshotError) {
        let zeros = [UInt8](repeating: 0, count: count)
        try withBytes(of: zeros) { (bytes) throws(SnapshotError) in try write(bytes) }
    }

    func pad(to offset: Int) throws(SnapshotError) {
        if offset > position { try writeZeros(offset - position) }
    }

    func finish() throws(SnapshotError) {
        guard fsync(descriptor) == 0 else { throw .ioFailed(path: path, errno: errno) }
        guard closeFile(descriptor) == 0 else { throw .ioFailed(path: path, errno: errno) }
        descriptor = -1
    }

    func abandon() {
        if descriptor >= 0 { _ = closeFile(descriptor) }
        descriptor = -1
    }
}

// File-scope wrappers: inside the classes `write`, `read` and `close` name their own methods.
private func writeFile(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(descriptor, bytes, count) }
private func closeFile(_ descriptor: Int32) -> Int32 { close(descriptor) }

/// Positioned reads from a snapshot, with per-section checksums and bounds.
private final class SnapshotReader {
    let path: String
    private var descriptor: Int32
    let size: UInt64

    init(path: String) throws(SnapshotError) {
        self.path = path
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            _ = closeFile(descriptor)
            throw .ioFailed(path: path, errno: code)
        }
        size = UInt64(status.st_size)
    }

    deinit { close() }

    func close() {
        if descriptor >= 0 { _ = closeFile(descriptor) }
        descriptor = -1
    }

    /// Fills `buffer` from `offset`; the caller checked the range lies within the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SnapshotError) {
        guard var base = buffer.baseAddress else { return }
        var remaining = buffer.count
        var position = off_t(offset)
        while remaining > 0 {
            let count = pread(descriptor, base, min(remaining, 1 << 30), position)
            if count < 0 {
                if errno == EINTR { continue }
                throw .ioFailed(path: path, errno: errno)
            }
            guard count > 0 else { throw .truncated(path: path, expectedBytes: UInt64(position) + UInt64(remaining), actualBytes: size) }
            base += count
            remaining -= count
            position += off_t(count)
        }
    }

    func header() throws(SnapshotError) -> IndexSnapshot.Header {
        guard size >= UInt64(IndexSnapshot.headerSize) else {
            if size >= 8 {
                var start = [UInt8](repeating: 0, count: 8)
                try withMutableBytes(of: &start) { (bytes) throws(SnapshotError) in try read(into: bytes, at: 0) }
                if start == IndexSnapshot.signature {
                    throw .truncated(path: path, expectedBytes: UInt64(IndexSnapshot.headerSize), actualBytes: size)
                }
            }
            throw .notASnapshot(path: path)
        }
        var bytes = [UInt8](repeating: 0, count: IndexSnapshot.headerSize)
        try withMutableBytes(of: &bytes) { (buffer) throws(SnapshotError) in try read(into: buffer, at: 0) }
        let header = try IndexSnapshot.decodeHeader(bytes, path: path)
        for entry in header.sections.values where entry.offset + entry.length > size {
            throw .truncated(path: path, expectedBytes: entry.offset + entry.length, actualBytes: size)
        }
        return header
    }

    private func entry(_ section: IndexSnapshot.Section, header: IndexSnapshot.Header, expectedBytes: Int) throws(SnapshotError) -> IndexSnapshot.SectionEntry {
        guard let entry = header.sections[section] else { throw .malformed(reason: "section \(section.name) missing") }
        guard entry.length == UInt64(expectedBytes) else {
            throw .malformed(reason: "section \(section.name) has \(entry.length) bytes, expected \(expectedBytes)")
        }
        return entry
    }

    /// Reads a whole section through `body`, which receives a function filling consecutive
    /// buffers; checks the length and checksum afterwards.
    func readSection(
        _ section: IndexSnapshot.Section, header: IndexSnapshot.Header, expectedBytes: Int,
        _ body: ((UnsafeMutableRawBufferPointer) throws(SnapshotError) -> Void) throws(SnapshotError) -> Void
    ) throws(SnapshotError) {
        let entry = try entry(section, header: header, expectedBytes: expectedBytes)
        var checksum = Checksum64()
        var position = entry.offset
        try body { (buffer) throws(SnapshotError) in
            guard position + UInt64(buffer.count) <= entry.offset + entry.length else {
                throw .malformed(reason: "section \(section.name) overrun")
            }
            try read(into: buffer, at: position)
            checksum.update(UnsafeRawBufferPointer(buffer))
            position += UInt64(buffer.count)
        }
        guard position == entry.offset + entry.length else { throw .malformed(reason: "section \(section.name) underrun") }
        guard checksum.finalize() == entry.checksum else { throw .checksumMismatch(section: section.name) }
    }

    /// Reads identifiers, owners, vectors and codes straight into the store's chunks.
    func readColumns(header: IndexSnapshot.Header, rows: Int, dimension: Int, store: TemplateStore, removedBitmap: [UInt64]) throws(SnapshotError) {
        var columns: [(IndexSnapshot.Section, Int, (StoreChunk) -> UnsafeMutableRawPointer)] = [
            (.ids, 8, { UnsafeMutableRawPointer($0.ids) }),
            (.owners, 8, { UnsafeMutableRawPointer($0.owners) }),
        ]
        if store.keepsFloats { columns.append((.floats, dimension * 4, { UnsafeMutableRawPointer($0.floats!) })) }
        if store.keepsCodes {
            columns += [(.codes, dimension, { UnsafeMutableRawPointer($0.codes!) }), (.codeScales, 4, { UnsafeMutableRawPointer($0.codeScales!) })]
        }
        var entries: [IndexSnapshot.SectionEntry] = []
        for (section, width, _) in columns { entries.append(try entry(section, header: header, expectedBytes: rows * width)) }
        var checksums = [Checksum64](repeating: Checksum64(), count: columns.count)
        let unique = try store.load(rowCount: rows, maxCodeError: header.maxCodeError, isRemoved: { row in
            removedBitmap[row >> 6] & (1 << UInt64(row & 63)) != 0
        }) { (chunk, range) throws(SnapshotError) in
            for (index, (_, width, pointer)) in columns.enumerated() {
                let buffer = UnsafeMutableRawBufferPointer(start: pointer(chunk), count: range.count * width)
                try read(into: buffer, at: entries[index].offset + UInt64(range.lowerBound * width))
                checksums[index].update(UnsafeRawBufferPointer(buffer))
            }
        }
        for (index, (section, _, _)) in columns.enumerated() where checksums[index].finalize() != entries[index].checksum {
            throw .checksumMismatch(section: section.name)
        }
        guard unique else { throw .malformed(reason: "two live templates share an identifier") }
        if store.keepsCodes {
            // The score bound must cover every row; a smaller recorded bound would break exactness.
            guard header.maxCodeError.isFinite, header.maxCodeError >= 0 else { throw .malformed(reason: "bad code error bound") }
        }
    }

    /// Reads the graph's levels and links and checks every link points at a row.
    func readGraph(header: IndexSnapshot.Header, rows: Int, graph: HNSWGraph) throws(SnapshotError) {
        graph.reserve(rowCount: rows)
        let view = graph.view()
        let chunkCount = (rows + StoreChunk.rowCapacity - 1) / StoreChunk.rowCapacity
        let baseWidth = 1 + 2 * graph.neighbours
        let upperWidth = 1 + graph.neighbours
        var levels = [UInt8](repeating: 0, count: rows)
        try withMutableBytes(of: &levels) { (bytes) throws(SnapshotError) in
            try readSection(.levels, header: header, expectedBytes: rows) { (fill) throws(SnapshotError) in try fill(bytes) }
        }
        var upperWords = 0
        for level in levels {
            guard level <= 15 else { throw .malformed(reason: "node level \(level)") }
            upperWords += Int(level) * upperWidth
        }
        try readSection(.baseLinks, header: header, expectedBytes: rows * baseWidth * 4) { (fill) throws(SnapshotError) in
            for chunkIndex in 0..<chunkCount {
                let count = min(StoreChunk.rowCapacity, rows - chunkIndex * StoreChunk.rowCapacity)
                try fill(UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(view.chunks[chunkIndex].base), count: count * baseWidth * 4))
            }
        }
        var upper = [UInt32](repeating: 0, count: upperWords)
        try withMutableBytes(of: &upper) { (bytes) throws(SnapshotError) in
            try readSection(.upperLinks, header: header, expectedBytes: upperWords * 4) { (fill) throws(SnapshotError) in try fill(bytes) }
        }
        func check(_ list: UnsafeMutablePointer<Atomic<UInt32>>, width: Int) throws(SnapshotError) {
            let count = LinkList.count(list)
            guard count < width else { throw .malformed(reason: "link list of \(count) entries") }
            for index in 0..<count where LinkList.neighbour(list, index) >= rows {
                throw .malformed(reason: "link to row \(LinkList.neighbour(list, index)) of \(rows)")
            }
        }
        var cursor = 0
        for row in 0..<rows {
            let chunk = view.chunk(row)
            let offset = row & StoreChunk.rowMask
            let level = Int(levels[row])
            chunk.prepare(offset: offset, level: level)
            try check(chunk.list(offset: offset, level: 0), width: baseWidth)
            for linkLevel in stride(from: 1, through: level, by: 1) {
                let list = chunk.list(offset: offset, level: linkLevel)
                for word in 0..<upperWidth { list[word].store(upper[cursor + word], ordering: .relaxed) }
                cursor += upperWidth
                try check(list, width: upperWidth)
            }
        }
        if header.entry != .max {
            let node = Int(header.entry & 0xFFFF_FFFF)
            guard node < rows, Int(header.entry >> 32) == Int(levels[node]) else { throw .malformed(reason: "bad entry point") }
        } else if rows > 0 {
            throw .malformed(reason: "graph of \(rows) rows has no entry point")
        }
        graph.restoreEntry(header.entry)
    }
}

/// `Array.withUnsafe(Mutable)Bytes` with a typed error (the standard ones rethrow untyped).
private func withMutableBytes<Element>(
    of array: inout [Element], _ body: (UnsafeMutableRawBufferPointer) throws(SnapshotError) -> Void
) throws(SnapshotError) {
    let outcome: Result<Void, SnapshotError> = array.withUnsafeMutableBytes { bytes in
        do throws(SnapshotError) {
            try body(bytes)
            return .success(())
        } catch {
            return .failure(error)
        }
    }
    try outcome.get()
}

private func withBytes<Element>(of array: [Element], _ body: (UnsafeRawBufferPointer) throws(SnapshotError) -> Void) throws(SnapshotError) {
    let outcome: Result<Void, SnapshotError> = array.withUnsafeBytes { bytes in
        do throws(SnapshotError) {
            try body(bytes)
            return .success(())
        } catch {
            return .failure(error)
        }
    }
    try outcome.get()
}
