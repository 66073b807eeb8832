import Imaging

/// A face recogniser that can be plugged in beside the shared detector: it aligns a detected
/// face its own way and turns it into a template of its own kind.
///
/// Detection (YuNet, ``FaceEngine``) is shared by every engine, so all engines see the same
/// faces of an image; each engine brings its own alignment, model and comparison. Engines are
/// listed in a ``RecognitionEngineRegistry`` built once by the program that serves or runs
/// them; nothing outside an engine's own files knows which engines exist.
public protocol RecognitionEngine: Sendable {
    /// What the engine is, what it needs and how its templates compare.
    var profile: RecognitionEngineProfile { get }

    /// One template per face, in the order given, each aligned from `image` by the engine's own
    /// method. All faces of one image go to the model as one batch.
    /// - Parameter faces: Faces the shared detector found in `image`, in its pixel coordinates.
    func templates(for faces: [DetectedFace], in image: RGBImage) async throws(FaceEngineError) -> [FaceTemplate]
}

/// How two templates of one engine compare, and which direction means "more alike".
public enum TemplateComparison: String, Sendable, Codable, CaseIterable {
    /// Cosine of the angle between unit vectors: higher is more alike (SFace).
    case cosineSimilarity = "cosine-similarity"
    /// Euclidean distance between raw vectors: lower is more alike (dlib).
    case euclideanDistance = "euclidean-distance"

    /// True when a larger native score means more alike.
    public var higherIsMoreAlike: Bool {
        switch self {
        case .cosineSimilarity: true
        case .euclideanDistance: false
        }
    }

    /// The native score of two equally long vectors (cosine for unit vectors, or distance).
    public func score(_ left: [Float], _ right: [Float]) -> Float {
        switch self {
        case .cosineSimilarity:
            FaceTemplate.dot(left, right)
        case .euclideanDistance:
            FaceTemplate.squaredDistance(left, right).squareRoot()
        }
    }

    /// The native score turned so that higher is always more alike (a distance is negated), the
    /// form score sets, calibration and fusion work in.
    public func similarity(fromNative score: Float) -> Float {
        higherIsMoreAlike ? score : -score
    }

    /// The inverse of ``similarity(fromNative:)``.
    public func native(fromSimilarity similarity: Float) -> Float {
        higherIsMoreAlike ? similarity : -similarity
    }

    /// True when `score` reads as the same person at `threshold` (both native).
    public func isMatch(_ score: Float, threshold: Float) -> Bool {
        higherIsMoreAlike ? score >= threshold : score < threshold
    }
}

/// The aligned face an engine's model reads.
public struct ChipSpecification: Sendable, Codable, Equatable {
    /// Width and height of the square chip, in pixels.
    public var side: Int
    /// Which landmarks the chip is aligned on and to what template, in words.
    public var alignment: String
    /// Order of the colour planes the model reads, for example "RGB".
    public var colourOrder: String
    /// What the model does to pixel values before its first layer, in words.
    public var normalisation: String

    /// A chip specification from its parts.
    public init(side: Int, alignment: String, colourOrder: String, normalisation: String) {
        self.side = side
        self.alignment = alignment
        self.colourOrder = colourOrder
        self.normalisation = normalisation
    }
}

/// One file an engine loaded, with its digests.
public struct EngineModelFile: Sendable, Codable, Equatable {
    /// What the file is to the engine ("recogniser", "landmarks").
    public var role: String
    /// File name.
    public var file: String
    /// SHA-256 of the file as shipped.
    public var originalSHA256: String
    /// SHA-256 of the file the engine runs, when it runs a prepared copy.
    public var preparedSHA256: String?

    /// A model file from its parts.
    public init(role: String, file: String, originalSHA256: String, preparedSHA256: String? = nil) {
        self.role = role
        self.file = file
        self.originalSHA256 = originalSHA256
        self.preparedSHA256 = preparedSHA256
    }
}

/// The mean and standard deviation of a set of scores, and where they were measured.
public struct ScoreDistribution: Sendable, Codable, Equatable {
    /// Mean score.
    public var mean: Float
    /// Standard deviation (positive).
    public var deviation: Float
    /// The data the figures come from, in words.
    public var source: String

    /// A distribution from its figures.
    public init(mean: Float, deviation: Float, source: String) {
        self.mean = mean
        self.deviation = deviation
        self.source = source
    }

    /// How many deviations `score` lies above the mean (a z-score).
    public func normalised(_ score: Float) -> Float { (score - mean) / deviation }
}

