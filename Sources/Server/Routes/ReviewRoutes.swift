import Foundation
import Gallery
import Governance
import Hummingbird
import Imaging
import Operations
import Review

/// The review API: the queue of cases awaiting review, a case with its candidates and
/// decisions, recording a decision, and the sealed face crops (reviewers and admins only).
/// An identification is reported only where a reviewer recorded `confirmed`.
struct ReviewRoutes {
    let operations: MatcherOperations
    /// Decisions accept `Idempotency-Key`.
    let idempotent: IdempotentRequests

    /// Cases per queue page when the request does not say.
    static let defaultPageSize = 100

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("reviews", use: queue)
        group.get("reviews/{case}", use: reviewCase)
        group.post("reviews/{case}/decisions", use: decide)
        group.get("reviews/{case}/probe/{face}.png", use: probeCrop)
        group.get("reviews/{case}/candidates/{subject}.png", use: candidateCrop)
    }

    @Sendable func queue(_ request: Request, context: APIRequestContext) async throws -> ReviewQueueBody {
        try request.requireOnlyQuery(["after", "limit"])
        let limit = try request.integerQuery("limit") ?? Self.defaultPageSize
        let after = try request.integerQuery("after").map { ReviewCase.ID(Int64($0)) }
        let entries = try await operations.review.queue(for: try context.caller(), after: after, limit: limit)
        return ReviewQueueBody(
            entries: entries.map(ReviewQueueEntryBody.init), nextAfter: entries.count == limit ? entries.last?.caseID.rawValue : nil)
    }

    @Sendable func reviewCase(_ request: Request, context: APIRequestContext) async throws -> ReviewCaseBody {
        ReviewCaseBody(try await operations.review.reviewCase(try context.caseID(), for: try context.caller()))
    }

    @Sendable func decide(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caseID = try context.caseID()
        let caller = try context.caller()
        let key = try IdempotentRequests.key(of: request, context: context)
        let body = try await request.decodeJSONBody(DecisionRequestBody.self, context: context)
        let verdict = try ReviewVerdict.parse(body.decision)
        let content = ["decision": verdict.rawValue, "subjectID": "\(body.subjectID)", "note": body.note]
        return try await idempotent.run(request, key: key, content: content) { claim in
            let follower = claim.map { claim in
                IdempotencyRecords.decisionFollower(for: claim.key, fingerprint: claim.fingerprint) { decision in
                    try Self.decided(decision)
                }
            }
            return try Self.decided(
                try await operations.review.decide(
                    verdict, on: SubjectRecord.ID(body.subjectID), in: caseID, note: body.note, by: caller,
                    follower: follower))
        }
    }

    static func decided(_ decision: ReviewDecision) throws -> IdempotencyRecords.StoredResponse {
        try IdempotentRequests.json(
            ReviewDecisionBody(decision), status: .created, location: "/v1/reviews/\(decision.caseID.rawValue)")
    }

    @Sendable func probeCrop(_ request: Request, context: APIRequestContext) async throws -> Response {
        let face = try context.integerParameter("face")
        let crop = try await operations.review.probeCrop(of: try context.caseID(), face: Int(face), for: try context.caller())
        return try Self.png(crop)
    }

    @Sendable func candidateCrop(_ request: Request, context: APIRequestContext) async throws -> Response {
        let subject = SubjectRecord.ID(try context.integerParameter("subject"))
        let crop = try await operations.review.candidateCrop(of: try context.caseID(), subject: subject, for: try context.caller())
        return try Self.png(crop)
    }

    /// A face crop as PNG; never cached, since it is biometric data.
    static func png(_ image: RGBImage) throws -> Response {
        let bytes = try image.pngData()
        return Response(
            status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension APIRequestContext {
    /// An integer path parameter.
    func integerParameter(_ name: String) throws(RequestError) -> Int64 {
        guard let value = Int64(try pathParameter(name)), value >= 0 else {
            throw .invalidField(pointer: "#\(name)", reason: "expected a non-negative integer")
        }
        return value
    }

    /// The `{case}` path parameter.
    func caseID() throws(RequestError) -> ReviewCase.ID { ReviewCase.ID(try integerParameter("case")) }
}

// MARK: - Bodies

/// `DecisionRequest`.
struct DecisionRequestBody: Decodable {
    var subjectID: Int64
    var decision: String
    var note: String
}

/// `ReviewQueue`.
struct ReviewQueueBody: APIResponseBody {
    var entries: [ReviewQueueEntryBody]
    var nextAfter: Int64?

    private enum CodingKeys: String, CodingKey { case entries, nextAfter }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .entries)
        try container.encode(nextAfter, forKey: .nextAfter)
    }
}

