import Foundation

/// The shape every stored template has.
public enum TemplateFormat {
    /// Components of a stored template vector (SFace's and dlib's embedding size; the tables
    /// check it, so an engine of another length needs a migration of the vector columns).
    public static let dimension = 128
    /// Largest accepted distance of a template's L2 norm from 1; the index scores by dot product,
    /// so an unnormalised vector would silently distort every score it takes part in.
    public static let normTolerance: Float = 1e-3
    /// Bytes of a stored vector: little-endian Float32 components.
    public static let byteCount = dimension * MemoryLayout<Float32>.size
}

/// A gallery to create.
public struct NewGallery: Sendable, Hashable {
    /// Unique among galleries; must not be empty.
    public var name: String
    /// Free text for operators.
    public var description: String
    /// What the gallery is for.
    public var purpose: GalleryPurpose
    /// How long subjects are kept; a day count must be positive.
    public var retention: RetentionPolicy
    /// The default engine's operating threshold in its native units; in [-1, 1].
    public var operatingThreshold: Float
    /// The engines whose templates the gallery holds (at least one, identifiers and template
    /// tags distinct).
    public var engines: [GalleryEngine]
    /// The engine used when a search names none; one of ``engines``.
    public var defaultEngine: String
    /// Further settings (kept enrolment images, fusion calibration).
    public var settings: GallerySettings = GallerySettings()

    /// Describes a gallery of one SFace-compatible engine whose templates carry `modelIdentifier`.
    public init(
        name: String, description: String = "", purpose: GalleryPurpose, retention: RetentionPolicy = .indefinite,
        operatingThreshold: Float = GalleryRecord.defaultOperatingThreshold, modelIdentifier: String
    ) {
        self.init(
            name: name, description: description, purpose: purpose, retention: retention,
            operatingThreshold: operatingThreshold, engines: [.legacy(templateModel: modelIdentifier)],
            defaultEngine: GalleryEngine.legacyIdentifier)
    }

    /// Describes a gallery of `engines`, searched with `defaultEngine` unless a search names another.
    public init(
        name: String, description: String = "", purpose: GalleryPurpose, retention: RetentionPolicy = .indefinite,
        operatingThreshold: Float, engines: [GalleryEngine], defaultEngine: String
    ) {
        self.name = name
        self.description = description
        self.purpose = purpose
        self.retention = retention
        self.operatingThreshold = operatingThreshold
        self.engines = engines
        self.defaultEngine = defaultEngine
    }

    /// The template tag of the default engine (empty when the default is not among the engines).
    public var modelIdentifier: String {
        engines.first { $0.identifier == defaultEngine }?.templateModel ?? ""
    }
}

/// A template to store.
public struct NewTemplate: Sendable, Hashable {
    /// The template tag of the engine that produced the vector; one of the gallery's engines'.
    public var modelIdentifier: String
    /// Finite components, as many as the engine's template length (unit length for an engine
    /// whose templates are unit vectors).
    public var vector: [Float]
    /// Quality of the source face.
    public var quality: TemplateQuality
    /// SHA-256 of the source image bytes, 64 hex digits (stored lower-case).
    public var sourceImageSHA256: String
    /// When the source image was captured.
    public var capturedAt: Date

    /// Describes a template to store.
    public init(
        modelIdentifier: String, vector: [Float], quality: TemplateQuality, sourceImageSHA256: String,
        capturedAt: Date
    ) {
        self.modelIdentifier = modelIdentifier
        self.vector = vector
        self.quality = quality
        self.sourceImageSHA256 = sourceImageSHA256
        self.capturedAt = capturedAt
    }
}

/// A subject to enrol with its first templates.
public struct NewSubject: Sendable, Hashable {
    /// The caller's reference, unique within the gallery; must not be empty.
    public var externalReference: String
    /// Free-form labels; see ``SubjectRecord/demographicAttributePrefix``.
    public var attributes: [String: String]
    /// A subject-specific end of retention, if any.
    public var retainUntil: Date?
    /// At least one template.
    public var templates: [NewTemplate]

    /// Describes a subject to enrol.
    public init(
        externalReference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        templates: [NewTemplate]
    ) {
        self.externalReference = externalReference
        self.attributes = attributes
        self.retainUntil = retainUntil
        self.templates = templates
    }
}

// MARK: - Validation shared by both stores

/// Checks that need no database; run before any transaction opens so bad input costs nothing.
enum InputValidation {
    /// Largest page a listing returns.
    static let maximumPageSize = 10_000
    /// Largest batch a template stream returns.
    static let maximumBatchSize = 100_000

