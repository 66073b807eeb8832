import Testing
@testable import Matching

@Suite("Synthetic galleries generated in slices")
struct SyntheticSliceTests {
    @Test("slices of identities concatenate to the whole gallery, identifiers included")
    func slicesConcatenate() {
        let generator = SyntheticFaceTemplates(.init(identities: 103, samplesPerIdentity: 3, seed: 8))
        let whole = generator.gallery()
        var joined = TemplateBatch(ids: [], owners: [], vectors: [], dimension: 128)
        for start in stride(from: 0, to: 103, by: 25) {
            let slice = generator.gallery(identities: start ..< min(103, start + 25))
            joined.ids += slice.ids
            joined.owners += slice.owners
            joined.vectors += slice.vectors
        }
        #expect(joined == whole)
        #expect(whole.count == 309)
        #expect(whole.owners[5] == OwnerID(1))
    }

    @Test("exact top-k merged over slices equals one exact index over the whole gallery")
    func slicedTruth() throws {
        let configuration = SearchBenchmarkConfiguration(
            galleryCount: 2_000, singleProbes: 12, batchSize: 12, k: 10, indexes: [.flatInt8], sliceTemplates: 300)
        let benchmark = SearchBenchmark(configuration)
        #expect(configuration.isSliced)
        let truth = try ExactTruth(benchmark)
        let whole = try FlatIndex(encoding: .float32)
        benchmark.forEachSlice { slice in try? whole.insert(slice) }
        #expect(whole.count == 2_000)
        let expected = try whole.search(batch: Array(benchmark.probes.prefix(12)), parameters: SearchParameters(k: 10))
        #expect(truth.hits == expected)
        // The benchmark itself measures the code-only index against that truth.
        let figures = try benchmark.run()
        #expect(figures.count == 1 && figures[0].index == .flatInt8)
        #expect(figures[0].recall >= 0.9)
        #expect(figures[0].results.count == 12)
    }
}
