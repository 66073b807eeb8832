#if arch(x86_64) && os(Linux)
import MatchingAVX2
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which similarity kernels the indexes of this process run.
public enum IndexKernels {
    /// "avx2" (AVX2 + FMA) or "baseline" (SSE2 on x86-64, the portable SIMD code elsewhere).
    public static var name: String { VectorKernels.accelerated ? VectorKernels.Level.avx2.rawValue : VectorKernels.Level.baseline.rawValue }
}

/// The inner loops of every index, dispatched once per process to the widest kernels the CPU
/// runs: `AVX2Kernels` (module MatchingAVX2, 256-bit integer and FMA instructions) on x86-64
/// Linux CPUs with AVX2 and FMA, otherwise `BaselineKernels` (SSE2 on x86-64). Setting
/// `BIOMATCH_SIMD=baseline` in the environment forces the baseline kernels (for comparisons).
///
/// Within one process every score comes from one kernel set, so exact paths (flat float scan,
/// int8 re-rank, HNSW re-score) agree bit for bit; across kernel sets floats may differ in the
/// last bits (FMA rounds once), integer dot products never do.
enum VectorKernels {
    /// The kernel set in use.
    enum Level: String, Sendable {
        case baseline, avx2
    }

    /// Decided on first use from the CPU's features and `BIOMATCH_SIMD`.
    static let level: Level = {
        if let forced = getenv("BIOMATCH_SIMD"), String(cString: forced) == Level.baseline.rawValue { return .baseline }
        return CPUFeatures.hasAVX2AndFMA ? .avx2 : .baseline
    }()

    /// Whether the AVX2 kernels run (read once per scan or search, then passed along).
    static var accelerated: Bool {
        #if arch(x86_64) && os(Linux)
        level == .avx2
        #else
        false
        #endif
    }

    /// Float dot product of two `dimension`-long vectors: the canonical exact score.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        #if arch(x86_64) && os(Linux)
        if accelerated { return AVX2Kernels.dot(a, b, dimension: dimension) }
        #endif
        return BaselineKernels.dot(a, b, dimension: dimension)
    }

    /// `dot` of `query` with `count` consecutive rows, into `output` (the same floats as `dot`).
    @inline(__always)
    static func scores(
        _ query: UnsafePointer<Float>, rows: UnsafePointer<Float>, count: Int, dimension: Int,
        into output: UnsafeMutablePointer<Float>, accelerated: Bool
    ) {
        #if arch(x86_64) && os(Linux)
        if accelerated { return AVX2Kernels.scores(query, rows: rows, count: count, dimension: dimension, into: output) }
        #endif
        BaselineKernels.scores(query, rows: rows, count: count, dimension: dimension, into: output)
    }

    /// Dot products of one query with four rows, summed in another order than `dot`.
    @inline(__always)
    static func dot(
        _ query: UnsafePointer<Float>, rows r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
        _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, dimension: Int, accelerated: Bool
    ) -> SIMD4<Float> {
        #if arch(x86_64) && os(Linux)
        if accelerated { return AVX2Kernels.dot(query, rows: r0, r1, r2, r3, dimension: dimension) }
        #endif
        return BaselineKernels.dot(query, rows: r0, r1, r2, r3, dimension: dimension)
    }

    /// Integer dot product of an int16 probe with an int8 code.
    @inline(__always)
    static func dot(_ probe: UnsafePointer<Int16>, _ code: UnsafePointer<Int8>, dimension: Int, accelerated: Bool) -> Int32 {
        #if arch(x86_64) && os(Linux)
        if accelerated { return AVX2Kernels.dot(probe, code, dimension: dimension) }
        #endif
        return BaselineKernels.dot(probe, code, dimension: dimension)
    }

    /// Integer dot products of one int16 probe with four int8 codes.
    @inline(__always)
    static func dot(
        _ probe: UnsafePointer<Int16>, codes c0: UnsafePointer<Int8>, _ c1: UnsafePointer<Int8>,
        _ c2: UnsafePointer<Int8>, _ c3: UnsafePointer<Int8>, dimension: Int, accelerated: Bool
    ) -> SIMD4<Int32> {
        #if arch(x86_64) && os(Linux)
        if accelerated { return AVX2Kernels.dot(probe, codes: c0, c1, c2, c3, dimension: dimension) }
        #endif
        return BaselineKernels.dot(probe, codes: c0, c1, c2, c3, dimension: dimension)
    }

    /// Approximate scores of `count` consecutive int8 codes: `Float(probe . code) * (scale * codeScale)`,
    /// the same floats whichever kernel set runs.
    @inline(__always)
    static func approximateScores(
        _ probe: UnsafePointer<Int16>, scale: Float, codes: UnsafePointer<Int8>, codeScales: UnsafePointer<Float>,
        count: Int, dimension: Int, into output: UnsafeMutablePointer<Float>, accelerated: Bool
    ) {
        #if arch(x86_64) && os(Linux)
        if accelerated {
            return AVX2Kernels.approximateScores(
                probe, scale: scale, codes: codes, codeScales: codeScales, count: count, dimension: dimension, into: output)
        }
        #endif
        BaselineKernels.approximateScores(
            probe, scale: scale, codes: codes, codeScales: codeScales, count: count, dimension: dimension, into: output)
    }

    /// Sign-extends lane by lane (see `BaselineKernels.widen`).
    @inline(__always)
    static func widen(_ v: SIMD8<Int8>) -> SIMD8<Int16> { BaselineKernels.widen(v) }

    /// Scales `vector` to unit length into `output`, or throws when it has no direction.
    @_optimize(speed)
    static func normalise(_ vector: some Collection<Float>, into output: UnsafeMutablePointer<Float>) throws(MatchingError) {
        var squared: Double = 0
        for value in vector {
            guard value.isFinite else { throw .invalidVector(reason: "contains \(value)") }
            squared += Double(value) * Double(value)
        }
        guard squared > 0, squared.isFinite else { throw .invalidVector(reason: "has zero length") }
        let inverse = 1 / squared.squareRoot()
        var index = 0
        for value in vector {
            output[index] = Float(Double(value) * inverse)
            index += 1
        }
    }

    /// Unit-length copy of `vector`.
    static func normalised(_ vector: [Float], dimension: Int) throws(MatchingError) -> [Float] {
        guard vector.count == dimension else { throw .dimensionMismatch(expected: dimension, actual: vector.count) }
        var result = [Float](repeating: 0, count: dimension)
        try result.withUnsafeMutableBufferPointer { (buffer) throws(MatchingError) in
            try normalise(vector, into: buffer.baseAddress!)
        }
        return result
    }
}

