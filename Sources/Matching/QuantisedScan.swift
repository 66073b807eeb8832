/// The int8 scan with exact re-ranking behind `FlatIndex.Encoding.int8Rerank`.
///
/// Why results equal the exact float scan. A stored unit vector `g` is `s_g * c_g + e_g` with
/// int8 code `c_g` and rounding error `e_g`; the probe `q` is `s_q * c_q + e_q` with int16 code.
/// The approximate score `a = s_q * s_g * (c_q . c_g)` differs from `q . g` by at most
/// `|e_g| + |s_g c_g| * |e_q| <= E + (1 + E) * |e_q| = B` (Cauchy-Schwarz, `|q| = 1`), where `E` is
/// the largest `|e_g|` in the gallery, plus a small allowance for float rounding. If `t` is the
/// k-th best approximate score, k templates score at least `t - B` exactly, so every template in
/// the exact top k has `a >= t - 2B`. The scan keeps the best `factor * k` approximate scores per
/// worker; when a worker's list was too short to hold every score above `t - 2B` that query is
/// re-scanned collecting all of them. The survivors are re-scored from the float vectors.
enum QuantisedScan {
    /// Candidates kept per worker, as a multiple of k.
    static let candidateFactor = 8
    /// Candidates kept per worker at least.
    static let minimumCandidates = 64
    /// Covers float rounding in both the exact and the approximate score.
    static let roundingSlack: Float = 3e-5
    private static let blockRows = 512

    static func topK(view: StoreView, queries: ProbeMatrix, parameters: SearchParameters, parallelThreshold: Int) -> [[(score: Float, row: UInt32)]] {
        queries.quantise()
        let k = parameters.k
        let capacity = max(k * candidateFactor, minimumCandidates)
        let bounds = (0..<queries.count).map { query in
            view.maxCodeError + (1 + view.maxCodeError) * queries.errorNorms[query] + roundingSlack
        }
        let floors = bounds.map { parameters.minimumScore - $0 }
        let workers = view.rowCount >= parallelThreshold ? Parallel.processorCount : 1
        let slots = WorkerSlots<[TopK]>(repeating: [], count: workers)
        Parallel.run(workers: workers) { worker in
            slots[worker] = approximateScan(
                view: view, rows: Parallel.slice(view.rowCount, worker: worker, of: workers),
                queries: queries, capacity: capacity, floors: floors, filter: parameters.filter
            )
        }
        return (0..<queries.count).map { query in
            var candidates: [(score: Float, row: UInt32)] = []
            for worker in 0..<workers {
                let heap = slots[worker][query]
                for index in 0..<heap.count { candidates.append((heap.scores[index], heap.rows[index])) }
            }
            let bound = bounds[query]
            var cutoff = floors[query]
            if candidates.count >= k {
                let kthBest = kthLargest(candidates.map(\.score), k)
                cutoff = max(cutoff, kthBest - 2 * bound)
            }
            let complete = (0..<workers).allSatisfy { worker in
                let heap = slots[worker][query]
                return !heap.isFull || heap.worstScore < cutoff
            }
            let rows: [UInt32]
            if complete {
                rows = candidates.compactMap { $0.score >= cutoff ? $0.row : nil }
            } else {
                rows = collect(view: view, queries: queries, query: query, cutoff: cutoff, filter: parameters.filter, workers: workers)
            }
            var exact = TopK(capacity: k)
            let probe = queries.probe(query)
            for row in rows {
                let score = VectorKernels.dot(probe, view.vector(row: Int(row)), dimension: view.dimension)
                if score >= parameters.minimumScore { exact.offer(score: score, row: row) }
            }
            return exact.sorted()
        }
    }

