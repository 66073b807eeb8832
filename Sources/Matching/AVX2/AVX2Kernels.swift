// This module is compiled for Haswell-class x86-64 (AVX2, FMA, `-target-cpu haswell` in
// Package.swift), so its SIMD types lower to 256-bit instructions. Nothing here checks the CPU:
// `Matching` calls these functions only after it has found both features (VectorKernels).
// Every entry point is `@inline(never)` so no caller compiled for the baseline target can absorb
// the body (and lose the wider instructions, or turn FMA into library calls).
#if arch(x86_64)

/// Similarity kernels for 128-D (or any multiple of 16) templates on AVX2 + FMA.
///
/// `dot` and `scores` share one summation order, so a score from either is the same float: the
/// flat scans use `scores`, re-ranking uses `dot`, and exact results must agree bit for bit.
/// The four-row forms sum in another order; callers re-score what they return.
public enum AVX2Kernels {
    /// Float dot product of two `dimension`-long vectors.
    @inline(never)
    @_optimize(speed)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        dimension == 128 ? floatDot(a, b, dimension: 128) : floatDot(a, b, dimension: dimension)
    }

    /// Scores `count` consecutive rows of `rows` against `query` into `output` (same values as `dot`).
    @inline(never)
    @_optimize(speed)
    public static func scores(
        _ query: UnsafePointer<Float>, rows: UnsafePointer<Float>, count: Int, dimension: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        var row = rows
        if dimension == 128 {
            for index in 0..<count {
                output[index] = floatDot(query, row, dimension: 128)
                row += 128
            }
        } else {
            for index in 0..<count {
                output[index] = floatDot(query, row, dimension: dimension)
                row += dimension
            }
        }
    }

    /// Float dot products of one query with four rows; their loads overlap (graph search waits on
    /// memory, not arithmetic).
    @inline(never)
    @_optimize(speed)
    public static func dot(
        _ query: UnsafePointer<Float>, rows r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
        _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, dimension: Int
    ) -> SIMD4<Float> {
        dimension == 128
            ? floatDot4(query, r0, r1, r2, r3, dimension: 128)
            : floatDot4(query, r0, r1, r2, r3, dimension: dimension)
    }

    /// Integer dot product of an int16 probe with an int8 code (`vpmovsxbw` + `vpmaddwd`).
    @inline(never)
    @_optimize(speed)
    public static func dot(_ probe: UnsafePointer<Int16>, _ code: UnsafePointer<Int8>, dimension: Int) -> Int32 {
        dimension == 128 ? integerDot(probe, code, dimension: 128) : integerDot(probe, code, dimension: dimension)
    }

    /// Integer dot products of one int16 probe with four int8 codes.
    @inline(never)
    @_optimize(speed)
    public static func dot(
        _ probe: UnsafePointer<Int16>, codes c0: UnsafePointer<Int8>, _ c1: UnsafePointer<Int8>,
        _ c2: UnsafePointer<Int8>, _ c3: UnsafePointer<Int8>, dimension: Int
    ) -> SIMD4<Int32> {
        dimension == 128
            ? integerDot4(probe, c0, c1, c2, c3, dimension: 128)
            : integerDot4(probe, c0, c1, c2, c3, dimension: dimension)
    }

    /// Approximate scores of `count` consecutive int8 codes: `Float(probe . code) * (scale * codeScale)`.
    @inline(never)
    @_optimize(speed)
    public static func approximateScores(
        _ probe: UnsafePointer<Int16>, scale: Float, codes: UnsafePointer<Int8>, codeScales: UnsafePointer<Float>,
        count: Int, dimension: Int, into output: UnsafeMutablePointer<Float>
    ) {
        var code = codes
        if dimension == 128 {
            // Eight codes at a time: their eight-lane sums are reduced together (three rounds of
            // pairwise adds) instead of one horizontal sum per code, and scaled as one vector.
            // Lane for lane the arithmetic is the one-code loop's, so the scores are identical.
            let rawProbe = UnsafeRawPointer(probe)
            var index = 0
            while index &+ 8 <= count {
                let raw = UnsafeRawPointer(code)
                @inline(__always) func sums(_ position: Int) -> SIMD8<Int32> {
                    laneSums(rawProbe, raw + position &* 128, dimension: 128)
                }
                let totals = pairwiseTotals(
                    pairwiseTotals(pairwiseTotals(sums(0), sums(1)), pairwiseTotals(sums(2), sums(3))),
                    pairwiseTotals(pairwiseTotals(sums(4), sums(5)), pairwiseTotals(sums(6), sums(7))))
                let scales = UnsafeRawPointer(codeScales + index).loadUnaligned(as: SIMD8<Float>.self)
                let scores = SIMD8<Float>(totals) * (SIMD8(repeating: scale) * scales)
                UnsafeMutableRawPointer(output + index).storeBytes(of: scores, as: SIMD8<Float>.self)
                code += 1024
                index &+= 8
            }
            while index < count {
                output[index] = Float(integerDot(probe, code, dimension: 128)) * (scale * codeScales[index])
                code += 128
                index &+= 1
            }
        } else {
            for index in 0..<count {
                output[index] = Float(integerDot(probe, code, dimension: dimension)) * (scale * codeScales[index])
                code += dimension
            }
        }
    }

    // MARK: Bodies (always inlined into the entry points above)

    @inline(__always)
    private static func floatDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        // Four 8-lane accumulators (two SIMD16) keep four FMA chains in flight.
        var sum0 = SIMD16<Float>()
        var sum1 = SIMD16<Float>()
        var offset = 0
        let byteCount = dimension &* 4
        while offset &+ 128 <= byteCount {
            sum0 = sum0.addingProduct(
                rawA.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self),
                rawB.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
            sum1 = sum1.addingProduct(
                rawA.loadUnaligned(fromByteOffset: offset &+ 64, as: SIMD16<Float>.self),
                rawB.loadUnaligned(fromByteOffset: offset &+ 64, as: SIMD16<Float>.self))
            offset &+= 128
        }
        if offset < byteCount {
            sum0 = sum0.addingProduct(
                rawA.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self),
                rawB.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
        }
        let sixteen = sum0 + sum1
        let eight = sixteen.lowHalf + sixteen.highHalf
        let four = eight.lowHalf + eight.highHalf
        return (four[0] + four[2]) + (four[1] + four[3])
    }

    @inline(__always)
    private static func floatDot4(
        _ query: UnsafePointer<Float>, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
        _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, dimension: Int
    ) -> SIMD4<Float> {
        let rawQuery = UnsafeRawPointer(query)
        let raw0 = UnsafeRawPointer(r0), raw1 = UnsafeRawPointer(r1)
        let raw2 = UnsafeRawPointer(r2), raw3 = UnsafeRawPointer(r3)
        var sum0 = SIMD8<Float>(), sum1 = SIMD8<Float>(), sum2 = SIMD8<Float>(), sum3 = SIMD8<Float>()
        var offset = 0
        let byteCount = dimension &* 4
        while offset < byteCount {
            let q = rawQuery.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            sum0 = sum0.addingProduct(q, raw0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            sum1 = sum1.addingProduct(q, raw1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            sum2 = sum2.addingProduct(q, raw2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            sum3 = sum3.addingProduct(q, raw3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            offset &+= 32
        }
        let fold0 = sum0.lowHalf + sum0.highHalf, fold1 = sum1.lowHalf + sum1.highHalf
        let fold2 = sum2.lowHalf + sum2.highHalf, fold3 = sum3.lowHalf + sum3.highHalf
        let a = SIMD4(fold0[0], fold1[0], fold2[0], fold3[0]) + SIMD4(fold0[1], fold1[1], fold2[1], fold3[1])
        let b = SIMD4(fold0[2], fold1[2], fold2[2], fold3[2]) + SIMD4(fold0[3], fold1[3], fold2[3], fold3[3])
        return a + b
    }

    @inline(__always)
    private static func integerDot(_ probe: UnsafePointer<Int16>, _ code: UnsafePointer<Int8>, dimension: Int) -> Int32 {
        laneSums(UnsafeRawPointer(probe), UnsafeRawPointer(code), dimension: dimension).wrappedSum()
    }

    /// The eight 32-bit partial sums of an int16 probe with an int8 code, before the horizontal
    /// add that ``integerDot(_:_:dimension:)`` ends with (the eight-code path reduces several at once).
    @inline(__always)
    private static func laneSums(_ rawProbe: UnsafeRawPointer, _ rawCode: UnsafeRawPointer, dimension: Int) -> SIMD8<Int32> {
        var sum0 = SIMD8<Int32>()
        var sum1 = SIMD8<Int32>()
        var offset = 0
        while offset &+ 32 <= dimension {
            sum0 &+= multiplyAddPairs(
                widen(rawCode.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)),
                rawProbe.loadUnaligned(fromByteOffset: offset &* 2, as: SIMD16<Int16>.self))
            sum1 &+= multiplyAddPairs(
                widen(rawCode.loadUnaligned(fromByteOffset: offset &+ 16, as: SIMD16<Int8>.self)),
                rawProbe.loadUnaligned(fromByteOffset: offset &* 2 &+ 32, as: SIMD16<Int16>.self))
            offset &+= 32
        }
        if offset < dimension {
            sum0 &+= multiplyAddPairs(
                widen(rawCode.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)),
                rawProbe.loadUnaligned(fromByteOffset: offset &* 2, as: SIMD16<Int16>.self))
        }
        return sum0 &+ sum1
    }

    /// Adjacent lanes of `a` then of `b` added: `[a0+a1, a2+a3, a4+a5, a6+a7, b0+b1, ...]`.
    /// Three rounds over eight codes' lane sums leave code `i`'s total in lane `i`.
    @inline(__always)
    private static func pairwiseTotals(_ a: SIMD8<Int32>, _ b: SIMD8<Int32>) -> SIMD8<Int32> {
        let joined = SIMD16<Int32>(lowHalf: a, highHalf: b)
        return joined.evenHalf &+ joined.oddHalf
    }

    @inline(__always)
    private static func integerDot4(
        _ probe: UnsafePointer<Int16>, _ c0: UnsafePointer<Int8>, _ c1: UnsafePointer<Int8>,
        _ c2: UnsafePointer<Int8>, _ c3: UnsafePointer<Int8>, dimension: Int
    ) -> SIMD4<Int32> {
        let rawProbe = UnsafeRawPointer(probe)
        let raw0 = UnsafeRawPointer(c0), raw1 = UnsafeRawPointer(c1)
        let raw2 = UnsafeRawPointer(c2), raw3 = UnsafeRawPointer(c3)
        var sum0 = SIMD8<Int32>(), sum1 = SIMD8<Int32>(), sum2 = SIMD8<Int32>(), sum3 = SIMD8<Int32>()
        var offset = 0
        while offset < dimension {
            let p = rawProbe.loadUnaligned(fromByteOffset: offset &* 2, as: SIMD16<Int16>.self)
            sum0 &+= multiplyAddPairs(widen(raw0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)), p)
            sum1 &+= multiplyAddPairs(widen(raw1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)), p)
            sum2 &+= multiplyAddPairs(widen(raw2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)), p)
            sum3 &+= multiplyAddPairs(widen(raw3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)), p)
            offset &+= 16
        }
        return SIMD4(sum0.wrappedSum(), sum1.wrappedSum(), sum2.wrappedSum(), sum3.wrappedSum())
    }

    /// Sixteen 16-bit products summed pairwise into eight 32-bit lanes: the shape LLVM emits as
    /// one `vpmaddwd`.
    @inline(__always)
    private static func multiplyAddPairs(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
        let products = widen(a) &* widen(b)
        return products.evenHalf &+ products.oddHalf
    }

    // Lane-by-lane sign extension: the generic `init(truncatingIfNeeded:)` can stay an
    // out-of-line call in large loops; these always become `vpmovsx*`.
    @inline(__always)
    private static func widen(_ v: SIMD16<Int8>) -> SIMD16<Int16> {
        SIMD16(
            Int16(v[0]), Int16(v[1]), Int16(v[2]), Int16(v[3]), Int16(v[4]), Int16(v[5]), Int16(v[6]), Int16(v[7]),
            Int16(v[8]), Int16(v[9]), Int16(v[10]), Int16(v[11]), Int16(v[12]), Int16(v[13]), Int16(v[14]), Int16(v[15]))
    }

    @inline(__always)
    private static func widen(_ v: SIMD16<Int16>) -> SIMD16<Int32> {
        SIMD16(
            Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]),
            Int32(v[8]), Int32(v[9]), Int32(v[10]), Int32(v[11]), Int32(v[12]), Int32(v[13]), Int32(v[14]), Int32(v[15]))
    }
}

#endif