/// The kernels for the baseline x86-64 target (SSE2) and every other CPU: fixed-width SIMD types,
/// several independent accumulators, no per-element bounds checks. Dimensions are multiples of 16.
/// `@_optimize(speed)` on the hot functions keeps debug builds (and so the test suite) within
/// a few times of release speed; unoptimised SIMD code is a hundred times slower.
enum BaselineKernels {
    /// Float dot product of two `dimension`-long vectors.
    @inline(__always)
    @_optimize(speed)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        // A constant trip count for SFace's 128 lets the loop unroll completely.
        dimension == 128 ? floatDot(a, b, dimension: 128) : floatDot(a, b, dimension: dimension)
    }

    @inline(__always)
    @_optimize(speed)
    private static func floatDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        var sum0 = SIMD16<Float>()
        var sum1 = SIMD16<Float>()
        var offset = 0
        let byteCount = dimension &* 4
        // Two accumulators hide the add latency; 32 floats per step.
        while offset &+ 128 <= byteCount {
            sum0 += rawA.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            sum1 += rawA.loadUnaligned(fromByteOffset: offset &+ 64, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: offset &+ 64, as: SIMD16<Float>.self)
            offset &+= 128
        }
        if offset < byteCount {
            sum0 += rawA.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        }
        // Fold by halves in registers (the generic `sum()` is an out-of-line call).
        let sixteen = sum0 + sum1
        let eight = sixteen.lowHalf + sixteen.highHalf
        let four = eight.lowHalf + eight.highHalf
        return (four[0] + four[2]) + (four[1] + four[3])
    }

    /// Dot products of one query with four stored vectors. The four streams of loads are
    /// independent, so their cache misses overlap: graph search reads scattered vectors and is
    /// bound by memory latency, not arithmetic. Summation order differs from `dot`, so callers
    /// re-score final results with `dot`.
    @inline(__always)
    static func dot(_ query: UnsafePointer<Float>, rows r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
                    _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, dimension: Int) -> SIMD4<Float> {
        dimension == 128
            ? floatDot4(query, r0, r1, r2, r3, dimension: 128)
            : floatDot4(query, r0, r1, r2, r3, dimension: dimension)
    }

    @_optimize(speed)
    @inline(__always)
    private static func floatDot4(_ query: UnsafePointer<Float>, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
                                  _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, dimension: Int) -> SIMD4<Float> {
        let rawQuery = UnsafeRawPointer(query)
        let raw0 = UnsafeRawPointer(r0), raw1 = UnsafeRawPointer(r1)
        let raw2 = UnsafeRawPointer(r2), raw3 = UnsafeRawPointer(r3)
        var sum0 = SIMD8<Float>(), sum1 = SIMD8<Float>(), sum2 = SIMD8<Float>(), sum3 = SIMD8<Float>()
        var offset = 0
        let byteCount = dimension &* 4
        while offset < byteCount {
            let q = rawQuery.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            sum0 += q * raw0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            sum1 += q * raw1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            sum2 += q * raw2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            sum3 += q * raw3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            offset &+= 32
        }
        // Transpose-and-add: lane i of the result is the sum of sum_i.
        let fold0 = sum0.lowHalf + sum0.highHalf, fold1 = sum1.lowHalf + sum1.highHalf
        let fold2 = sum2.lowHalf + sum2.highHalf, fold3 = sum3.lowHalf + sum3.highHalf
        let a = SIMD4(fold0[0], fold1[0], fold2[0], fold3[0]) + SIMD4(fold0[1], fold1[1], fold2[1], fold3[1])
        let b = SIMD4(fold0[2], fold1[2], fold2[2], fold3[2]) + SIMD4(fold0[3], fold1[3], fold2[3], fold3[3])
        return a + b
    }

    /// Integer dot product of an int16 probe with an int8 gallery code, accumulated in Int32.
    ///
    /// The even/odd pairing below is the shape the x86 back end turns into `pmaddwd`
    /// (eight 16-bit products summed pairwise into four 32-bit lanes per instruction); written
    /// as a plain loop it would waste half of every multiply.
    @inline(__always)
    @_optimize(speed)
    static func dot(_ probe: UnsafePointer<Int16>, _ code: UnsafePointer<Int8>, dimension: Int) -> Int32 {
        dimension == 128 ? integerDot(probe, code, dimension: 128) : integerDot(probe, code, dimension: dimension)
    }

    @inline(__always)
    @_optimize(speed)
    private static func integerDot(_ probe: UnsafePointer<Int16>, _ code: UnsafePointer<Int8>, dimension: Int) -> Int32 {
        let rawProbe = UnsafeRawPointer(probe)
        let rawCode = UnsafeRawPointer(code)
        var sum0 = SIMD4<Int32>()
        var sum1 = SIMD4<Int32>()
        var offset = 0
        while offset < dimension {
            let bytes = rawCode.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            let low = rawProbe.loadUnaligned(fromByteOffset: offset &* 2, as: SIMD8<Int16>.self)
            let high = rawProbe.loadUnaligned(fromByteOffset: offset &* 2 &+ 16, as: SIMD8<Int16>.self)
            sum0 &+= multiplyAddPairs(widen(bytes.lowHalf), low)
            sum1 &+= multiplyAddPairs(widen(bytes.highHalf), high)
            offset &+= 16
        }
        return (sum0 &+ sum1).wrappedSum()
    }

    /// Integer dot products of one int16 probe with four int8 codes (independent loads overlap
    /// their cache misses, as in the float version).
    @inline(__always)
    static func dot(_ probe: UnsafePointer<Int16>, codes c0: UnsafePointer<Int8>, _ c1: UnsafePointer<Int8>,
                    _ c2: UnsafePointer<Int8>, _ c3: UnsafePointer<Int8>, dimension: Int) -> SIMD4<Int32> {
        dimension == 128
            ? integerDot4(probe, c0, c1, c2, c3, dimension: 128)
            : integerDot4(probe, c0, c1, c2, c3, dimension: dimension)
    }

    @_optimize(speed)
    @inline(__always)
    private static func integerDot4(_ probe: UnsafePointer<Int16>, _ c0: UnsafePointer<Int8>, _ c1: UnsafePointer<Int8>,
                                    _ c2: UnsafePointer<Int8>, _ c3: UnsafePointer<Int8>, dimension: Int) -> SIMD4<Int32> {
        let rawProbe = UnsafeRawPointer(probe)
        let raw0 = UnsafeRawPointer(c0), raw1 = UnsafeRawPointer(c1), raw2 = UnsafeRawPointer(c2), raw3 = UnsafeRawPointer(c3)
        var sum0 = SIMD4<Int32>(), sum1 = SIMD4<Int32>(), sum2 = SIMD4<Int32>(), sum3 = SIMD4<Int32>()
        var offset = 0
        while offset < dimension {
            let low = rawProbe.loadUnaligned(fromByteOffset: offset &* 2, as: SIMD8<Int16>.self)
            let high = rawProbe.loadUnaligned(fromByteOffset: offset &* 2 &+ 16, as: SIMD8<Int16>.self)
            let b0 = raw0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            let b1 = raw1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            let b2 = raw2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            let b3 = raw3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
            sum0 &+= multiplyAddPairs(widen(b0.lowHalf), low) &+ multiplyAddPairs(widen(b0.highHalf), high)
            sum1 &+= multiplyAddPairs(widen(b1.lowHalf), low) &+ multiplyAddPairs(widen(b1.highHalf), high)
            sum2 &+= multiplyAddPairs(widen(b2.lowHalf), low) &+ multiplyAddPairs(widen(b2.highHalf), high)
            sum3 &+= multiplyAddPairs(widen(b3.lowHalf), low) &+ multiplyAddPairs(widen(b3.highHalf), high)
            offset &+= 16
        }
        return SIMD4(sum0.wrappedSum(), sum1.wrappedSum(), sum2.wrappedSum(), sum3.wrappedSum())
    }

    /// `dot` of `query` with `count` consecutive rows, into `output`.
    @_optimize(speed)
    static func scores(
        _ query: UnsafePointer<Float>, rows: UnsafePointer<Float>, count: Int, dimension: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        var row = rows
        for index in 0..<count {
            output[index] = dot(query, row, dimension: dimension)
            row += dimension
        }
    }

    /// Approximate scores of `count` consecutive int8 codes.
    @_optimize(speed)
    static func approximateScores(
        _ probe: UnsafePointer<Int16>, scale: Float, codes: UnsafePointer<Int8>, codeScales: UnsafePointer<Float>,
        count: Int, dimension: Int, into output: UnsafeMutablePointer<Float>
    ) {
        var code = codes
        for index in 0..<count {
            output[index] = Float(dot(probe, code, dimension: dimension)) * (scale * codeScales[index])
            code += dimension
        }
    }

    @_optimize(speed)
    @inline(__always)
    private static func multiplyAddPairs(_ a: SIMD8<Int16>, _ b: SIMD8<Int16>) -> SIMD4<Int32> {
        let products = widen(a) &* widen(b)
        return products.evenHalf &+ products.oddHalf
    }

    /// Sign-extends lane by lane. The generic `init(truncatingIfNeeded:)` is the same
    /// operation but the optimiser may leave it as an out-of-line call inside large loops,
    /// which costs more than the arithmetic; these always inline to `punpck` + shifts.
    @inline(__always)
    static func widen(_ v: SIMD8<Int8>) -> SIMD8<Int16> {
        SIMD8(Int16(v[0]), Int16(v[1]), Int16(v[2]), Int16(v[3]), Int16(v[4]), Int16(v[5]), Int16(v[6]), Int16(v[7]))
    }

    @inline(__always)
    static func widen(_ v: SIMD8<Int16>) -> SIMD8<Int32> {
        SIMD8(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
    }
}

