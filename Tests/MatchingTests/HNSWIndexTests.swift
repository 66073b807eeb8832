import Dispatch
import Synchronization
import Testing
@testable import Matching

@Suite("HNSW graph index")
struct HNSWIndexTests {
    /// Mean fraction of the exact top 10 that the index returns.
    func recallAtTen(_ index: any TemplateIndex, _ reference: ReferenceSearch, _ probes: [[Float]], breadth: Int) throws -> Double {
        var found = 0
        let results = try index.search(batch: probes, parameters: SearchParameters(k: 10, searchBreadth: breadth))
        for (probe, hits) in zip(probes, results) {
            let expected = Set(reference.ranked(probe).prefix(10).map(\.id))
            found += Set(hits.map(\.id)).intersection(expected).count
        }
        return Double(found) / Double(10 * probes.count)
    }

    @Test("recall@10 against exact search is at least 0.99 on clustered face-like data")
    func recall() throws {
        let (gallery, probes) = clusteredData(identities: 1_250, probeCount: 50, seed: 91)
        let index = try HNSWIndex(configuration: HNSWConfiguration(neighbours: 16, constructionBreadth: 64, searchBreadth: 200))
        try index.insert(gallery)
        #expect(gallery.count == 5_000)
        let recall = try recallAtTen(index, ReferenceSearch(gallery), probes, breadth: 200)
        #expect(recall >= 0.99, "recall@10 \(recall)")
        // Scores are exact float similarities of the returned templates.
        let exact = try FlatIndex(encoding: .float32)
        try exact.insert(gallery)
        let hits = try index.search(probes[1], parameters: SearchParameters(k: 5))
        let exactHits = try exact.search(probes[1], parameters: SearchParameters(k: 5))
        #expect(Set(hits).isSubset(of: Set(try exact.search(probes[1], parameters: SearchParameters(k: 50)))))
        #expect(hits.first == exactHits.first)
    }

    @Test("several insert batches built on two threads find what one batch finds")
    func incrementalBatches() throws {
        let (gallery, probes) = clusteredData(identities: 500, probeCount: 30, seed: 101)
        let index = try HNSWIndex(configuration: HNSWConfiguration(neighbours: 12, constructionBreadth: 48, searchBreadth: 150, buildThreads: 2))
        for start in stride(from: 0, to: gallery.count, by: 700) {
            let end = min(gallery.count, start + 700)
            try index.insert(TemplateBatch(
                ids: Array(gallery.ids[start..<end]), owners: Array(gallery.owners[start..<end]),
                vectors: Array(gallery.vectors[start * 128 ..< end * 128]), dimension: 128
            ))
        }
        #expect(index.count == gallery.count)
        #expect(try recallAtTen(index, ReferenceSearch(gallery), probes, breadth: 150) >= 0.99)
    }

    @Test("searches run while batches are inserted and see each batch once it is in")
    func searchesDuringInserts() throws {
        let (gallery, _) = clusteredData(identities: 400, probeCount: 1, seed: 111)
        let index = try HNSWIndex(configuration: HNSWConfiguration(neighbours: 12, constructionBreadth: 60, searchBreadth: 80))
        let inserted = Mutex(0)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                for start in stride(from: 0, to: gallery.count, by: 200) {
                    let end = min(gallery.count, start + 200)
                    do {
                        try index.insert(TemplateBatch(
                            ids: Array(gallery.ids[start..<end]), owners: Array(gallery.owners[start..<end]),
                            vectors: Array(gallery.vectors[start * 128 ..< end * 128]), dimension: 128
                        ))
                    } catch {
                        failures.withLock { $0 += 1 }
                    }
                    inserted.withLock { $0 = end }
                }
            } else {
                var round = 0
                while inserted.withLock({ $0 }) < gallery.count {
                    let visible = inserted.withLock { $0 }
                    // An enrolled vector used as its own probe must be found once its batch is in.
                    guard visible > 0 else { continue }
                    let row = (round * 37) % visible
                    let hits = (try? index.search(Array(gallery.vector(at: row)), parameters: SearchParameters(k: 5))) ?? []
                    if hits.first?.id != gallery.ids[row] || hits.first.map({ $0.score < 0.9999 }) ?? true {
                        failures.withLock { $0 += 1 }
                        Issue.record("row \(row) of \(visible) visible: got \(hits.prefix(2))")
                    }
                    round += 1
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(index.count == gallery.count)
    }

    @Test("threshold and filter hold for graph search")
    func thresholdAndFilter() throws {
        let (gallery, probes) = clusteredData(identities: 400, probeCount: 10, seed: 121)
        let index = try HNSWIndex(configuration: HNSWConfiguration(neighbours: 12, constructionBreadth: 48, searchBreadth: 100))
        try index.insert(gallery)
        let reference = ReferenceSearch(gallery)
        let oddOwners = SearchFilter { _, owner in owner.rawValue % 2 == 1 }
        for probe in probes {
            let hits = try index.search(probe, parameters: SearchParameters(k: 10, minimumScore: 0.3, filter: oddOwners))
            #expect(hits.allSatisfy { $0.score >= 0.3 && $0.owner.rawValue % 2 == 1 })
            let expected = reference.ranked(probe, minimumScore: 0.3) { _, owner in owner.rawValue % 2 == 1 }.prefix(10)
            #expect(Set(hits.map(\.id)) == Set(expected.map(\.id)))
        }
        #expect(throws: MatchingError.invalidParameter(name: "neighbours", reason: "must be in 2...256, got 1")) {
            try HNSWIndex(configuration: HNSWConfiguration(neighbours: 1))
        }
    }
}
