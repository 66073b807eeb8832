import Dispatch
import Synchronization
import Testing
@testable import Matching

/// Every index kind, built empty, for tests that must hold for all of them.
enum IndexKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case flatFloat32, flatInt8, flatInt8Codes, hnsw

    func make() throws -> any TemplateIndex {
        switch self {
        case .flatFloat32: try FlatIndex(dimension: 128, encoding: .float32, parallelThreshold: 1_000)
        case .flatInt8: try FlatIndex(dimension: 128, encoding: .int8Rerank, parallelThreshold: 1_000)
        case .flatInt8Codes: try FlatIndex(dimension: 128, encoding: .int8, parallelThreshold: 1_000)
        case .hnsw: try HNSWIndex(configuration: HNSWConfiguration(neighbours: 12, constructionBreadth: 40, searchBreadth: 80))
        }
    }

    var testDescription: String { rawValue }
}

@Suite("Removal and compaction")
struct RemovalTests {
    @Test("removed templates are never returned and their identifiers can be enrolled again", arguments: IndexKind.allCases)
    func removedNeverReturned(kind: IndexKind) throws {
        let (gallery, probes) = clusteredData(identities: 300, probeCount: 10, seed: 61)
        let index = try kind.make()
        try index.insert(gallery)
        // Remove the top hit of each probe and every template of subject 3.
        var removed = Set<TemplateID>()
        for probe in probes {
            let top = try index.search(probe, parameters: SearchParameters(k: 1))[0]
            if index.remove(top.id) { removed.insert(top.id) }
        }
        let subjectThree = (0..<gallery.count).filter { gallery.owners[$0] == OwnerID(3) }.map { gallery.ids[$0] }
        #expect(index.remove(subjectThree) == subjectThree.filter { !removed.contains($0) }.count)
        removed.formUnion(subjectThree)
        #expect(index.remove([TemplateID(999_999)]) == 0)
        #expect(index.count == gallery.count - removed.count)
        for probe in probes + [Array(gallery.vector(at: 12))] {
            let hits = try index.search(probe, parameters: SearchParameters(k: 20))
            #expect(hits.count == 20)
            #expect(hits.allSatisfy { !removed.contains($0.id) })
        }
        // The identifier is free again once removed.
        let reused = removed.first!
        try index.insert(Template(id: reused, owner: OwnerID(77), vector: probes[0]))
        #expect(try index.search(probes[0], parameters: SearchParameters(k: 1))[0].id == reused)
    }

    @Test("removals racing with searches: once remove returns, no later search returns the template", arguments: IndexKind.allCases)
    func concurrentRemovals(kind: IndexKind) throws {
        let (gallery, probes) = clusteredData(identities: 300, probeCount: 16, seed: 71)
        let index = try kind.make()
        try index.insert(gallery)
        let removedSoFar = Mutex(Set<TemplateID>())
        let violations = Mutex(0)
        let searches = Mutex(0)
        // Worker 0 removes the current best hit of each probe, over and over; the others search.
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                for round in 0..<60 {
                    let probe = probes[round % probes.count]
                    guard let top = try? index.search(probe, parameters: SearchParameters(k: 1)).first else { continue }
                    index.remove(top.id)
                    removedSoFar.withLock { _ = $0.insert(top.id) }
                }
            } else {
                for round in 0..<80 {
                    let before = removedSoFar.withLock { $0 }
                    let hits = (try? index.search(probes[(round * 7 + worker) % probes.count], parameters: SearchParameters(k: 10))) ?? []
                    if hits.contains(where: { before.contains($0.id) }) { violations.withLock { $0 += 1 } }
                    searches.withLock { $0 += 1 }
                }
            }
        }
        #expect(violations.withLock { $0 } == 0)
        #expect(searches.withLock { $0 } == 160)
        let removed = removedSoFar.withLock { $0 }
        #expect(removed.count >= 16)
        #expect(index.count == gallery.count - removed.count)
    }

    @Test("compaction drops removed rows and keeps every live template's results", arguments: IndexKind.allCases)
    func compaction(kind: IndexKind) throws {
        let (gallery, probes) = clusteredData(identities: 250, probeCount: 8, seed: 81)
        let index = try kind.make()
        try index.insert(gallery)
        let removed = stride(from: 0, to: gallery.count, by: 3).map { gallery.ids[$0] }
        index.remove(removed)
        let before = try probes.map { try index.search($0, parameters: SearchParameters(k: 10)) }
        index.compact()
        #expect(index.count == gallery.count - removed.count)
        #expect(removed.allSatisfy { !index.contains($0) })
        let after = try probes.map { try index.search($0, parameters: SearchParameters(k: 10)) }
        if kind == .hnsw {
            // A rebuilt graph may route differently; the exact answer is the reference.
            var reference = ReferenceSearch(gallery)
            reference.removed = Set(removed)
            for (probe, hits) in zip(probes, after) {
                let expected = Set(reference.ranked(probe).prefix(10).map(\.id))
                #expect(Set(hits.map(\.id)).intersection(expected).count >= 9)
            }
        } else {
            #expect(after == before)
        }
        // Writes still work on the compacted index.
        try index.insert(Template(id: TemplateID(1_000_000), owner: OwnerID(1), vector: probes[0]))
        #expect(try index.search(probes[0], parameters: SearchParameters(k: 1))[0].id == TemplateID(1_000_000))
        #expect(index.remove(TemplateID(1_000_000)))
    }
}
