#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Matching
#if arch(x86_64) && os(Linux)
import MatchingAVX2
#endif

@Suite("Similarity kernels")
struct KernelTests {
    /// Unit vectors and their int8 codes, plus int16 probe codes.
    struct Data {
        let dimension: Int
        var floats: [Float] = []
        var codes: [Int8] = []
        var scales: [Float] = []
        var probeCodes: [Int16] = []
        let rows: Int

        init(rows: Int, dimension: Int, seed: UInt64) {
            self.rows = rows
            self.dimension = dimension
            var generator = SeededGenerator(seed: seed)
            for _ in 0..<rows {
                var vector = (0..<dimension).map { _ in Float(generator.nextGaussian()) }
                let length = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                vector = vector.map { $0 / length }
                floats += vector
                var code = [Int8](repeating: 0, count: dimension)
                var probeCode = [Int16](repeating: 0, count: dimension)
                vector.withUnsafeBufferPointer { source in
                    code.withUnsafeMutableBufferPointer { scales.append(QuantisedVector.quantise(source.baseAddress!, dimension: dimension, levels: 127, into: $0.baseAddress!).scale) }
                    probeCode.withUnsafeMutableBufferPointer { _ = QuantisedVector.quantise(source.baseAddress!, dimension: dimension, levels: 32767, into: $0.baseAddress!) }
                }
                codes += code
                probeCodes += probeCode
            }
        }
    }

    @Test("the kernel set follows the CPU (AVX2 and FMA) unless BIOMATCH_SIMD=baseline")
    func dispatch() {
        let forced = getenv("BIOMATCH_SIMD").map { String(cString: $0) } == "baseline"
        #expect(VectorKernels.accelerated == (CPUFeatures.hasAVX2AndFMA && !forced))
        #expect(IndexKernels.name == (VectorKernels.accelerated ? "avx2" : "baseline"))
        #if os(Linux) && arch(x86_64)
        // Every x86-64 CPU has SSE2; reading the flags must work.
        #expect(CPUFeatures.cpuFlags().contains("sse2"))
        #endif
    }

    @Test("block scores equal single dot products bit for bit, integer kernels equal exact sums", arguments: [128, 48, 16])
    func baselineKernels(dimension: Int) {
        let data = Data(rows: 37, dimension: dimension, seed: UInt64(dimension))
        data.floats.withUnsafeBufferPointer { floats in
            data.codes.withUnsafeBufferPointer { codes in
                data.probeCodes.withUnsafeBufferPointer { probes in
                    data.scales.withUnsafeBufferPointer { scales in
                        check(floats.baseAddress!, codes.baseAddress!, probes.baseAddress!, scales.baseAddress!, data, accelerated: false)
                        if CPUFeatures.hasAVX2AndFMA {
                            check(floats.baseAddress!, codes.baseAddress!, probes.baseAddress!, scales.baseAddress!, data, accelerated: true)
                            compareSets(floats.baseAddress!, codes.baseAddress!, probes.baseAddress!, data)
                        }
                    }
                }
            }
        }
    }

    /// One kernel set against plain loops.
    func check(
        _ floats: UnsafePointer<Float>, _ codes: UnsafePointer<Int8>, _ probes: UnsafePointer<Int16>, _ scales: UnsafePointer<Float>,
        _ data: Data, accelerated: Bool
    ) {
        let dimension = data.dimension
        let query = floats
        var blockScores = [Float](repeating: 0, count: data.rows)
        blockScores.withUnsafeMutableBufferPointer {
            VectorKernels.scores(query, rows: floats, count: data.rows, dimension: dimension, into: $0.baseAddress!, accelerated: accelerated)
        }
        var approximate = [Float](repeating: 0, count: data.rows)
        approximate.withUnsafeMutableBufferPointer {
            VectorKernels.approximateScores(probes, scale: 0.5, codes: codes, codeScales: scales, count: data.rows, dimension: dimension,
                                            into: $0.baseAddress!, accelerated: accelerated)
        }
        for row in 0..<data.rows {
            let vector = floats + row * dimension
            let single = accelerated ? avx2Dot(query, vector, dimension) : BaselineKernels.dot(query, vector, dimension: dimension)
            #expect(blockScores[row].bitPattern == single.bitPattern)
            var plain: Double = 0
            var integer: Int64 = 0
            for index in 0..<dimension {
                plain += Double(query[index]) * Double(vector[index])
                integer += Int64(probes[index]) * Int64(codes[row * dimension + index])
            }
            #expect(abs(Double(single) - plain) < 1e-5)
            let dot = VectorKernels.dot(probes, codes + row * dimension, dimension: dimension, accelerated: accelerated)
            #expect(Int64(dot) == integer)
            #expect(approximate[row] == Float(dot) * (0.5 * scales[row]))
        }
        for row in stride(from: 0, to: data.rows - 3, by: 4) {
            let rows = (0..<4).map { floats + (row + $0) * dimension }
            let four = VectorKernels.dot(query, rows: rows[0], rows[1], rows[2], rows[3], dimension: dimension, accelerated: accelerated)
            let rowCodes = (0..<4).map { codes + (row + $0) * dimension }
            let fourCodes = VectorKernels.dot(probes, codes: rowCodes[0], rowCodes[1], rowCodes[2], rowCodes[3], dimension: dimension, accelerated: accelerated)
            for lane in 0..<4 {
                #expect(abs(four[lane] - blockScores[row + lane]) < 1e-5)
                #expect(fourCodes[lane] == VectorKernels.dot(probes, rowCodes[lane], dimension: dimension, accelerated: accelerated))
            }
        }
    }

    /// AVX2 against the baseline: integers identical, floats within rounding.
    func compareSets(_ floats: UnsafePointer<Float>, _ codes: UnsafePointer<Int8>, _ probes: UnsafePointer<Int16>, _ data: Data) {
        let dimension = data.dimension
        for row in 0..<data.rows {
            let vector = floats + row * dimension
            #expect(abs(avx2Dot(floats, vector, dimension) - BaselineKernels.dot(floats, vector, dimension: dimension)) < 1e-6)
            #expect(VectorKernels.dot(probes, codes + row * dimension, dimension: dimension, accelerated: true)
                    == BaselineKernels.dot(probes, codes + row * dimension, dimension: dimension))
        }
    }

    func avx2Dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        #if arch(x86_64) && os(Linux)
        AVX2Kernels.dot(a, b, dimension: dimension)
        #else
        BaselineKernels.dot(a, b, dimension: dimension)
        #endif
    }
}