/// Everything a caller needs to know of an engine without running it.
public struct RecognitionEngineProfile: Sendable, Codable, Equatable {
    /// Short name used in requests, galleries and reports ("sface", "dlib").
    public var identifier: String
    /// The engine's version.
    public var version: String
    /// The tag every template of this engine carries (templates of other tags never compare).
    public var templateModel: String
    /// The chip the model reads.
    public var chip: ChipSpecification
    /// Number of values in a template.
    public var templateLength: Int
    /// How two templates compare.
    public var comparison: TemplateComparison
    /// The published same-person operating point, in the comparison's native units.
    public var sameSubjectThreshold: Float
    /// The files the engine loaded.
    public var models: [EngineModelFile]
    /// The engine's similarities (``TemplateComparison/similarity(fromNative:)``) of impostor
    /// pairs on reference data: score fusion in searches normalises each engine's similarity
    /// against them. Nil when not measured (the engine then takes no part in fusion).
    public var impostorSimilarity: ScoreDistribution?

    /// A profile from its parts.
    public init(
        identifier: String, version: String, templateModel: String, chip: ChipSpecification, templateLength: Int,
        comparison: TemplateComparison, sameSubjectThreshold: Float, models: [EngineModelFile],
        impostorSimilarity: ScoreDistribution? = nil
    ) {
        self.impostorSimilarity = impostorSimilarity
        self.identifier = identifier
        self.version = version
        self.templateModel = templateModel
        self.chip = chip
        self.templateLength = templateLength
        self.comparison = comparison
        self.sameSubjectThreshold = sameSubjectThreshold
        self.models = models
    }
}

extension RecognitionEngine {
    /// The native score of two templates of this engine.
    /// - Throws: ``FaceEngineError/templateMismatch(_:_:)`` when either template is of another
    ///   engine or of the wrong length.
    public func compare(_ left: FaceTemplate, _ right: FaceTemplate) throws(FaceEngineError) -> Float {
        let expected = profile
        for template in [left, right]
        where template.modelIdentifier != expected.templateModel || template.values.count != expected.templateLength {
            throw .templateMismatch(
                "\(template.modelIdentifier) (\(template.values.count) values)",
                "\(expected.templateModel) (\(expected.templateLength) values)")
        }
        return expected.comparison.score(left.values, right.values)
    }
}

/// The engines a program has installed, by identifier, and which one is used when a caller
/// names none.
public struct RecognitionEngineRegistry: Sendable {
    /// The engines in the order they were registered.
    public let engines: [any RecognitionEngine]
    /// The identifier of the engine used when none is named.
    public let defaultIdentifier: String

    /// A registry of `engines`; the default is `defaultIdentifier`, or the first engine.
    /// - Throws: ``FaceEngineError/invalidConfiguration(_:)`` when there is no engine, two
    ///   share an identifier, or the default is not among them.
    public init(engines: [any RecognitionEngine], defaultIdentifier: String? = nil) throws(FaceEngineError) {
        guard let first = engines.first else { throw .invalidConfiguration("no recognition engine is installed") }
        var seen = Set<String>()
        for engine in engines where !seen.insert(engine.profile.identifier).inserted {
            throw .invalidConfiguration("two recognition engines are named '\(engine.profile.identifier)'")
        }
        let chosen = defaultIdentifier ?? first.profile.identifier
        guard seen.contains(chosen) else {
            throw .invalidConfiguration(
                "the default engine '\(chosen)' is not installed (installed: \(seen.sorted().joined(separator: ", ")))")
        }
        self.engines = engines
        self.defaultIdentifier = chosen
    }

    /// The identifiers of the installed engines, in registration order.
    public var identifiers: [String] { engines.map(\.profile.identifier) }

    /// The engine used when none is named.
    public var defaultEngine: any RecognitionEngine {
        engines.first { $0.profile.identifier == defaultIdentifier }!
    }

    /// The engine named `identifier`.
    /// - Throws: ``FaceEngineError/unknownEngine(_:installed:)`` when none is.
    public func engine(named identifier: String) throws(FaceEngineError) -> any RecognitionEngine {
        guard let engine = engines.first(where: { $0.profile.identifier == identifier }) else {
            throw .unknownEngine(identifier, installed: identifiers)
        }
        return engine
    }

    /// The engines named in `identifiers`, in that order, or every engine for `nil`.
    /// - Throws: ``FaceEngineError/unknownEngine(_:installed:)`` for a name not installed.
    public func engines(named identifiers: [String]?) throws(FaceEngineError) -> [any RecognitionEngine] {
        guard let identifiers else { return engines }
        return try identifiers.map { name throws(FaceEngineError) in try engine(named: name) }
    }
}
