import FaceEngine
import Imaging
import Foundation
import Gallery
import Governance
import Hummingbird

// The JSON bodies of the API. Each is described by the schema of the same name in the OpenAPI
// document (``OpenAPIDocument``); templates (vectors) and images never appear in responses.

/// A body encoded as `application/json` with ISO 8601 dates and sorted keys.
protocol APIResponseBody: Encodable, ResponseGenerator {}

extension APIResponseBody {
    func response(from request: Request, context: some RequestContext) throws -> Response {
        try APIResponse.json(self, status: .ok)
    }
}

enum APIResponse {
    static func json(_ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// `CreateGalleryRequest`.
struct CreateGalleryBody: Decodable {
    var name: String
    var description: String?
    var purpose: String
    var retentionDays: Int?
    var operatingThreshold: Float?
    var engines: [String]?
    var defaultEngine: String?
    var keepsEnrolmentImages: Bool?
}

/// The `scoreDirection` values.
enum ScoreDirection {
    static func name(higherIsMoreAlike: Bool) -> String {
        higherIsMoreAlike ? "higher-is-more-alike" : "lower-is-more-alike"
    }
}

/// `GalleryEngine`.
struct GalleryEngineBody: Encodable {
    var identifier: String
    var templateModel: String
    var templateLength: Int
    var operatingThreshold: Float
    var scoreDirection: String
    var templatingJob: String?

    // Unit-length templates are compared by cosine (higher is more alike), the others by distance.
    init(_ engine: GalleryEngine, operatingThreshold: Float) {
        identifier = engine.identifier
        templateModel = engine.templateModel
        templateLength = engine.templateLength
        self.operatingThreshold = operatingThreshold
        scoreDirection = ScoreDirection.name(higherIsMoreAlike: engine.unitLength)
        templatingJob = engine.templatingJob
    }

    // The job is written as null rather than left out, as the schema says.
    private enum CodingKeys: String, CodingKey {
        case identifier, templateModel, templateLength, operatingThreshold, scoreDirection, templatingJob
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(identifier, forKey: .identifier)
        try container.encode(templateModel, forKey: .templateModel)
        try container.encode(templateLength, forKey: .templateLength)
        try container.encode(operatingThreshold, forKey: .operatingThreshold)
        try container.encode(scoreDirection, forKey: .scoreDirection)
        try container.encode(templatingJob, forKey: .templatingJob)
    }
}

/// `SetThresholdRequest`.
struct SetThresholdBody: Decodable {
    var threshold: Float
    var reason: String
}

/// `SetEngineThresholdRequest`: a threshold, or null for the engine's published one.
struct SetEngineThresholdBody: Decodable {
    var threshold: Float?
    var reason: String

    private enum CodingKeys: String, CodingKey { case threshold, reason }

    // `threshold` must be present: null resets, absence is a mistake.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.threshold) else {
            throw DecodingError.keyNotFound(
                CodingKeys.threshold,
                DecodingError.Context(codingPath: [], debugDescription: "threshold is required (null: the engine's published one)"))
        }
        threshold = try container.decodeIfPresent(Float.self, forKey: .threshold)
        reason = try container.decode(String.self, forKey: .reason)
    }
}

/// `FusionStatistics`.
struct FusionStatisticsBody: Codable {
    var mean: Float
    var deviation: Float
}

/// `FusionCalibration`.
struct FusionCalibrationBody: Encodable {
    var threshold: Float
    var targetFalseMatchRate: Double
    var source: String
    var statistics: [String: FusionStatisticsBody]

    init(_ calibration: FusionCalibration) {
        threshold = calibration.threshold
        targetFalseMatchRate = calibration.targetFalseMatchRate
        source = calibration.source
        statistics = calibration.statistics.mapValues { FusionStatisticsBody(mean: $0.mean, deviation: $0.deviation) }
    }
}

/// `RecordFusionCalibrationRequest`.
struct RecordFusionCalibrationBody: Decodable {
    var threshold: Float
    var targetFalseMatchRate: Double
    var source: String
    var statistics: [String: FusionStatisticsBody]
    var reason: String

    var calibration: FusionCalibration {
        FusionCalibration(
            statistics: statistics.mapValues { FusionCalibration.Statistics(mean: $0.mean, deviation: $0.deviation) },
            threshold: threshold, targetFalseMatchRate: targetFalseMatchRate, source: source)
    }
}

