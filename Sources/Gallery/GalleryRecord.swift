import Foundation

/// What a gallery is for; searches state a purpose and the governance layer checks it against this.
public enum GalleryPurpose: String, Codable, Sendable, CaseIterable {
    /// Police custody images.
    case custody
    /// Immigration and border records.
    case immigration
    /// A short list of people sought, reviewed often.
    case watchlist
    /// Anything else, such as evaluation galleries.
    case other
}

/// How long a gallery keeps a subject after enrolment.
public enum RetentionPolicy: Sendable, Hashable {
    /// Subjects stay until erased by hand (or until their own `retainUntil` date passes).
    case indefinite
    /// Subjects expire this many whole days after their enrolment.
    case daysAfterEnrolment(Int)

    /// The period in days, or nil for ``indefinite``.
    public var days: Int? {
        switch self {
        case .indefinite: nil
        case .daysAfterEnrolment(let days): days
        }
    }
}

extension RetentionPolicy: Codable {
    private enum CodingKeys: String, CodingKey { case kind, days }
    private enum Kind: String, Codable { case indefinite, daysAfterEnrolment }

    /// Decodes `{"kind": "indefinite"}` or `{"kind": "daysAfterEnrolment", "days": N}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .indefinite: self = .indefinite
        case .daysAfterEnrolment: self = .daysAfterEnrolment(try container.decode(Int.self, forKey: .days))
        }
    }

    /// Encodes `{"kind": "indefinite"}` or `{"kind": "daysAfterEnrolment", "days": N}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .indefinite:
            try container.encode(Kind.indefinite, forKey: .kind)
        case .daysAfterEnrolment(let days):
            try container.encode(Kind.daysAfterEnrolment, forKey: .kind)
            try container.encode(days, forKey: .days)
        }
    }
}

/// A stored row identifier: a positive integer the store assigns and never reuses.
///
/// Each record type nests its own `ID` so a subject's identifier cannot be passed where a
/// gallery's is expected. Encodes as a bare integer (the standard library's `RawRepresentable`
/// coding).
public protocol StoredIdentifier: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible
where RawValue == Int64 {
    init(rawValue: Int64)
}

