/// A small, fast, seedable generator (SplitMix64), so synthetic galleries are reproducible
/// across runs and machines.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; equal seeds give equal sequences.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A standard normal sample (Box-Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = Double.random(in: Double.leastNonzeroMagnitude ..< 1, using: &self)
        let u2 = Double.random(in: 0 ..< 1, using: &self)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

// Avoid Foundation for two functions.
#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif

/// Face-like synthetic templates for tests and benchmarks, since real galleries of millions
/// of faces cannot ship with the project.
///
/// Model: identities belong to `groups` clusters (standing in for demographic and capture
/// conditions); an identity's centre is a random unit vector pulled towards its group's
/// direction so that impostor pairs in one group score about `groupSimilarity * 0.65` and across
/// groups about 0, each ± 1/sqrt(dimension). A sample is `normalise(centre + sigma * z)` with
/// `z` a random direction of unit expected length; sigma is drawn per identity so that two samples
/// of it score about `genuineSimilarity` (cosine ~ 1 / (1 + sigma^2)). With the defaults genuine
/// pairs score ~0.5-0.8 and impostors ~0-0.3, like SFace on real photos.
public struct SyntheticFaceTemplates: Sendable {
    /// What to generate.
    public struct Configuration: Sendable {
        /// Components per template.
        public var dimension: Int
        /// Enrolled identities (subjects).
        public var identities: Int
        /// Enrolled samples per identity.
        public var samplesPerIdentity: Int
        /// Typical cosine between two samples of one identity; drawn uniformly per identity.
        public var genuineSimilarity: ClosedRange<Double>
        /// Identity clusters.
        public var groups: Int
        /// Squared cosine of an identity centre to its group's direction.
        public var groupSimilarity: Double
        /// Seed for everything.
        public var seed: UInt64

        /// Creates a configuration; the defaults give SFace-like score distributions.
        public init(
            dimension: Int = 128, identities: Int, samplesPerIdentity: Int = 4,
            genuineSimilarity: ClosedRange<Double> = 0.5 ... 0.8, groups: Int = 16,
            groupSimilarity: Double = 0.15, seed: UInt64 = 1
        ) {
            self.dimension = dimension
            self.identities = identities
            self.samplesPerIdentity = samplesPerIdentity
            self.genuineSimilarity = genuineSimilarity
            self.groups = groups
            self.groupSimilarity = groupSimilarity
            self.seed = seed
        }
    }

    /// A probe and, when its identity is enrolled, the owner it should find.
    public struct Probe: Sendable {
        /// The probe template (unit length).
        public let vector: [Float]
        /// The enrolled subject it was drawn from, or nil for a non-mated probe.
        public let mate: OwnerID?
    }

    /// The configuration used.
    public let configuration: Configuration
    private let groupDirections: [Double]