/// `Gallery`.
struct GalleryBody: APIResponseBody {
    var name: String
    var description: String
    var purpose: String
    var retentionDays: Int?
    var operatingThreshold: Float
    var modelIdentifier: String
    var createdAt: Date
    var subjects: Int?
    var templates: Int?
    var engines: [GalleryEngineBody]
    var defaultEngine: String
    var keepsEnrolmentImages: Bool
    var fusion: FusionCalibrationBody?
    var fusionThreshold: Float

    /// The gallery's resource; `operatingPoint` gives each engine's threshold in effect (its
    /// own, else its published one) and the fused threshold.
    init(_ record: GalleryRecord, counts: GalleryCounts?, operatingPoint: (GalleryRecord, String) -> Float) {
        keepsEnrolmentImages = record.settings.keepsEnrolmentImages
        engines = record.engines.map { GalleryEngineBody($0, operatingThreshold: operatingPoint(record, $0.identifier)) }
        defaultEngine = record.defaultEngine
        fusion = record.settings.fusion.map(FusionCalibrationBody.init)
        fusionThreshold = operatingPoint(record, "fusion")
        name = record.name
        description = record.description
        purpose = record.purpose.rawValue
        retentionDays = record.retention.days
        operatingThreshold = record.operatingThreshold
        modelIdentifier = record.modelIdentifier
        createdAt = record.createdAt
        subjects = counts?.subjects
        templates = counts?.templates
    }

    // Optional members are written as null rather than left out, as the schema says.
    private enum CodingKeys: String, CodingKey {
        case name, description, purpose, retentionDays, operatingThreshold, modelIdentifier, createdAt, subjects, templates
        case engines, defaultEngine, keepsEnrolmentImages, fusion, fusionThreshold
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(description, forKey: .description)
        try container.encode(purpose, forKey: .purpose)
        try container.encode(retentionDays, forKey: .retentionDays)
        try container.encode(operatingThreshold, forKey: .operatingThreshold)
        try container.encode(modelIdentifier, forKey: .modelIdentifier)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(subjects, forKey: .subjects)
        try container.encodeIfPresent(templates, forKey: .templates)
        try container.encode(engines, forKey: .engines)
        try container.encode(defaultEngine, forKey: .defaultEngine)
        try container.encode(keepsEnrolmentImages, forKey: .keepsEnrolmentImages)
        try container.encode(fusion, forKey: .fusion)
        try container.encode(fusionThreshold, forKey: .fusionThreshold)
    }
}

/// `GalleryList`.
struct GalleryListBody: APIResponseBody {
    var galleries: [GalleryBody]
}

/// `GalleryErasure`.
struct GalleryErasureBody: APIResponseBody {
    var gallery: String
    var subjectsErased: Int
    var templatesErased: Int
}

/// `Subject` (without templates in listings).
struct SubjectBody: APIResponseBody {
    var id: Int64
    var reference: String
    var attributes: [String: String]
    var createdAt: Date
    var updatedAt: Date
    var retainUntil: Date?
    var templates: [TemplateBody]?

    init(_ subject: SubjectRecord, templates: [TemplateRecord]?) {
        id = subject.id.rawValue
        reference = subject.externalReference
        attributes = subject.attributes
        createdAt = subject.createdAt
        updatedAt = subject.updatedAt
        retainUntil = subject.retainUntil
        self.templates = templates.map { $0.map(TemplateBody.init) }
    }

    private enum CodingKeys: String, CodingKey { case id, reference, attributes, createdAt, updatedAt, retainUntil, templates }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(reference, forKey: .reference)
        try container.encode(attributes, forKey: .attributes)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(retainUntil, forKey: .retainUntil)
        try container.encodeIfPresent(templates, forKey: .templates)
    }
}

/// `Template`: a stored template's facts, never its vector.
struct TemplateBody: Encodable {
    var id: Int64
    var modelIdentifier: String
    var detectionScore: Float
    var qualityMeasures: [String: Float]
    var sourceImageSHA256: String
    var capturedAt: Date
    var enrolledAt: Date

    init(_ template: TemplateRecord) {
        id = template.id.rawValue
        modelIdentifier = template.modelIdentifier
        detectionScore = template.quality.detectionScore
        qualityMeasures = template.quality.measures
        sourceImageSHA256 = template.sourceImageSHA256
        capturedAt = template.capturedAt
        enrolledAt = template.enrolledAt
    }
}

/// `SubjectPage`.
struct SubjectPageBody: APIResponseBody {
    var subjects: [SubjectBody]
    var nextCursor: Int64?

