import FaceEngine
import Gallery
import Imaging

/// One face accepted for enrolment: its template and the facts stored with it.
public struct EnrolmentSample: Sendable, Equatable {
    /// The face's template.
    public var template: FaceTemplate
    /// The detector's score, stored as template quality.
    public var detectionScore: Float
    /// The quality measures stored with the template.
    public var quality: FaceQuality
    /// SHA-256 of the source image bytes (hex).
    public var sourceImageSHA256: String
    /// The aligned 112x112 face, when the engine keeps crops (reviewers are shown it).
    public var alignedCrop: RGBImage?

    /// A sample from its parts.
    public init(
        template: FaceTemplate, detectionScore: Float, quality: FaceQuality, sourceImageSHA256: String,
        alignedCrop: RGBImage? = nil
    ) {
        self.template = template
        self.detectionScore = detectionScore
        self.quality = quality
        self.sourceImageSHA256 = sourceImageSHA256
        self.alignedCrop = alignedCrop
    }
}

/// One subject returned by a search.
public struct Candidate: Sendable, Hashable, Codable {
    /// 1 for the best match.
    public var rank: Int
    /// The subject's external reference.
    public var subjectReference: String
    /// The subject's stored identifier.
    public var subjectID: SubjectRecord.ID
    /// Cosine similarity of the subject's best template to the best probe.
    public var score: Float
    /// The subject's template that scored best.
    public var bestTemplateID: TemplateRecord.ID

    /// A candidate from its parts.
    public init(
        rank: Int, subjectReference: String, subjectID: SubjectRecord.ID, score: Float,
        bestTemplateID: TemplateRecord.ID
    ) {
        self.rank = rank
        self.subjectReference = subjectReference
        self.subjectID = subjectID
        self.score = score
        self.bestTemplateID = bestTemplateID
    }
}

/// The outcome of a one-to-one comparison against an enrolled subject.
public struct Verification: Sendable, Hashable, Codable {
    /// The subject's external reference.
    public var subjectReference: String
    /// Best cosine similarity of the probe to the subject's templates.
    public var score: Float
    /// The threshold the decision used.
    public var threshold: Float
    /// True when `score >= threshold`.
    public var isMatch: Bool

    /// A verification from its parts.
    public init(subjectReference: String, score: Float, threshold: Float) {
        self.subjectReference = subjectReference
        self.score = score
        self.threshold = threshold
        self.isMatch = score >= threshold
    }
}
