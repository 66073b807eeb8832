import Testing
@testable import Matching

@Suite("Flat indexes")
struct FlatIndexTests {
    @Test("float32 flat search equals a Double brute-force reference")
    func floatMatchesBruteForce() throws {
        let (gallery, probes) = clusteredData(identities: 1_500, probeCount: 40, seed: 11)
        let index = try FlatIndex(encoding: .float32)
        try index.insert(gallery)
        let reference = ReferenceSearch(gallery)
        for probe in probes {
            let hits = try index.search(probe, parameters: SearchParameters(k: 10))
            let expected = reference.ranked(probe)
            #expect(hits.count == 10)
            for (rank, hit) in hits.enumerated() {
                #expect(abs(Double(hit.score) - expected[rank].score) < 1e-5)
                // Identities must agree wherever the reference order is not a float-rounding tie.
                let clearAbove = rank == 0 || expected[rank - 1].score - expected[rank].score > 1e-5
                let clearBelow = expected[rank].score - expected[rank + 1].score > 1e-5
                if clearAbove && clearBelow { #expect(hit.id == expected[rank].id) }
            }
        }
    }

    @Test("int8 scan with re-ranking returns exactly the float32 results on clustered data with near-ties",
          arguments: [1, 10, 50])
    func int8EqualsFloat(k: Int) throws {
        let (base, probes) = clusteredData(identities: 600, probeCount: 30, seed: 21)
        let gallery = withNearTies(base, stride: 5, spread: 2e-4, seed: 5)
        let exact = try FlatIndex(encoding: .float32)
        let quantised = try FlatIndex(encoding: .int8Rerank)
        try exact.insert(gallery)
        try quantised.insert(gallery)
        // Probes that sit on a near-tie group make the int8 order differ from the exact one.
        let probesOnTies = (0..<10).map { Array(gallery.vector(at: base.count + 2 * $0)) }
        for probe in probes + probesOnTies {
            let parameters = SearchParameters(k: k)
            #expect(try quantised.search(probe, parameters: parameters) == exact.search(probe, parameters: parameters))
        }
        let parameters = SearchParameters(k: k, minimumScore: 0.45)
        #expect(try quantised.search(batch: probes, parameters: parameters) == exact.search(batch: probes, parameters: parameters))
    }

    @Test("scans split over all cores give the reference results, batched and single alike",
          arguments: [FlatIndex.Encoding.float32, .int8Rerank])
    func parallelScanMatchesReference(encoding: FlatIndex.Encoding) throws {
        let (gallery, probes) = clusteredData(identities: 1_000, probeCount: 8, seed: 31)
        let index = try FlatIndex(dimension: 128, encoding: encoding, parallelThreshold: 1_000)
        try index.insert(gallery)
        let reference = ReferenceSearch(gallery)
        let batched = try index.search(batch: probes, parameters: SearchParameters(k: 5))
        for (probe, hits) in zip(probes, batched) {
            #expect(try index.search(probe, parameters: SearchParameters(k: 5)) == hits)
            let expected = reference.ranked(probe).prefix(5)
            #expect(hits.map(\.score).enumerated().allSatisfy { abs(Double($0.element) - expected[expected.startIndex + $0.offset].score) < 1e-5 })
        }
    }

    @Test("threshold drops weaker hits and the filter restricts before top-k", arguments: [FlatIndex.Encoding.float32, .int8Rerank])
    func thresholdAndFilter(encoding: FlatIndex.Encoding) throws {
        let (gallery, probes) = clusteredData(identities: 800, probeCount: 12, seed: 41)
        let index = try FlatIndex(encoding: encoding)
        try index.insert(gallery)
        let reference = ReferenceSearch(gallery)
        for probe in probes {
            let strong = try index.search(probe, parameters: SearchParameters(k: 50, minimumScore: 0.4))
            let expectedStrong = reference.ranked(probe, minimumScore: 0.4).prefix(50)
            #expect(strong.allSatisfy { $0.score >= 0.4 })
            #expect(strong.count == expectedStrong.count)

            // Even owners only: the top k among them, not the even owners of the global top k.
            let evenOwners = SearchFilter { _, owner in owner.rawValue % 2 == 0 }
            let filtered = try index.search(probe, parameters: SearchParameters(k: 10, filter: evenOwners))
            let expectedFiltered = reference.ranked(probe) { _, owner in owner.rawValue % 2 == 0 }.prefix(10)
            #expect(filtered.count == 10)
            #expect(filtered.allSatisfy { $0.owner.rawValue % 2 == 0 })
            #expect(zip(filtered, expectedFiltered).allSatisfy { abs(Double($0.score) - $1.score) < 1e-5 })
        }
        let nobody = SearchFilter.owners([])
        #expect(try index.search(probes[0], parameters: SearchParameters(k: 5, filter: nobody)).isEmpty)
        #expect(try index.search(probes[0], parameters: SearchParameters(k: 5, minimumScore: 1.01)).isEmpty)
    }

    @Test("per-subject search keeps each subject's best template and returns k distinct subjects")
    func perSubjectGrouping() throws {
        // Ten samples per identity, so the first ten template hits are mostly one subject.
        let (gallery, probes) = clusteredData(identities: 300, samples: 10, probeCount: 10, seed: 51)
        let index = try FlatIndex(encoding: .int8Rerank)
        try index.insert(gallery)
        let reference = ReferenceSearch(gallery)
        for probe in probes {
            let subjects = try index.searchSubjects(probe, parameters: SearchParameters(k: 5))
            #expect(subjects.count == 5)
            #expect(Set(subjects.map(\.owner)).count == 5)
            var bestPerOwner: [OwnerID: Double] = [:]
            for hit in reference.ranked(probe) where bestPerOwner[hit.owner] == nil { bestPerOwner[hit.owner] = hit.score }
            let expected = bestPerOwner.sorted { $0.value > $1.value }.prefix(5)
            for (subject, (owner, score)) in zip(subjects, expected) {
                #expect(abs(Double(subject.score) - score) < 1e-5)
                #expect(abs(Double(subject.score) - bestPerOwner[subject.owner]!) < 1e-5)
                _ = owner
            }
            #expect(subjects.map(\.score) == subjects.map(\.score).sorted(by: >))
        }
    }

    @Test("invalid templates, probes and parameters are refused with typed errors")
    func validation() throws {
        let index = try FlatIndex(dimension: 128)
        let good = [Float](repeating: 0.1, count: 128)
        try index.insert(Template(id: TemplateID(1), owner: OwnerID(1), vector: good))
        #expect(throws: MatchingError.duplicateTemplate(TemplateID(1))) {
            try index.insert(Template(id: TemplateID(1), owner: OwnerID(2), vector: good))
        }
        #expect(throws: MatchingError.dimensionMismatch(expected: 128, actual: 64)) {
            try index.insert(Template(id: TemplateID(2), owner: OwnerID(2), vector: Array(good.prefix(64))))
        }
        #expect(throws: MatchingError.invalidVector(reason: "template 3 has zero length")) {
            try index.insert(Template(id: TemplateID(3), owner: OwnerID(3), vector: [Float](repeating: 0, count: 128)))
        }
        var withNaN = good
        withNaN[5] = .nan
        #expect(throws: MatchingError.self) { try index.insert(Template(id: TemplateID(4), owner: OwnerID(4), vector: withNaN)) }
        #expect(throws: MatchingError.invalidParameter(name: "k", reason: "must be at least 1, got 0")) {
            try index.search(good, parameters: SearchParameters(k: 0))
        }
        #expect(throws: MatchingError.dimensionMismatch(expected: 128, actual: 3)) {
            try index.search([1, 0, 0], parameters: SearchParameters())
        }
        #expect(throws: MatchingError.unsupportedDimension(100)) { try FlatIndex(dimension: 100) }
        // A refused batch adds nothing, not even its valid rows.
        let mixed = TemplateBatch(ids: [TemplateID(10), TemplateID(1)], owners: [OwnerID(10), OwnerID(1)], vectors: good + good, dimension: 128)
        #expect(throws: MatchingError.duplicateTemplate(TemplateID(1))) { try index.insert(mixed) }
        #expect(index.count == 1)
        #expect(!index.contains(TemplateID(10)))
    }
}
