#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Matching

/// A fresh directory under the system temporary folder, removed by `cleanUp`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/matching-tests-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func file(_ name: String) -> String { path + "/" + name }

    func cleanUp() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(file(name)) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

func readAll(_ path: String) -> [UInt8] {
    guard let handle = fopen(path, "rb") else { return [] }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&buffer, 1, buffer.count, handle)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return bytes
}

func writeAll(_ bytes: [UInt8], to path: String) {
    guard let handle = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
    fclose(handle)
}

@Suite("Index snapshots")
struct SnapshotTests {
    @Test("save then load gives the same templates, removals and search results", arguments: IndexKind.allCases)
    func roundTrip(kind: IndexKind) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let (gallery, probes) = clusteredData(identities: 300, probeCount: 10, seed: 131)
        let index = try kind.make()
        try index.insert(gallery)
        let removed = stride(from: 5, to: gallery.count, by: 11).map { gallery.ids[$0] }
        index.remove(removed)
        let path = directory.file("gallery.bmidx")
        try IndexSnapshot.save(index, to: path)

        let loaded = try IndexSnapshot.load(from: path)
        #expect(type(of: loaded) == type(of: index))
        #expect(loaded.count == index.count)
        #expect(removed.allSatisfy { !loaded.contains($0) })
        #expect(gallery.ids.filter { !removed.contains($0) }.allSatisfy { loaded.contains($0) })
        let parameters = SearchParameters(k: 10, minimumScore: 0.2)
        #expect(try loaded.search(batch: probes, parameters: parameters) == index.search(batch: probes, parameters: parameters))
        if let original = index as? HNSWIndex, let copy = loaded as? HNSWIndex {
            #expect(copy.configuration.neighbours == original.configuration.neighbours)
            #expect(copy.configuration.searchBreadth == original.configuration.searchBreadth)
        }
        // The loaded index takes writes like any other.
        try loaded.insert(Template(id: TemplateID(5_000_000), owner: OwnerID(9), vector: probes[2]))
        #expect(try loaded.search(probes[2], parameters: SearchParameters(k: 1))[0].id == TemplateID(5_000_000))
        #expect(loaded.remove(gallery.ids[0]))
    }

    @Test("an empty index round-trips", arguments: IndexKind.allCases)
    func emptyRoundTrip(kind: IndexKind) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.file("empty.bmidx")
        try IndexSnapshot.save(try kind.make(), to: path)
        let loaded = try IndexSnapshot.load(from: path)
        #expect(loaded.count == 0)
        #expect(try loaded.search([Float](repeating: 1, count: 128), parameters: SearchParameters()).isEmpty)
    }

    @Test("damaged, truncated, foreign and missing files give typed errors")
    func corruption() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let (gallery, _) = clusteredData(identities: 100, probeCount: 1, seed: 141)
        let index = try IndexKind.hnsw.make()
        try index.insert(gallery)
        let path = directory.file("good.bmidx")
        try IndexSnapshot.save(index, to: path)
        let good = readAll(path)
        #expect(good.count > IndexSnapshot.headerSize + gallery.count * 128 * 4)

        // One flipped bit inside the float vectors (they start after the ids, owners and bitmap).
        var damaged = good
        let floatsStart = IndexSnapshot.headerSize + ((gallery.count * 8 + 63) / 64 * 64) * 2 + 64
        damaged[floatsStart + 1_000] ^= 0x10
        writeAll(damaged, to: directory.file("flipped.bmidx"))
        #expect(throws: SnapshotError.checksumMismatch(section: "floats")) {
            try IndexSnapshot.load(from: directory.file("flipped.bmidx"))
        }

        var header = good
        header[40] ^= 0x01
        writeAll(header, to: directory.file("header.bmidx"))
        #expect(throws: SnapshotError.checksumMismatch(section: "header")) {
            try IndexSnapshot.load(from: directory.file("header.bmidx"))
        }

        writeAll(Array(good.prefix(good.count - 100)), to: directory.file("short.bmidx"))
        #expect(throws: SnapshotError.truncated(path: directory.file("short.bmidx"), expectedBytes: UInt64(good.count), actualBytes: UInt64(good.count - 100))) {
            try IndexSnapshot.load(from: directory.file("short.bmidx"))
        }

        writeAll(Array("not an index at all".utf8), to: directory.file("text.bmidx"))
        #expect(throws: SnapshotError.notASnapshot(path: directory.file("text.bmidx"))) {
            try IndexSnapshot.load(from: directory.file("text.bmidx"))
        }

        var newer = good
        newer[8] = 99
        writeAll(newer, to: directory.file("newer.bmidx"))
        #expect(throws: SnapshotError.unsupportedVersion(found: 99, supported: IndexSnapshot.formatVersion)) {
            try IndexSnapshot.load(from: directory.file("newer.bmidx"))
        }

        #expect(throws: SnapshotError.cannotOpen(path: directory.file("absent.bmidx"), errno: ENOENT)) {
            try IndexSnapshot.load(from: directory.file("absent.bmidx"))
        }
    }
}
