import Foundation

/// The shape every stored template has.
public enum TemplateFormat {
    /// Components of a template vector (SFace's embedding size).
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
    /// Cosine similarity at or above which a candidate is reported; in [-1, 1].
    public var operatingThreshold: Float
    /// The face model every template must come from, for example "sface-2021dec".
    public var modelIdentifier: String

    /// Describes a gallery to create.
    public init(
        name: String, description: String = "", purpose: GalleryPurpose, retention: RetentionPolicy = .indefinite,
        operatingThreshold: Float = GalleryRecord.defaultOperatingThreshold, modelIdentifier: String
    ) {
        self.name = name
        self.description = description
        self.purpose = purpose
        self.retention = retention
        self.operatingThreshold = operatingThreshold
        self.modelIdentifier = modelIdentifier
    }
}

/// A template to store.
public struct NewTemplate: Sendable, Hashable {
    /// The face model that produced the vector; must equal the gallery's.
    public var modelIdentifier: String
    /// L2-normalised, ``TemplateFormat/dimension`` finite components.
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
        if gallery.modelIdentifier.isEmpty {
            throw .invalidInput(field: "modelIdentifier", reason: "must not be empty")
        }
        if let days = gallery.retention.days, days <= 0 {
            throw .invalidInput(field: "retention", reason: "days after enrolment must be positive, not \(days)")
        }
        try validate(threshold: gallery.operatingThreshold)
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
        var squaredNorm: Float = 0
        for component in template.vector {
            squaredNorm += component * component
        }
        let norm = squaredNorm.squareRoot()
        // A NaN or infinite component makes the norm non-finite, which fails this test too.
        guard abs(norm - 1) <= TemplateFormat.normTolerance else {
            throw .templateNotNormalised(norm: norm)
        }
        let digest = template.sourceImageSHA256
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ $0.isHexDigit }) else {
            throw .invalidInput(field: "sourceImageSHA256", reason: "must be 64 hexadecimal digits")
        }
    }

    /// The model check needs the gallery row, so stores call it inside their transaction.
    static func checkModels(of templates: [NewTemplate], against gallery: GalleryRecord) throws(GalleryError) {
        for template in templates where template.modelIdentifier != gallery.modelIdentifier {
            throw .wrongModelIdentifier(expected: gallery.modelIdentifier, actual: template.modelIdentifier)
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