/// `ReviewQueueEntry`.
struct ReviewQueueEntryBody: Encodable {
    var caseID: Int64
    var searchSequence: Int64
    var gallery: String
    var purpose: String
    var caseReference: String
    var threshold: Float
    var openedAt: Date
    var candidates: Int
    var decided: Int

    init(_ entry: ReviewQueueEntry) {
        caseID = entry.caseID.rawValue
        searchSequence = entry.searchSequence
        gallery = entry.galleryName
        purpose = entry.purpose
        caseReference = entry.caseReference
        threshold = entry.threshold
        openedAt = entry.openedAt
        candidates = entry.candidateCount
        decided = entry.decisionCount
    }
}

/// `ReviewDecision`.
struct ReviewDecisionBody: APIResponseBody {
    var decisionID: Int64
    var caseID: Int64
    var subjectID: Int64
    var decision: String
    var note: String
    var reviewer: String
    var auditSequence: Int64
    var decidedAt: Date

    init(_ decision: ReviewDecision) {
        decisionID = decision.id.rawValue
        caseID = decision.caseID.rawValue
        subjectID = decision.subjectID.rawValue
        self.decision = decision.verdict.rawValue
        note = decision.note
        reviewer = decision.reviewer.description
        auditSequence = decision.auditSequence
        decidedAt = decision.decidedAt
    }
}

/// `ReviewCandidate`: `decision` is null while the candidate awaits review.
struct ReviewCandidateBody: Encodable {
    var rank: Int
    var subjectID: Int64
    var subjectReference: String
    var score: Float
    var templateID: Int64
    var decision: ReviewDecisionBody?

    init(_ candidate: ReviewCandidate) {
        rank = candidate.rank
        subjectID = candidate.subjectID.rawValue
        subjectReference = candidate.subjectReference
        score = candidate.score
        templateID = candidate.templateID.rawValue
        decision = candidate.decision.map(ReviewDecisionBody.init)
    }

    private enum CodingKeys: String, CodingKey { case rank, subjectID, subjectReference, score, templateID, decision }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rank, forKey: .rank)
        try container.encode(subjectID, forKey: .subjectID)
        try container.encode(subjectReference, forKey: .subjectReference)
        try container.encode(score, forKey: .score)
        try container.encode(templateID, forKey: .templateID)
        try container.encode(decision, forKey: .decision)
    }
}

/// `ReviewProbeFace`.
struct ReviewProbeFaceBody: Encodable {
    var faceIndex: Int
    var detectionScore: Float
    var quality: [String: Float]
}

/// `Identification`: a candidate a reviewer confirmed.
struct IdentificationBody: Encodable {
    var rank: Int
    var subjectID: Int64
    var subjectReference: String
    var score: Float
    var decisionID: Int64
    var reviewer: String
}

/// `ReviewCase`.
struct ReviewCaseBody: APIResponseBody {
    var caseID: Int64
    var searchSequence: Int64
    var gallery: String
    var purpose: String
    var caseReference: String
    var probeSHA256: String
    var threshold: Float
    var engine: String
    var scoreDirection: String
    var searcher: String
    var openedAt: Date
    var status: String
    var probeFaces: [ReviewProbeFaceBody]
    var candidates: [ReviewCandidateBody]
    var identifications: [IdentificationBody]

