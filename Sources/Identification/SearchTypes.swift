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
    /// The templates other engines made from the same detection (one per engine).
    public var additionalTemplates: [FaceTemplate]
    /// The face the templates were made from (kept with the image so an engine added later
    /// makes its template from the same face).
    public var detection: DetectedFace?
    /// The image as supplied, when it is to be kept for re-templating.
    public var sourceImage: [UInt8]?

    /// A sample from its parts.
    public init(
        template: FaceTemplate, detectionScore: Float, quality: FaceQuality, sourceImageSHA256: String,
        alignedCrop: RGBImage? = nil, additionalTemplates: [FaceTemplate] = []
    ) {
        self.additionalTemplates = additionalTemplates
        self.template = template
        self.detectionScore = detectionScore
        self.quality = quality
        self.sourceImageSHA256 = sourceImageSHA256
        self.alignedCrop = alignedCrop
    }
}

extension EnrolmentSample {
    /// Every engine's template of the face: the detector's SFace first.
    public var allTemplates: [FaceTemplate] { [template] + additionalTemplates }

    /// The quality stored with each template of the sample.
    public var templateQuality: TemplateQuality {
        TemplateQuality(
            detectionScore: detectionScore,
            measures: [
                "interOcularDistance": Float(quality.interOcularDistance), "yawDegrees": Float(quality.yawDegrees),
                "rollDegrees": Float(quality.rollDegrees), "sharpness": Float(quality.sharpness),
                "brightness": Float(quality.brightness), "contrast": Float(quality.contrast),
            ])
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
    /// The subject's score in the searched engine's native unit (a cosine, higher is more
    /// alike; a distance, lower is more alike), or the fused z-score for fusion.
    public var score: Float
    /// The subject's template that scored best.
    public var bestTemplateID: TemplateRecord.ID
    /// Each engine's native score of the subject (one entry for a single engine).
    public var engineScores: [String: Float]

    /// A candidate from its parts.
    public init(
        rank: Int, subjectReference: String, subjectID: SubjectRecord.ID, score: Float,
        bestTemplateID: TemplateRecord.ID, engineScores: [String: Float] = [:]
    ) {
        self.engineScores = engineScores
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
    /// The engine compared with (or "fusion").
    public var engine: String
    /// The best pair's score in the engine's native unit (cosine: higher is more alike;
    /// distance: lower is), or the fused z-score.
    public var score: Float
    /// The threshold the decision used.
    public var threshold: Float
    /// True when the score reads as the same person at the threshold, in the engine's direction.
    public var isMatch: Bool
    /// Each engine's native score (one entry for a single engine).
    public var engineScores: [String: Float]

    /// A cosine verification (higher is more alike) from its parts.
    public init(subjectReference: String, score: Float, threshold: Float, engine: String = "sface") {
        self.init(
            subjectReference: subjectReference, engine: engine, score: score, threshold: threshold,
            isMatch: score >= threshold, engineScores: [engine: score])
    }

    /// A verification from its parts.
    public init(
        subjectReference: String, engine: String, score: Float, threshold: Float, isMatch: Bool,
        engineScores: [String: Float]
    ) {
        self.subjectReference = subjectReference
        self.engine = engine
        self.score = score
        self.threshold = threshold
        self.isMatch = isMatch
        self.engineScores = engineScores
    }
}
