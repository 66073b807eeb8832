/// Probes copied into one aligned buffer, normalised, plus their int16 codes when an int8 scan
/// needs them. Owned by one search; read by its workers.
final class ProbeMatrix: @unchecked Sendable {
    let count: Int
    let dimension: Int
    let floats: UnsafeMutablePointer<Float>
    /// Int16 codes (`count * dimension`), scales and error norms; empty unless quantised.
    private(set) var codes: UnsafeMutablePointer<Int16>?
    private(set) var scales: [Float] = []
    private(set) var errorNorms: [Float] = []

    /// Normalises and copies the probes; throws for a wrong length or a vector with no direction.
    init(_ probes: [[Float]], dimension: Int) throws(MatchingError) {
        count = probes.count
        self.dimension = dimension
        floats = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * dimension) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, count * dimension))
        // A throw here still runs deinit (every stored property is set), which frees `floats`.
        for (index, probe) in probes.enumerated() {
            guard probe.count == dimension else { throw .dimensionMismatch(expected: dimension, actual: probe.count) }
            try VectorKernels.normalise(probe, into: floats + index * dimension)
        }
    }

    deinit {
        UnsafeMutableRawPointer(floats).deallocate()
        codes.map { UnsafeMutableRawPointer($0).deallocate() }
    }

    @inline(__always)
    func probe(_ index: Int) -> UnsafePointer<Float> { UnsafePointer(floats + index * dimension) }

    @inline(__always)
    func probeCodes(_ index: Int) -> UnsafePointer<Int16> { UnsafePointer(codes! + index * dimension) }

    /// Adds int16 codes: a finer grid than the gallery's, so the probe's own rounding adds
    /// almost nothing to the score error bound. 127 * 32767 * dimension stays below 2^31 for
    /// dimensions up to 512, so Int32 sums cannot overflow.
    func quantise() {
        guard codes == nil else { return }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * dimension) * 2, alignment: 64)
            .bindMemory(to: Int16.self, capacity: max(1, count * dimension))
        for index in 0..<count {
            let quantised = QuantisedVector.quantise(floats + index * dimension, dimension: dimension, levels: 32767, into: buffer + index * dimension)
            scales.append(quantised.scale)
            errorNorms.append(quantised.errorNorm)
        }
        codes = buffer
    }
}
