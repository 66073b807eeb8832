import Benchmark
import Foundation
import Matching

/// One synthetic, face-like gallery shared by the search benchmarks (generated once, on first use).
private let gallerySize = 100_000
private let synthetic = SyntheticFaceTemplates(.init(identities: gallerySize / 4, samplesPerIdentity: 4))
private let gallery = synthetic.gallery()
private let probes = synthetic.probes(count: 256).map(\.vector)

private func filledIndex(_ encoding: FlatIndex.Encoding) -> FlatIndex {
    do {
        let index = try FlatIndex(encoding: encoding)
        try index.insert(gallery)
        return index
    } catch {
        fatalError("cannot build the \(encoding) benchmark index: \(error)")
    }
}

private func search(_ index: some TemplateIndex, _ benchmark: Benchmark, breadth: Int? = nil) throws {
    let parameters = SearchParameters(k: 10, searchBreadth: breadth)
    for iteration in benchmark.scaledIterations {
        blackHole(try index.search(probes[iteration % probes.count], parameters: parameters))
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        scalingFactor: .one, maxDuration: .seconds(5), maxIterations: 10_000)

    // Every templated search scans all 100k templates on both cores.
    let float32 = filledIndex(.float32)
    Benchmark("flat float32 search, 100k templates, k 10") { benchmark in
        try search(float32, benchmark)
    }
    let rerank = filledIndex(.int8Rerank)
    Benchmark("flat int8 + exact re-rank search, 100k templates, k 10") { benchmark in
        try search(rerank, benchmark)
    }
    let codes = filledIndex(.int8)
    Benchmark("flat int8 (codes only) search, 100k templates, k 10") { benchmark in
        try search(codes, benchmark)
    }

    Benchmark("HNSW search, 100k templates, efSearch 256, k 10") { benchmark in
        try search(hnsw, benchmark, breadth: 256)
    }
    Benchmark("HNSW insertion, 20k templates (M 32, efConstruction 200)", configuration: .init(maxDuration: .seconds(20), maxIterations: 3)) { benchmark in
        let slice = TemplateBatch(
            ids: Array(gallery.ids.prefix(20_000)), owners: Array(gallery.owners.prefix(20_000)),
            vectors: Array(gallery.vectors.prefix(20_000 * gallery.dimension)), dimension: gallery.dimension)
        for _ in benchmark.scaledIterations {
            let index = try HNSWIndex()
            try index.insert(slice)
            blackHole(index)
        }
    }

    Benchmark("snapshot save and load, 100k int8 + floats", configuration: .init(maxDuration: .seconds(10), maxIterations: 20)) { benchmark in
        let path = NSTemporaryDirectory() + "biomatch-benchmark-\(getpid()).snapshot"
        defer { try? FileManager.default.removeItem(atPath: path) }
        for _ in benchmark.scaledIterations {
            try IndexSnapshot.save(rerank, to: path)
            blackHole(try IndexSnapshot.load(from: path))
        }
    }
}

/// The HNSW index the search benchmark reads, built once.
private let hnsw: HNSWIndex = {
    do {
        let index = try HNSWIndex()
        try index.insert(gallery)
        return index
    } catch {
        fatalError("cannot build the HNSW benchmark index: \(error)")
    }
}()