extension StoredIdentifier {
    /// Wraps a raw identifier.
    public init(_ rawValue: Int64) { self.init(rawValue: rawValue) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A named collection of enrolled subjects with its own purpose, retention and threshold.
public struct GalleryRecord: Codable, Sendable, Hashable, Identifiable {
    /// A gallery's identifier.
    public struct ID: StoredIdentifier {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        public var description: String { "gallery \(rawValue)" }
    }

    /// OpenCV's published operating point for SFace: cosine >= 0.363 means the same person.
    public static let defaultOperatingThreshold: Float = 0.363

    /// The store's identifier.
    public var id: ID
    /// Unique among galleries.
    public var name: String
    /// Free text for operators.
    public var description: String
    /// What the gallery is for.
    public var purpose: GalleryPurpose
    /// How long subjects are kept.
    public var retention: RetentionPolicy
    /// The default engine's operating threshold in its native units (a cosine for SFace: a
    /// candidate at or above it is reported; a distance for a Euclidean engine: below it).
    public var operatingThreshold: Float
    /// The template tag of the default engine (for example "sface-2021dec").
    public var modelIdentifier: String
    /// When the gallery was created (millisecond precision).
    public var createdAt: Date
    /// The engines whose templates the gallery holds, in the order they were named.
    public var engines: [GalleryEngine]
    /// The identifier of the engine searches and verifications use when they name none.
    public var defaultEngine: String
    /// Settings beyond engines and threshold (kept images, fusion calibration).
    public var settings: GallerySettings

    /// Creates a record; stores build these, callers use ``NewGallery``. Without `engines`, the
    /// gallery has the single legacy SFace engine whose templates carry `modelIdentifier`.
    public init(
        id: ID, name: String, description: String, purpose: GalleryPurpose, retention: RetentionPolicy,
        operatingThreshold: Float, modelIdentifier: String, createdAt: Date, engines: [GalleryEngine] = [],
        defaultEngine: String? = nil, settings: GallerySettings = GallerySettings()
    ) {
        self.settings = settings
        self.id = id
        self.name = name
        self.description = description
        self.purpose = purpose
        self.retention = retention
        self.operatingThreshold = operatingThreshold
        self.modelIdentifier = modelIdentifier
        self.createdAt = createdAt
        let engines = engines.isEmpty ? [GalleryEngine.legacy(templateModel: modelIdentifier)] : engines
        self.engines = engines
        self.defaultEngine = defaultEngine ?? engines[0].identifier
    }
}

/// One enrolled person in one gallery.
public struct SubjectRecord: Codable, Sendable, Hashable, Identifiable {
    /// A subject's identifier, unique across all galleries of a store.
    public struct ID: StoredIdentifier {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        public var description: String { "subject \(rawValue)" }
    }

    /// Attribute keys with this prefix are demographic labels used for per-group error reporting.
    public static let demographicAttributePrefix = "demographic."

    /// The store's identifier.
    public var id: ID
    /// The gallery the subject belongs to.
    public var galleryID: GalleryRecord.ID
    /// The caller's reference (custody number, case file…), unique within the gallery.
    public var externalReference: String
    /// Free-form labels; keys starting with ``demographicAttributePrefix`` are demographic labels.
    public var attributes: [String: String]
    /// When the subject was enrolled (millisecond precision).
    public var createdAt: Date
    /// When templates were last added (millisecond precision).
    public var updatedAt: Date
    /// A subject-specific end of retention; the earlier of this and the gallery's rule applies.
    public var retainUntil: Date?

    /// The demographic labels, keyed without the prefix.
    public var demographics: [String: String] {
        var labels: [String: String] = [:]
        for (key, value) in attributes where key.hasPrefix(Self.demographicAttributePrefix) {
            labels[String(key.dropFirst(Self.demographicAttributePrefix.count))] = value
        }
        return labels
    }

    /// Creates a record; stores build these, callers use ``NewSubject``.
    public init(
        id: ID, galleryID: GalleryRecord.ID, externalReference: String, attributes: [String: String],
        createdAt: Date, updatedAt: Date, retainUntil: Date?
    ) {
        self.id = id
        self.galleryID = galleryID
        self.externalReference = externalReference
        self.attributes = attributes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.retainUntil = retainUntil
    }
}

/// How good the face was that a template came from; stored as JSON next to the template.
public struct TemplateQuality: Codable, Sendable, Hashable {
    /// The detector's confidence, in [0, 1].
    public var detectionScore: Float
    /// Further named measures (face size, sharpness, pose…); free-form so the face engine can
    /// add measures without a schema migration.
    public var measures: [String: Float]

    /// Creates a quality summary.
    public init(detectionScore: Float, measures: [String: Float] = [:]) {
        self.detectionScore = detectionScore
        self.measures = measures
    }
}

/// One stored face template.
public struct TemplateRecord: Codable, Sendable, Hashable, Identifiable {
    /// A template's identifier, unique across all galleries of a store, never reused, and
    /// assigned in increasing order (in PostgreSQL concurrent transactions may commit out of
    /// that order, so an index must not treat "largest identifier seen" as a complete cursor).
    public struct ID: StoredIdentifier {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        public var description: String { "template \(rawValue)" }
    }

    /// The store's identifier.
    public var id: ID
    /// The subject the template belongs to.
    public var subjectID: SubjectRecord.ID
    /// The face model that produced the vector.
    public var modelIdentifier: String
    /// The embedding as its engine made it (unit length for a cosine engine), its engine's length.
    public var vector: [Float]
    /// Quality of the source face.
    public var quality: TemplateQuality
    /// SHA-256 of the source image bytes, lower-case hex.
    public var sourceImageSHA256: String
    /// When the source image was captured (millisecond precision).
    public var capturedAt: Date
    /// When the template was stored (millisecond precision).
    public var enrolledAt: Date

    /// Creates a record; stores build these, callers use ``NewTemplate``.
    public init(
        id: ID, subjectID: SubjectRecord.ID, modelIdentifier: String, vector: [Float], quality: TemplateQuality,
        sourceImageSHA256: String, capturedAt: Date, enrolledAt: Date
    ) {
        self.id = id
        self.subjectID = subjectID
        self.modelIdentifier = modelIdentifier
        self.vector = vector
        self.quality = quality
        self.sourceImageSHA256 = sourceImageSHA256
        self.capturedAt = capturedAt
        self.enrolledAt = enrolledAt
    }
}

/// A subject together with all its templates, in template-id order.
public struct EnrolledSubject: Codable, Sendable, Hashable {
    /// The subject.
    public var subject: SubjectRecord
    /// Its templates; an enrolled subject always has at least one.
    public var templates: [TemplateRecord]

    /// Pairs a subject with its templates.
    public init(subject: SubjectRecord, templates: [TemplateRecord]) {
        self.subject = subject
        self.templates = templates
    }
}

/// Template vectors of one gallery packed for an index rebuild: row `i` of ``vectors`` belongs
/// to `templateIDs[i]` and `subjectIDs[i]`, and was made by the engine whose templates carry
/// `modelIdentifiers[i]` (so a reader puts it in that engine's index).
public struct TemplateVectorBatch: Sendable, Hashable {
    /// Template identifiers, increasing.
    public var templateIDs: [TemplateRecord.ID]
    /// The subject of each template.
    public var subjectIDs: [SubjectRecord.ID]
    /// The template tag of each row.
    public var modelIdentifiers: [String]
    /// Row-major vectors, ``TemplateFormat/dimension`` components a row.
    public var vectors: [Float]

    /// Creates a batch.
    public init(
        templateIDs: [TemplateRecord.ID], subjectIDs: [SubjectRecord.ID], modelIdentifiers: [String], vectors: [Float]
    ) {
        self.templateIDs = templateIDs
        self.subjectIDs = subjectIDs
        self.modelIdentifiers = modelIdentifiers
        self.vectors = vectors
    }

    /// An empty batch.
    public static var empty: TemplateVectorBatch {
        TemplateVectorBatch(templateIDs: [], subjectIDs: [], modelIdentifiers: [], vectors: [])
    }

    /// Rows in the batch.
    public var count: Int { templateIDs.count }

    /// The vector of row `row`.
    public func vector(at row: Int) -> ArraySlice<Float> {
        vectors[row * TemplateFormat.dimension ..< (row + 1) * TemplateFormat.dimension]
    }
}

/// One page of a gallery's subjects in identifier order.
public struct SubjectPage: Sendable, Hashable {
    /// The subjects on this page.
    public var subjects: [SubjectRecord]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: SubjectRecord.ID?

    /// Creates a page.
    public init(subjects: [SubjectRecord], nextCursor: SubjectRecord.ID?) {
        self.subjects = subjects
        self.nextCursor = nextCursor
    }
}

/// How much a gallery holds.
public struct GalleryCounts: Sendable, Hashable, Codable {
    /// Enrolled subjects.
    public var subjects: Int
    /// Stored templates.
    public var templates: Int

    /// Creates counts.
    public init(subjects: Int, templates: Int) {
        self.subjects = subjects
        self.templates = templates
    }
}

/// What erasing one subject removed; the index must drop ``templateIDs``.
public struct SubjectErasure: Sendable, Hashable {
    /// The subject as it was.
    public var subject: SubjectRecord
    /// The templates removed with it.
    public var templateIDs: [TemplateRecord.ID]

    /// Creates a receipt.
    public init(subject: SubjectRecord, templateIDs: [TemplateRecord.ID]) {
        self.subject = subject
        self.templateIDs = templateIDs
    }
}

/// What erasing a whole gallery removed.
public struct GalleryErasure: Sendable, Hashable {
    /// The gallery as it was.
    public var gallery: GalleryRecord
    /// What it held when it was erased.
    public var counts: GalleryCounts

    /// Creates a receipt.
    public init(gallery: GalleryRecord, counts: GalleryCounts) {
        self.gallery = gallery
        self.counts = counts
    }
}
