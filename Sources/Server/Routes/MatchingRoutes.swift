import Hummingbird
import Operations

/// `POST /v1/detect`, `/v1/search`, `/v1/verify`: image in (multipart or base64 JSON), faces and
/// scores out. Every face in a probe is reported; the largest is searched or compared unless the
/// request names one with `faceIndex`.
struct MatchingRoutes {
    let operations: MatcherOperations

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("detect", use: detect)
        group.post("search", use: search)
        group.post("verify", use: verify)
    }

    @Sendable func detect(_ request: Request, context: APIRequestContext) async throws -> DetectionBody {
        let caller = try context.caller()
        let input = try await FormInput.read(request, context: context)
        try input.requireOnly(["image"])
        let outcome = try await operations.detect(imageBytes: try input.requiredImage("image"), by: caller)
        return DetectionBody(
            imageWidth: outcome.imageWidth, imageHeight: outcome.imageHeight, imageSHA256: outcome.imageSHA256,
            faces: outcome.faces.map(FaceBody.init))
    }

    @Sendable func search(_ request: Request, context: APIRequestContext) async throws -> SearchResultBody {
        let caller = try context.caller()
        let input = try await FormInput.read(request, context: context)
        try input.requireOnly([
            "gallery", "image", "purpose", "caseReference", "k", "threshold", "faceIndex", "attributeFilter", "engine",
        ])
        let outcome = try await operations.search(
            SearchRequest(
                gallery: try input.requiredString("gallery"), image: try input.requiredImage("image"),
                justification: StatedJustification(
                    purpose: try input.string("purpose"), caseReference: try input.string("caseReference")),
                k: try input.integer("k") ?? 10, threshold: try input.float("threshold"),
                faceIndex: try input.integer("faceIndex"), attributeFilter: try input.stringMap("attributeFilter"),
                engine: try input.string("engine")),
            by: caller)
        return SearchResultBody(
            gallery: outcome.gallery.name, purpose: outcome.justification.purpose,
            caseReference: outcome.justification.caseReference, probeSHA256: outcome.probeSHA256,
            engine: outcome.engine,
            scoreDirection: ScoreDirection.name(
                higherIsMoreAlike: operations.identification.operatingPoint(gallery: outcome.gallery, engine: outcome.engine)
                    .higherIsMoreAlike),
            faces: outcome.faces.map(FaceBody.init), searchedFace: outcome.searchedFace, k: outcome.k,
            threshold: outcome.threshold,
            candidates: outcome.candidates.map {
                CandidateBody(
                    rank: $0.rank, subjectReference: $0.subjectReference, subjectID: $0.subjectID.rawValue, score: $0.score,
                    bestTemplateID: $0.bestTemplateID.rawValue, templateDetectionScore: $0.templateQuality?.detectionScore,
                    engineScores: $0.engineScores)
            },
            auditSequence: outcome.auditSequence, notice: SearchResultBody.leadNotice,
            reviewRequired: outcome.reviewCase != nil, reviewCaseID: outcome.reviewCase?.id.rawValue,
            reviewStatus: outcome.reviewCase?.status.rawValue)
    }

    @Sendable func verify(_ request: Request, context: APIRequestContext) async throws -> VerificationResultBody {
        let caller = try context.caller()
        let input = try await FormInput.read(request, context: context)
        try input.requireOnly([
            "image", "purpose", "caseReference", "gallery", "subjectReference", "otherImage", "threshold", "faceIndex",
            "engine",
        ])
        let image = try input.requiredImage("image")
        let justification = StatedJustification(
            purpose: try input.string("purpose"), caseReference: try input.string("caseReference"))
        let gallery = try input.string("gallery")
        let subjectReference = try input.string("subjectReference")
        let otherImage = try input.image("otherImage")
        let threshold = try input.float("threshold")
        let faceIndex = try input.integer("faceIndex")
        let engine = try input.string("engine")
        let outcome: VerificationOutcome
        var higherIsMoreAlike = true
        let mode: String
        switch (gallery, subjectReference, otherImage) {
        case (let gallery?, let subjectReference?, nil):
            mode = "subject"
            outcome = try await operations.verify(
                SubjectVerificationRequest(
                    gallery: gallery, subjectReference: subjectReference, image: image, justification: justification,
                    threshold: threshold, faceIndex: faceIndex, engine: engine),
                by: caller)
            if let record = try? operations.identification.gallery(named: gallery) {
                higherIsMoreAlike = operations.identification.operatingPoint(gallery: record, engine: outcome.engine)
                    .higherIsMoreAlike
            }
        case (nil, nil, let otherImage?):
            mode = "images"
            if faceIndex != nil {
                throw RequestError.invalidField(pointer: "/faceIndex", reason: "image-to-image comparison uses each image's largest face")
            }
            outcome = try await operations.compare(
                ImageComparisonRequest(
                    first: image, second: otherImage, justification: justification, threshold: threshold, engine: engine),
                by: caller)
            higherIsMoreAlike = (try? operations.identification.comparison(ofEngine: outcome.engine))?.higherIsMoreAlike ?? true
        default:
            throw RequestError.invalidField(
                pointer: otherImage == nil ? (gallery == nil ? "/gallery" : "/subjectReference") : "/otherImage",
                reason: "give either gallery and subjectReference (verify against an enrolled subject) or otherImage "
                    + "(compare two images), not both")
        }
        return VerificationResultBody(
            mode: mode, subjectReference: outcome.subjectReference, engine: outcome.engine,
            scoreDirection: ScoreDirection.name(higherIsMoreAlike: higherIsMoreAlike), score: outcome.score,
            threshold: outcome.threshold, isMatch: outcome.isMatch, faces: outcome.faces.map(FaceBody.init),
            comparedFace: outcome.comparedFace, auditSequence: outcome.auditSequence, notice: SearchResultBody.leadNotice,
            engineScores: outcome.engineScores)
    }
}

extension FaceBody {
    init(_ face: DetectedProbeFace) {
        self.init(index: face.index, detection: face.detection, quality: face.quality, verdict: face.verdict)
    }
}