    private enum CodingKeys: String, CodingKey { case subjects, nextCursor }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subjects, forKey: .subjects)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// `TemplatesAdded`.
struct TemplatesAddedBody: APIResponseBody {
    var reference: String
    var templates: [TemplateBody]
}

/// `SubjectErasure`.
struct SubjectErasureBody: APIResponseBody {
    var reference: String
    var subjectID: Int64
    var templatesErased: Int
}

/// `Face`: one detected face with its quality.
struct FaceBody: Encodable {
    struct Point: Encodable {
        var x: Double
        var y: Double
        init(_ point: ImagePoint) {
            x = Double(point.x)
            y = Double(point.y)
        }
    }

    struct Box: Encodable {
        var x, y, width, height: Double
    }

    struct Landmarks: Encodable {
        var rightEye, leftEye, noseTip, rightMouthCorner, leftMouthCorner: Point
    }

    struct Quality: Encodable {
        var interOcularDistance, yawDegrees, rollDegrees, sharpness, brightness, contrast: Double
    }

    var index: Int
    var box: Box
    var landmarks: Landmarks
    var detectionScore: Float
    var quality: Quality
    var acceptable: Bool
    var qualityFailures: [String]

    init(index: Int, detection: DetectedFace, quality: FaceQuality, verdict: QualityVerdict) {
        self.index = index
        box = Box(x: detection.box.x, y: detection.box.y, width: detection.box.width, height: detection.box.height)
        let marks = detection.landmarks
        landmarks = Landmarks(
            rightEye: Point(marks.rightEye), leftEye: Point(marks.leftEye), noseTip: Point(marks.noseTip),
            rightMouthCorner: Point(marks.rightMouthCorner), leftMouthCorner: Point(marks.leftMouthCorner))
        detectionScore = detection.score
        self.quality = Quality(
            interOcularDistance: quality.interOcularDistance, yawDegrees: quality.yawDegrees,
            rollDegrees: quality.rollDegrees, sharpness: quality.sharpness, brightness: quality.brightness,
            contrast: quality.contrast)
        acceptable = verdict.isAcceptable
        qualityFailures = verdict.failures.map(\.description)
    }
}

/// `Detection`.
struct DetectionBody: APIResponseBody {
    var imageWidth: Int
    var imageHeight: Int
    var imageSHA256: String
    var faces: [FaceBody]
}

/// `Candidate`.
struct CandidateBody: Encodable {
    var rank: Int
    var subjectReference: String
    var subjectID: Int64
    var score: Float
    var bestTemplateID: Int64
    var templateDetectionScore: Float?
    var engineScores: [String: Float]

    private enum CodingKeys: String, CodingKey {
        case rank, subjectReference, subjectID, score, bestTemplateID, templateDetectionScore, engineScores
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rank, forKey: .rank)
        try container.encode(subjectReference, forKey: .subjectReference)
        try container.encode(subjectID, forKey: .subjectID)
        try container.encode(score, forKey: .score)
        try container.encode(bestTemplateID, forKey: .bestTemplateID)
        try container.encode(templateDetectionScore, forKey: .templateDetectionScore)
        try container.encode(engineScores, forKey: .engineScores)
    }
}

/// `SearchResult`.
struct SearchResultBody: APIResponseBody {
    var gallery: String
    var purpose: String
    var caseReference: String
    var probeSHA256: String
    var engine: String
    var scoreDirection: String
    var faces: [FaceBody]
    var searchedFace: Int
    var k: Int
    var threshold: Float
    var candidates: [CandidateBody]
    var auditSequence: Int64
    var notice: String
    /// Whether the gallery's purpose needs a reviewer's decision before any identification.
    var reviewRequired: Bool
    /// The review case the search opened (the search's audit sequence), when review is required.
    var reviewCaseID: Int64?
    /// `awaitingReview`, `reviewed` or `noCandidates`, when review is required.
    var reviewStatus: String?

    static let leadNotice =
        "Candidates are investigative leads for review by a trained person, never an identification."

    private enum CodingKeys: String, CodingKey {
        case gallery, purpose, caseReference, probeSHA256, faces, searchedFace, k, threshold, candidates, auditSequence
        case notice, reviewRequired, reviewCaseID, reviewStatus, engine, scoreDirection
    }