    /// Prepares the generator; templates are produced on demand and are the same on every call.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        var generator = SeededGenerator(seed: configuration.seed ^ 0x6772_6F75_7073)
        var directions: [Double] = []
        for _ in 0..<max(1, configuration.groups) {
            directions += Self.randomUnit(configuration.dimension, using: &generator)
        }
        groupDirections = directions
    }

    /// Enrolled templates: identity `i` owns rows `i * samplesPerIdentity ..< (i + 1) * samplesPerIdentity`,
    /// template identifier = row, owner identifier = identity. Generated on all cores.
    public func gallery() -> TemplateBatch {
        gallery(identities: 0..<configuration.identities)
    }

    /// The part of `gallery()` that belongs to `identities`, with the same identifiers and
    /// vectors: large galleries are generated and indexed a slice at a time.
    public func gallery(identities: Range<Int>) -> TemplateBatch {
        let dimension = configuration.dimension
        let samples = configuration.samplesPerIdentity
        let workers = Parallel.processorCount
        let output = WorkerSlots<[Float]>(repeating: [], count: workers)
        Parallel.run(workers: workers) { worker in
            let mine = Parallel.slice(identities.count, worker: worker, of: workers)
            var vectors: [Float] = []
            vectors.reserveCapacity(mine.count * samples * dimension)
            for position in mine {
                let identity = identities.lowerBound + position
                var generator = SeededGenerator(seed: seed(identity: identity))
                let (centre, sigma) = identityModel(identity, using: &generator)
                for _ in 0..<samples { appendSample(centre: centre, sigma: sigma, using: &generator, to: &vectors) }
            }
            output[worker] = vectors
        }
        let rows = identities.lowerBound * samples ..< identities.upperBound * samples
        let ids = rows.map { TemplateID(UInt64($0)) }
        let owners = rows.map { OwnerID(UInt64($0 / samples)) }
        var vectors: [Float] = []
        vectors.reserveCapacity(rows.count * dimension)
        for worker in 0..<workers { vectors += output[worker] }
        return TemplateBatch(ids: ids, owners: owners, vectors: vectors, dimension: dimension)
    }

    /// `count` probes: a fraction `matedFraction` are new samples of enrolled identities (spread
    /// evenly over them), the rest come from identities that are not enrolled.
    public func probes(count: Int, matedFraction: Double = 0.8, seed probeSeed: UInt64 = 7) -> [Probe] {
        var chooser = SeededGenerator(seed: configuration.seed ^ probeSeed ^ 0x7072_6F62_6573)
        return (0..<count).map { index in
            let mated = Double(index) < Double(count) * matedFraction && configuration.identities > 0
            if mated {
                let identity = Int.random(in: 0..<configuration.identities, using: &chooser)
                var generator = SeededGenerator(seed: seed(identity: identity))
                let (centre, sigma) = identityModel(identity, using: &generator)
                var probeGenerator = SeededGenerator(seed: chooser.next())
                return Probe(vector: sample(centre: centre, sigma: sigma, using: &probeGenerator), mate: OwnerID(UInt64(identity)))
            }
            // A stranger: an identity number past the enrolled ones.
            let stranger = configuration.identities + 1 + Int(chooser.next() % 1_000_000_000)
            var generator = SeededGenerator(seed: seed(identity: stranger))
            let (centre, sigma) = identityModel(stranger, using: &generator)
            return Probe(vector: sample(centre: centre, sigma: sigma, using: &generator), mate: nil)
        }
    }

    private func seed(identity: Int) -> UInt64 {
        configuration.seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(identity) &* 0xD1B5_4A32_D192_ED03
    }

    private func identityModel(_ identity: Int, using generator: inout SeededGenerator) -> (centre: [Double], sigma: Double) {
        let dimension = configuration.dimension
        let group = Int(generator.next() % UInt64(max(1, configuration.groups)))
        let own = Self.randomUnit(dimension, using: &generator)
        let pull = configuration.groupSimilarity.squareRoot()
        let rest = (1 - configuration.groupSimilarity).squareRoot()
        var centre = (0..<dimension).map { pull * groupDirections[group * dimension + $0] + rest * own[$0] }
        Self.normalise(&centre)
        let genuine = Double.random(in: configuration.genuineSimilarity, using: &generator)
        return (centre, (1 / genuine - 1).squareRoot())
    }

    private func sample(centre: [Double], sigma: Double, using generator: inout SeededGenerator) -> [Float] {
        var vector: [Float] = []
        vector.reserveCapacity(centre.count)
        appendSample(centre: centre, sigma: sigma, using: &generator, to: &vector)
        return vector
    }

    /// Appends one sample without temporary arrays (millions are generated for benchmarks).
    private func appendSample(centre: [Double], sigma: Double, using generator: inout SeededGenerator, to output: inout [Float]) {
        let dimension = centre.count
        let spread = sigma / Double(dimension).squareRoot()
        withUnsafeTemporaryAllocation(of: Double.self, capacity: dimension) { vector in
            var squared = 0.0
            for index in 0..<dimension {
                let value = centre[index] + spread * generator.nextGaussian()
                vector[index] = value
                squared += value * value
            }
            let length = squared.squareRoot()
            for index in 0..<dimension { output.append(Float(vector[index] / length)) }
        }
    }

    private static func randomUnit(_ dimension: Int, using generator: inout SeededGenerator) -> [Double] {
        var vector = (0..<dimension).map { _ in generator.nextGaussian() }
        normalise(&vector)
        return vector
    }

    private static func normalise(_ vector: inout [Double]) {
        let length = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for index in vector.indices { vector[index] /= length }
    }
}