    init(_ reviewCase: ReviewCase) {
        caseID = reviewCase.id.rawValue
        searchSequence = reviewCase.searchSequence
        gallery = reviewCase.galleryName
        purpose = reviewCase.justification.purpose
        caseReference = reviewCase.justification.caseReference
        probeSHA256 = reviewCase.probeSHA256
        threshold = reviewCase.threshold
        engine = reviewCase.engine
        scoreDirection = ScoreDirection.name(higherIsMoreAlike: reviewCase.higherIsMoreAlike)
        searcher = reviewCase.searcher.description
        openedAt = reviewCase.openedAt
        status = reviewCase.status.rawValue
        probeFaces = reviewCase.probeFaces.map {
            ReviewProbeFaceBody(faceIndex: $0.faceIndex, detectionScore: $0.detectionScore, quality: $0.quality)
        }
        candidates = reviewCase.candidates.map(ReviewCandidateBody.init)
        identifications = reviewCase.identifications.map {
            IdentificationBody(
                rank: $0.candidate.rank, subjectID: $0.candidate.subjectID.rawValue,
                subjectReference: $0.candidate.subjectReference, score: $0.candidate.score,
                decisionID: $0.decision.id.rawValue, reviewer: $0.decision.reviewer.description)
        }
    }
}

// MARK: - OpenAPI

extension OpenAPIDocument {
    /// The review operations.
    static func reviewEndpoints() -> [Endpoint] {
        let caseParameter = pathParameter("case", "The case identifier (its search's audit sequence number).")
        let crop: JSON = ["description": "The aligned 112x112 face crop.", "content": ["image/png": ["schema": binary]]]
        return [
            Endpoint(
                method: "GET", path: "/v1/reviews", operationID: "reviewQueue",
                summary: "Cases awaiting review in the key's galleries, oldest first (reviewer, admin).", tag: "review",
                parameters: [
                    ["name": "after", "in": "query", "schema": integer(), "description": "Return cases after this case identifier."],
                    ["name": "limit", "in": "query", "schema": ["type": "integer", "minimum": 1, "maximum": 1_000]],
                ],
                responses: withErrors(["200": json(ref("ReviewQueue"), description: "One page of the queue.")])),
            Endpoint(
                method: "GET", path: "/v1/reviews/{case}", operationID: "reviewCase",
                summary: "A case: candidates with scores, ranks and decisions; identifications only from confirmed decisions.",
                tag: "review", parameters: [caseParameter],
                responses: withErrors(["200": json(ref("ReviewCase"), description: "The case.")], ["404": "NotFound"])),
            Endpoint(
                method: "POST", path: "/v1/reviews/{case}/decisions", operationID: "recordReviewDecision",
                summary: "Record confirmed, rejected or inconclusive on one candidate, with a note; audited, never replaced.",
                tag: "review", parameters: [caseParameter, idempotencyKeyParameter],
                requestBody: ["required": true, "content": ["application/json": ["schema": ref("DecisionRequest")]]],
                responses: withErrors(
                    ["201": json(ref("ReviewDecision"), description: "Recorded (or replayed); Location names the case.")],
                    ["404": "NotFound", "409": "Conflict", "415": "UnsupportedMediaType", "422": "UnprocessableContent"])),
            Endpoint(
                method: "GET", path: "/v1/reviews/{case}/probe/{face}.png", operationID: "reviewProbeCrop",
                summary: "The probe face's aligned crop (reviewer, admin).", tag: "review",
                parameters: [caseParameter, pathParameter("face", "The probe face index, from 0.")],
                responses: withErrors(["200": crop], ["404": "NotFound"])),
            Endpoint(
                method: "GET", path: "/v1/reviews/{case}/candidates/{subject}.png", operationID: "reviewCandidateCrop",
                summary: "The enrolment crop of a candidate's best-scoring template (reviewer, admin).", tag: "review",
                parameters: [caseParameter, pathParameter("subject", "The candidate's subject identifier.")],
                responses: withErrors(["200": crop], ["404": "NotFound"])),
        ]
    }