/// Symmetric scalar quantisation: a unit vector `x` is stored as `scale * code` with `code`
/// in [-127, 127] (gallery, int8) or [-32767, 32767] (probe, int16). `errorNorm` is the exact
/// length of `x - scale * code`, which bounds how far an approximate score can stray.
struct QuantisedVector {
    var scale: Float
    var errorNorm: Float

    /// Quantises `vector` (length `dimension`) to `levels` steps each side of zero.
    @inline(__always)
    @_optimize(speed)
    static func quantise<Code: FixedWidthInteger & SignedInteger>(
        _ vector: UnsafePointer<Float>, dimension: Int, levels: Float, into codes: UnsafeMutablePointer<Code>
    ) -> QuantisedVector {
        var largest: Float = 0
        for index in 0..<dimension { largest = max(largest, abs(vector[index])) }
        guard largest > 0 else {
            codes.initialize(repeating: 0, count: dimension)
            return QuantisedVector(scale: 0, errorNorm: 0)
        }
        let scale = largest / levels
        let inverse = levels / largest
        var squaredError: Double = 0
        for index in 0..<dimension {
            let code = (vector[index] * inverse).rounded().clamped(to: -levels ... levels)
            codes[index] = Code(code)
            let error = Double(vector[index]) - Double(scale) * Double(code)
            squaredError += error * error
        }
        return QuantisedVector(scale: scale, errorNorm: Float(squaredError.squareRoot()))
    }
}

extension Comparable {
    @inline(__always)
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
