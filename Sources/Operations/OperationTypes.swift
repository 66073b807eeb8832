import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Review

/// What an administrator asks for when creating a gallery.
public struct GalleryDraft: Sendable, Hashable, Codable {
    /// Unique name.
    public var name: String
    /// Free text.
    public var description: String
    /// The purpose class: `custody`, `immigration`, `watchlist`, `other`.
    public var purpose: GalleryPurpose
    /// Days a subject is kept after enrolment; nil keeps subjects until erased.
    public var retentionDays: Int?
    /// The default engine's operating threshold in its native unit; nil takes the engine's
    /// published one (SFace: ``GalleryRecord/defaultOperatingThreshold``).
    public var operatingThreshold: Float?
    /// The engines whose templates the gallery holds; nil: SFace alone.
    public var engines: [String]?
    /// The engine searches use when they name none; nil: the first of ``engines``.
    public var defaultEngine: String?
    /// Whether enrolment images are kept sealed so an engine added later can be templated from
    /// them; nil: yes (``GallerySettings/keepsEnrolmentImages``).
    public var keepsEnrolmentImages: Bool?

    /// Describes a gallery to create.
    public init(
        name: String, description: String = "", purpose: GalleryPurpose, retentionDays: Int? = nil,
        operatingThreshold: Float? = nil, engines: [String]? = nil, defaultEngine: String? = nil,
        keepsEnrolmentImages: Bool? = nil
    ) {
        self.keepsEnrolmentImages = keepsEnrolmentImages
        self.name = name
        self.description = description
        self.purpose = purpose
        self.retentionDays = retentionDays
        self.operatingThreshold = operatingThreshold
        self.engines = engines
        self.defaultEngine = defaultEngine
    }
}

/// A gallery's settings and size.
public struct GallerySummary: Sendable, Hashable {
    /// The stored gallery.
    public var gallery: GalleryRecord
    /// Its subjects and templates.
    public var counts: GalleryCounts
}

/// A subject to enrol from photos.
public struct EnrolmentRequest: Sendable {
    /// The gallery's name.
    public var gallery: String
    /// The subject's external reference, unique in the gallery.
    public var reference: String
    /// Free-form labels (keys starting `demographic.` are demographic labels).
    public var attributes: [String: String]
    /// A subject-specific end of retention.
    public var retainUntil: Date?
    /// Encoded photos, each holding exactly one face of acceptable quality.
    public var images: [[UInt8]]

    /// Describes an enrolment.
    public init(
        gallery: String, reference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        images: [[UInt8]]
    ) {
        self.gallery = gallery
        self.reference = reference
        self.attributes = attributes
        self.retainUntil = retainUntil
        self.images = images
    }
}

/// Why a search or comparison is made. Both fields are required; they are checked against the
/// configured ``PurposePolicy``.
public struct StatedJustification: Sendable, Hashable {
    /// One of the configured purposes.
    public var purpose: String?
    /// The case the search serves.
    public var caseReference: String?

    /// Records what the caller stated (checking happens in the operation).
    public init(purpose: String?, caseReference: String?) {
        self.purpose = purpose
        self.caseReference = caseReference
    }
}

/// A 1:N search of a gallery with a probe photo.
public struct SearchRequest: Sendable {
    /// The gallery's name.
    public var gallery: String
    /// The encoded probe photo.
    public var image: [UInt8]
    /// Purpose and case reference.
    public var justification: StatedJustification
    /// How many candidates at most (1...``MatcherOperations/maximumCandidates``).
    public var k: Int
    /// The threshold in the engine's native unit; nil uses the gallery's for the engine. May not
    /// be looser than the gallery's (below it for a cosine or the fusion, above it for a
    /// distance), so a caller cannot widen a search past what the gallery allows.
    public var threshold: Float?
    /// Which detected face to search (0-based, in detection order); nil searches the largest.
    public var faceIndex: Int?
    /// Only subjects whose attributes contain every pair.
    public var attributeFilter: [String: String]
    /// The engine to search with (one of the gallery's, or "fusion"); nil: the gallery's default.
    public var engine: String?

    /// Describes a search.
    public init(
        gallery: String, image: [UInt8], justification: StatedJustification, k: Int = 10, threshold: Float? = nil,
        faceIndex: Int? = nil, attributeFilter: [String: String] = [:], engine: String? = nil
    ) {
        self.engine = engine
        self.gallery = gallery
        self.image = image
        self.justification = justification
        self.k = k
        self.threshold = threshold
        self.faceIndex = faceIndex
        self.attributeFilter = attributeFilter
    }
}

/// One face found in a probe image.
public struct DetectedProbeFace: Sendable, Hashable {
    /// Position in detection order (0-based); requests name faces by it.
    public var index: Int
    /// Box, landmarks and detector score in image coordinates.
    public var detection: DetectedFace
    /// Quality measures.
    public var quality: FaceQuality
    /// Which quality thresholds the face fails, if any.
    public var verdict: QualityVerdict
}