    static func pathParameter(_ name: String, _ description: String) -> JSON {
        ["name": .string(name), "in": "path", "required": true, "schema": integer(), "description": .string(description)]
    }

    /// The review schemas.
    static func reviewSchemas() -> [String: JSON] {
        let decision = string(values: ReviewVerdict.allCases.map(\.rawValue))
        let decisionBody = object(
            [
                "decisionID": integer(), "caseID": integer(), "subjectID": integer(), "decision": decision,
                "note": string(), "reviewer": string(), "auditSequence": integer(),
                "decidedAt": string(format: "date-time"),
            ],
            required: ["decisionID", "caseID", "subjectID", "decision", "note", "reviewer", "auditSequence", "decidedAt"])
        let candidate = object(
            [
                "rank": integer(), "subjectID": integer(), "subjectReference": string(), "score": number(),
                "templateID": integer(), "decision": ["type": ["object", "null"], "description": "The ReviewDecision, or null while awaiting review."],
            ],
            required: ["rank", "subjectID", "subjectReference", "score", "templateID", "decision"])
        return [
            "DecisionRequest": object(
                [
                    "subjectID": integer("The candidate's subject identifier."), "decision": decision,
                    "note": string("What the decision rests on (1-2000 characters)."),
                ], required: ["subjectID", "decision", "note"]),
            "ReviewDecision": decisionBody,
            "ReviewCandidate": candidate,
            "ReviewProbeFace": object(
                ["faceIndex": integer(), "detectionScore": number(), "quality": map(number())],
                required: ["faceIndex", "detectionScore", "quality"]),
            "Identification": object(
                [
                    "rank": integer(), "subjectID": integer(), "subjectReference": string(), "score": number(),
                    "decisionID": integer(), "reviewer": string(),
                ], required: ["rank", "subjectID", "subjectReference", "score", "decisionID", "reviewer"],
                description: "A candidate a reviewer confirmed: the only identification the API reports."),
            "ReviewCase": object(
                [
                    "caseID": integer(), "searchSequence": integer(), "gallery": string(), "purpose": string(),
                    "caseReference": string(), "probeSHA256": string(), "threshold": number(), "searcher": string(),
                    "engine": string("The engine whose scores the candidates carry (or fusion)."),
                    "scoreDirection": string(values: ["higher-is-more-alike", "lower-is-more-alike"]),
                    "openedAt": string(format: "date-time"),
                    "status": string(values: ["awaitingReview", "reviewed", "noCandidates"]),
                    "probeFaces": array(ref("ReviewProbeFace")), "candidates": array(ref("ReviewCandidate")),
                    "identifications": array(ref("Identification")),
                ],
                required: [
                    "caseID", "searchSequence", "gallery", "purpose", "caseReference", "probeSHA256", "threshold",
                    "engine", "scoreDirection", "searcher", "openedAt", "status", "probeFaces", "candidates", "identifications",
                ]),
            "ReviewQueueEntry": object(
                [
                    "caseID": integer(), "searchSequence": integer(), "gallery": string(), "purpose": string(),
                    "caseReference": string(), "threshold": number(), "openedAt": string(format: "date-time"),
                    "candidates": integer(), "decided": integer(),
                ],
                required: [
                    "caseID", "searchSequence", "gallery", "purpose", "caseReference", "threshold", "openedAt",
                    "candidates", "decided",
                ]),
            "ReviewQueue": object(
                ["entries": array(ref("ReviewQueueEntry")), "nextAfter": nullable("integer")], required: ["entries", "nextAfter"]),
        ]
    }
}
