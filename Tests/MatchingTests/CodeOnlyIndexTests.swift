import Testing
@testable import Matching

@Suite("Code-only int8 flat index")
struct CodeOnlyIndexTests {
    @Test("scores stay within the quantisation bound of the exact cosine and recall@10 is high")
    func boundedScoresAndRecall() throws {
        let (gallery, probes) = clusteredData(identities: 1_500, probeCount: 40, seed: 17)
        let index = try FlatIndex(dimension: 128, encoding: .int8, parallelThreshold: 1_000)
        try index.insert(gallery)
        let store = index.store.view()
        #expect(index.store.keepsFloats == false)
        #expect(store.chunks.allSatisfy { $0.floats == nil })
        let reference = ReferenceSearch(gallery)
        let exactByID = Dictionary(uniqueKeysWithValues: zip(gallery.ids, gallery.ids.indices))
        var found = 0
        for probe in probes {
            let hits = try index.search(probe, parameters: SearchParameters(k: 10))
            let expected = reference.ranked(probe)
            #expect(hits.count == 10)
            // |int8 score - cosine| <= E + (1 + E) * e; the probe's int16 error e is below 1e-3.
            let bound = Double(store.maxCodeError) + (1 + Double(store.maxCodeError)) * 1e-3
            let exactScores = Dictionary(uniqueKeysWithValues: expected.map { ($0.id, $0.score) })
            for hit in hits {
                #expect(abs(Double(hit.score) - exactScores[hit.id]!) <= bound)
                #expect(exactByID[hit.id] != nil)
            }
            // Whatever scores more than twice the bound above the exact 10th is certainly returned.
            let tenth = expected[9].score
            for clear in expected.prefix(10) where clear.score > tenth + 2 * bound {
                #expect(hits.contains { $0.id == clear.id })
            }
            found += Set(hits.map(\.id)).intersection(expected.prefix(10).map(\.id)).count
        }
        let recall = Double(found) / Double(10 * probes.count)
        #expect(recall >= 0.9, "recall@10 \(recall)")
        #expect(store.maxCodeError > 0 && store.maxCodeError < 0.02)
    }

    @Test("batched, single and per-core scans agree; threshold and filter hold on int8 scores")
    func batchedThresholdFilter() throws {
        let (gallery, probes) = clusteredData(identities: 800, probeCount: 12, seed: 23)
        let index = try FlatIndex(dimension: 128, encoding: .int8, parallelThreshold: 1_000)
        try index.insert(gallery)
        let oneThread = try FlatIndex(dimension: 128, encoding: .int8, parallelThreshold: .max)
        try oneThread.insert(gallery)
        let parameters = SearchParameters(k: 15, minimumScore: 0.3)
        let batched = try index.search(batch: probes, parameters: parameters)
        for (probe, hits) in zip(probes, batched) {
            #expect(try index.search(probe, parameters: parameters) == hits)
            #expect(try oneThread.search(probe, parameters: parameters) == hits)
            #expect(hits.allSatisfy { $0.score >= 0.3 })
            #expect(hits.map(\.score) == hits.map(\.score).sorted(by: >))
            let odd = SearchFilter { _, owner in owner.rawValue % 2 == 1 }
            let filtered = try index.search(probe, parameters: SearchParameters(k: 5, filter: odd))
            #expect(filtered.count == 5 && filtered.allSatisfy { $0.owner.rawValue % 2 == 1 })
            // The filtered list is the unfiltered ranking with the even owners taken out.
            let unfiltered = try index.search(probe, parameters: SearchParameters(k: 200))
            #expect(Array(unfiltered.filter { $0.owner.rawValue % 2 == 1 }.prefix(5)) == filtered)
        }
    }

    @Test("a code-only snapshot holds no float vectors and loads to the same answers")
    func snapshotWithoutFloats() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let (gallery, probes) = clusteredData(identities: 400, probeCount: 8, seed: 29)
        let codes = try FlatIndex(encoding: .int8)
        let rerank = try FlatIndex(encoding: .int8Rerank)
        try codes.insert(gallery)
        try rerank.insert(gallery)
        try IndexSnapshot.save(codes, to: directory.file("codes.bmidx"))
        try IndexSnapshot.save(rerank, to: directory.file("rerank.bmidx"))
        let codeBytes = readAll(directory.file("codes.bmidx")).count
        let rerankBytes = readAll(directory.file("rerank.bmidx")).count
        // The float section (512 bytes per template) is absent.
        #expect(rerankBytes - codeBytes >= gallery.count * 512)
        let loaded = try #require(try IndexSnapshot.load(from: directory.file("codes.bmidx")) as? FlatIndex)
        #expect(loaded.encoding == .int8)
        #expect(loaded.store.keepsFloats == false)
        let parameters = SearchParameters(k: 10)
        #expect(try loaded.search(batch: probes, parameters: parameters) == codes.search(batch: probes, parameters: parameters))
    }
}