/// One candidate of a search, best first.
public struct RankedCandidate: Sendable, Hashable {
    /// 1 for the best.
    public var rank: Int
    /// The subject's external reference.
    public var subjectReference: String
    /// The subject's stored identifier.
    public var subjectID: SubjectRecord.ID
    /// The subject's score in the engine's native unit (cosine: higher is more alike;
    /// distance: lower is), or the fused z-score.
    public var score: Float
    /// The template that scored best.
    public var bestTemplateID: TemplateRecord.ID
    /// That template's stored quality, if the subject still exists.
    public var templateQuality: TemplateQuality?
    /// Each engine's native score of the subject.
    public var engineScores: [String: Float] = [:]
}

/// The result of a search: leads for a person to review, never a verdict.
public struct SearchOutcome: Sendable {
    /// The gallery searched, as it was at the time.
    public var gallery: GalleryRecord
    /// The engine searched with (or "fusion").
    public var engine: String
    /// Every face found in the probe.
    public var faces: [DetectedProbeFace]
    /// The face that was searched.
    public var searchedFace: Int
    /// Candidates at or above the threshold, best first.
    public var candidates: [RankedCandidate]
    /// The threshold applied.
    public var threshold: Float
    /// The number of candidates asked for.
    public var k: Int
    /// SHA-256 of the probe bytes.
    public var probeSHA256: String
    /// The audit entry that records the search.
    public var auditSequence: Int64
    /// The purpose and case reference as checked.
    public var justification: SearchJustification
    /// The review case, for galleries whose purpose needs review: the candidates are leads
    /// awaiting a reviewer, and only its ``ReviewCase/identifications`` (confirmed decisions)
    /// may be reported as identifications. Nil when the gallery needs no review.
    public var reviewCase: ReviewCase?
}

/// A 1:1 verification of a probe photo against an enrolled subject.
public struct SubjectVerificationRequest: Sendable {
    /// The gallery's name.
    public var gallery: String
    /// The subject's external reference.
    public var subjectReference: String
    /// The encoded probe photo.
    public var image: [UInt8]
    /// Purpose and case reference.
    public var justification: StatedJustification
    /// Decision threshold in the engine's native unit; nil uses the gallery's for the engine.
    public var threshold: Float?
    /// Which detected face to compare; nil takes the largest.
    public var faceIndex: Int?
    /// The engine to compare with (one of the gallery's, or "fusion"); nil: the gallery's default.
    public var engine: String?

    /// Describes a verification.
    public init(
        gallery: String, subjectReference: String, image: [UInt8], justification: StatedJustification,
        threshold: Float? = nil, faceIndex: Int? = nil, engine: String? = nil
    ) {
        self.engine = engine
        self.gallery = gallery
        self.subjectReference = subjectReference
        self.image = image
        self.justification = justification
        self.threshold = threshold
        self.faceIndex = faceIndex
    }
}

/// A 1:1 comparison of two photos, neither enrolled.
public struct ImageComparisonRequest: Sendable {
    /// The first photo (its largest face is compared).
    public var first: [UInt8]
    /// The second photo (its largest face is compared).
    public var second: [UInt8]
    /// Purpose and case reference.
    public var justification: StatedJustification
    /// Decision threshold in the engine's native unit; nil uses the engine's published one
    /// (SFace: ``GalleryRecord/defaultOperatingThreshold``).
    public var threshold: Float?
    /// The recognition engine that compares the faces (nil: SFace); both templates are made from
    /// each image's detection.
    public var engine: String?

    /// Describes a comparison.
    public init(
        first: [UInt8], second: [UInt8], justification: StatedJustification, threshold: Float? = nil, engine: String? = nil
    ) {
        self.engine = engine
        self.first = first
        self.second = second
        self.justification = justification
        self.threshold = threshold
    }
}

/// The result of a 1:1 verification or comparison.
public struct VerificationOutcome: Sendable, Hashable {
    /// The subject compared with, for verifications against a gallery.
    public var subjectReference: String?
    /// The best pair's score in the engine's native unit (cosine: higher is more alike;
    /// distance: lower is), or the fused z-score.
    public var score: Float
    /// The threshold the decision used.
    public var threshold: Float
    /// The score reads as the same person at the threshold: a lead for review, not an identification.
    public var isMatch: Bool
    /// Faces found in the probe (the first image of a comparison).
    public var faces: [DetectedProbeFace]
    /// The probe face compared.
    public var comparedFace: Int
    /// The audit entry that records the verification.
    public var auditSequence: Int64
    /// The engine compared with (or "fusion").
    public var engine: String = "sface"
    /// Each engine's native score.
    public var engineScores: [String: Float] = [:]
}

/// Faces found in an image.
public struct DetectionOutcome: Sendable {
    /// Image size after orientation.
    public var imageWidth: Int
    /// Image size after orientation.
    public var imageHeight: Int
    /// Every face, in detection order.
    public var faces: [DetectedProbeFace]
    /// SHA-256 of the image bytes.
    public var imageSHA256: String
}