    // The review fields are always present (null when no review applies), as the document requires.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gallery, forKey: .gallery)
        try container.encode(purpose, forKey: .purpose)
        try container.encode(caseReference, forKey: .caseReference)
        try container.encode(probeSHA256, forKey: .probeSHA256)
        try container.encode(faces, forKey: .faces)
        try container.encode(searchedFace, forKey: .searchedFace)
        try container.encode(k, forKey: .k)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(auditSequence, forKey: .auditSequence)
        try container.encode(notice, forKey: .notice)
        try container.encode(reviewRequired, forKey: .reviewRequired)
        try container.encode(reviewCaseID, forKey: .reviewCaseID)
        try container.encode(reviewStatus, forKey: .reviewStatus)
        try container.encode(engine, forKey: .engine)
        try container.encode(scoreDirection, forKey: .scoreDirection)
    }
}

/// `VerificationResult`.
struct VerificationResultBody: APIResponseBody {
    var mode: String
    var subjectReference: String?
    var engine: String
    var scoreDirection: String
    var score: Float
    var threshold: Float
    var isMatch: Bool
    var faces: [FaceBody]
    var comparedFace: Int
    var auditSequence: Int64
    var notice: String
    var engineScores: [String: Float]

    private enum CodingKeys: String, CodingKey {
        case mode, subjectReference, score, threshold, isMatch, faces, comparedFace, auditSequence, notice
        case engine, scoreDirection, engineScores
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        try container.encode(subjectReference, forKey: .subjectReference)
        try container.encode(score, forKey: .score)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(isMatch, forKey: .isMatch)
        try container.encode(faces, forKey: .faces)
        try container.encode(comparedFace, forKey: .comparedFace)
        try container.encode(auditSequence, forKey: .auditSequence)
        try container.encode(notice, forKey: .notice)
        try container.encode(engine, forKey: .engine)
        try container.encode(scoreDirection, forKey: .scoreDirection)
        try container.encode(engineScores, forKey: .engineScores)
    }
}

/// `AuditEntry`.
struct AuditEntryBody: Encodable {
    struct Actor: Encodable {
        var kind: String
        var keyID: Int64?
        var role: String?
        var component: String?

        private enum CodingKeys: String, CodingKey { case kind, keyID, role, component }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kind, forKey: .kind)
            try container.encode(keyID, forKey: .keyID)
            try container.encode(role, forKey: .role)
            try container.encode(component, forKey: .component)
        }
    }

    var sequence: Int64
    var recordedAt: Date
    var actor: Actor
    var action: String
    var galleryID: Int64?
    var galleryName: String?
    var purpose: String?
    var caseReference: String?
    var probeSHA256: String?
    var parameters: JSON
    var result: JSON
    var previousHash: String
    var entryHash: String

    init(_ entry: AuditEntry) {
        sequence = entry.sequence
        recordedAt = entry.recordedAt
        switch entry.actor {
        case .key(let id, let role): actor = Actor(kind: "key", keyID: id.rawValue, role: role.rawValue, component: nil)
        case .system(let component): actor = Actor(kind: "system", keyID: nil, role: nil, component: component)
        }
        action = entry.action.rawValue
        galleryID = entry.galleryID?.rawValue
        galleryName = entry.galleryName
        purpose = entry.purpose
        caseReference = entry.caseReference
        probeSHA256 = entry.probeSHA256
        parameters = JSON(parsing: entry.parameters) ?? .object([:])
        result = JSON(parsing: entry.result) ?? .object([:])
        previousHash = entry.previousHash
        entryHash = entry.entryHash
    }

    private enum CodingKeys: String, CodingKey {
        case sequence, recordedAt, actor, action, galleryID, galleryName, purpose, caseReference, probeSHA256, parameters
        case result, previousHash, entryHash
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(recordedAt, forKey: .recordedAt)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(galleryID, forKey: .galleryID)
        try container.encode(galleryName, forKey: .galleryName)
        try container.encode(purpose, forKey: .purpose)
        try container.encode(caseReference, forKey: .caseReference)
        try container.encode(probeSHA256, forKey: .probeSHA256)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(result, forKey: .result)
        try container.encode(previousHash, forKey: .previousHash)
        try container.encode(entryHash, forKey: .entryHash)
    }
}

/// `AuditPage`.
struct AuditPageBody: APIResponseBody {
    var entries: [AuditEntryBody]
    var nextAfter: Int64?

    private enum CodingKeys: String, CodingKey { case entries, nextAfter }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .entries)
        try container.encode(nextAfter, forKey: .nextAfter)
    }
}