    /// The best k rows by approximate score alone (code-only stores, `FlatIndex.Encoding.int8`),
    /// best first, at or above the threshold.
    static func approximateTopK(view: StoreView, queries: ProbeMatrix, parameters: SearchParameters, parallelThreshold: Int) -> [[(score: Float, row: UInt32)]] {
        queries.quantise()
        let floors = [Float](repeating: parameters.minimumScore, count: queries.count)
        let workers = view.rowCount >= parallelThreshold ? Parallel.processorCount : 1
        let slots = WorkerSlots<[TopK]>(repeating: [], count: workers)
        Parallel.run(workers: workers) { worker in
            slots[worker] = approximateScan(
                view: view, rows: Parallel.slice(view.rowCount, worker: worker, of: workers),
                queries: queries, capacity: parameters.k, floors: floors, filter: parameters.filter
            )
        }
        return (0..<queries.count).map { query in
            var merged = TopK(capacity: parameters.k)
            for worker in 0..<workers { merged.merge(slots[worker][query]) }
            return merged.sorted()
        }
    }

    /// The best `capacity` approximate scores above each query's floor, per query.
    @_optimize(speed)
    private static func approximateScan(
        view: StoreView, rows: Range<Int>, queries: ProbeMatrix, capacity: Int, floors: [Float], filter: SearchFilter?
    ) -> [TopK] {
        let dimension = view.dimension
        let accelerated = VectorKernels.accelerated
        var heaps = [TopK](repeating: TopK(capacity: capacity), count: queries.count)
        var bars = [Float](repeating: -.infinity, count: queries.count)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
        defer { scores.deallocate() }
        view.forEachRun(in: rows) { chunk, firstOffset, firstRow, length in
            guard let codes = chunk.codes, let scales = chunk.codeScales else { return }
            var blockStart = 0
            while blockStart < length {
                let blockLength = min(length - blockStart, blockRows)
                let offset = firstOffset + blockStart
                for query in 0..<queries.count {
                    VectorKernels.approximateScores(
                        queries.probeCodes(query), scale: queries.scales[query], codes: codes + offset * dimension,
                        codeScales: scales + offset, count: blockLength, dimension: dimension, into: scores,
                        accelerated: accelerated)
                    let floor = floors[query].nextDown
                    var bar = max(bars[query], floor)
                    for index in 0..<blockLength where scores[index] > bar {
                        let row = firstRow + blockStart + index
                        if view.isEligible(row: row, filter: filter) {
                            heaps[query].offer(score: scores[index], row: UInt32(row))
                            bars[query] = heaps[query].admissionScore
                            bar = max(bars[query], floor)
                        }
                    }
                }
                blockStart += blockLength
            }
        }
        return heaps
    }

    /// Every eligible row whose approximate score reaches `cutoff` (the rare slow path).
    @_optimize(speed)
    private static func collect(view: StoreView, queries: ProbeMatrix, query: Int, cutoff: Float, filter: SearchFilter?, workers: Int) -> [UInt32] {
        let slots = WorkerSlots<[UInt32]>(repeating: [], count: workers)
        let dimension = view.dimension
        let probeScale = queries.scales[query]
        let accelerated = VectorKernels.accelerated
        Parallel.run(workers: workers) { worker in
            let probe = queries.probeCodes(query)
            var found: [UInt32] = []
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
            defer { scores.deallocate() }
            view.forEachRun(in: Parallel.slice(view.rowCount, worker: worker, of: workers)) { chunk, firstOffset, firstRow, length in
                guard let codes = chunk.codes, let scales = chunk.codeScales else { return }
                var blockStart = 0
                while blockStart < length {
                    let blockLength = min(length - blockStart, blockRows)
                    let offset = firstOffset + blockStart
                    // The same kernel as the scan, so a score here equals the one the scan saw.
                    VectorKernels.approximateScores(
                        probe, scale: probeScale, codes: codes + offset * dimension, codeScales: scales + offset,
                        count: blockLength, dimension: dimension, into: scores, accelerated: accelerated)
                    for index in 0..<blockLength where scores[index] >= cutoff {
                        if view.isEligible(row: firstRow + blockStart + index, filter: filter) {
                            found.append(UInt32(firstRow + blockStart + index))
                        }
                    }
                    blockStart += blockLength
                }
            }
            slots[worker] = found
        }
        return slots.all.flatMap { $0 }
    }

    /// The k-th largest value (k >= 1, values.count >= k).
    private static func kthLargest(_ values: [Float], _ k: Int) -> Float {
        var heap = TopK(capacity: k)
        for (index, value) in values.enumerated() { heap.offer(score: value, row: UInt32(index)) }
        return heap.worstScore
    }
}