    static func validate(_ gallery: NewGallery) throws(GalleryError) {
        if gallery.name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidInput(field: "name", reason: "must not be empty")
        }
        try validate(engines: gallery.engines, defaultEngine: gallery.defaultEngine)
        if let days = gallery.retention.days, days <= 0 {
            throw .invalidInput(field: "retention", reason: "days after enrolment must be positive, not \(days)")
        }
        try validate(threshold: gallery.operatingThreshold)
    }

    static func validate(engines: [GalleryEngine], defaultEngine: String) throws(GalleryError) {
        guard !engines.isEmpty else { throw .invalidInput(field: "engines", reason: "at least one engine is required") }
        var identifiers = Set<String>()
        var models = Set<String>()
        for engine in engines {
            guard !engine.identifier.isEmpty, !engine.templateModel.isEmpty else {
                throw .invalidInput(field: "engines", reason: "an engine's identifier and template model must not be empty")
            }
            guard identifiers.insert(engine.identifier).inserted else {
                throw .invalidInput(field: "engines", reason: "'\(engine.identifier)' is named twice")
            }
            guard models.insert(engine.templateModel).inserted else {
                throw .invalidInput(field: "engines", reason: "two engines make '\(engine.templateModel)' templates")
            }
            // The vector columns hold this many values (a check constraint in both dialects).
            guard engine.templateLength == TemplateFormat.dimension else {
                throw .invalidInput(
                    field: "engines",
                    reason: "'\(engine.identifier)' makes \(engine.templateLength)-value templates; "
                        + "the store holds \(TemplateFormat.dimension)-value vectors")
            }
            if let threshold = engine.operatingThreshold { try validate(threshold: threshold) }
        }
        guard identifiers.contains(defaultEngine) else {
            throw .invalidInput(
                field: "defaultEngine",
                reason: "'\(defaultEngine)' is not one of the gallery's engines (\(engines.map(\.identifier).joined(separator: ", ")))")
        }
    }

    static func validate(threshold: Float) throws(GalleryError) {
        guard threshold.isFinite, (-1...1).contains(threshold) else {
            throw .invalidInput(field: "operatingThreshold", reason: "must be a cosine in [-1, 1], not \(threshold)")
        }
    }

    static func validate(_ subject: NewSubject) throws(GalleryError) {
        if subject.externalReference.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidInput(field: "externalReference", reason: "must not be empty")
        }
        try validate(subject.templates)
    }

    static func validate(_ templates: [NewTemplate]) throws(GalleryError) {
        if templates.isEmpty {
            throw .invalidInput(field: "templates", reason: "at least one template is required")
        }
        for template in templates {
            try validate(template)
        }
    }

    static func validate(_ template: NewTemplate) throws(GalleryError) {
        guard template.vector.count == TemplateFormat.dimension else {
            throw .wrongTemplateDimension(expected: TemplateFormat.dimension, actual: template.vector.count)
        }
        // A NaN or infinite component is refused whatever the engine (reported as a non-finite norm).
        guard template.vector.allSatisfy(\.isFinite) else {
            throw .templateNotNormalised(norm: template.vector.reduce(0) { $0 + $1 * $1 }.squareRoot())
        }
        let digest = template.sourceImageSHA256
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ $0.isHexDigit }) else {
            throw .invalidInput(field: "sourceImageSHA256", reason: "must be 64 hexadecimal digits")
        }
    }

    /// The engine check needs the gallery row, so stores call it inside their transaction: each
    /// template must come from one of the gallery's engines, with that engine's length, and be
    /// a unit vector when the engine's are.
    static func checkModels(of templates: [NewTemplate], against gallery: GalleryRecord) throws(GalleryError) {
        for template in templates {
            guard let engine = gallery.engine(templateModel: template.modelIdentifier) else {
                throw .wrongModelIdentifier(
                    expected: gallery.engines.map(\.templateModel).joined(separator: " or "), actual: template.modelIdentifier)
            }
            guard template.vector.count == engine.templateLength else {
                throw .wrongTemplateDimension(expected: engine.templateLength, actual: template.vector.count)
            }
            guard engine.unitLength else { continue }
            var squaredNorm: Float = 0
            for component in template.vector {
                squaredNorm += component * component
            }
            let norm = squaredNorm.squareRoot()
            guard abs(norm - 1) <= TemplateFormat.normTolerance else {
                throw .templateNotNormalised(norm: norm)
            }
        }
    }

    static func validate(pageSize: Int, field: String, maximum: Int) throws(GalleryError) {
        guard (1...maximum).contains(pageSize) else {
            throw .invalidInput(field: field, reason: "must be between 1 and \(maximum), not \(pageSize)")
        }
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
