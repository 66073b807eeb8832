import Foundation
import Gallery
import Governance
import Imaging

/// What a reviewer concluded about one candidate.
public enum ReviewVerdict: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The candidate is the person in the probe: the only verdict that makes an identification.
    case confirmed
    /// The candidate is not the person in the probe.
    case rejected
    /// The reviewer cannot tell.
    case inconclusive

    public var description: String { rawValue }

    /// The verdict named by `text` (as a form or JSON body sends it), or
    /// ``ReviewError/invalidDecision(reason:)``.
    public static func parse(_ text: String) throws(ReviewError) -> ReviewVerdict {
        guard let verdict = ReviewVerdict(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
            throw .invalidDecision(
                reason: "'\(text)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return verdict
    }
}

/// Where a case stands.
public enum ReviewStatus: String, Sendable, Hashable, Codable, CustomStringConvertible {
    /// At least one candidate has no decision yet.
    case awaitingReview
    /// Every candidate has a decision.
    case reviewed
    /// The search returned no candidate (or every candidate has since been erased).
    case noCandidates

    public var description: String { rawValue }
}

/// Who acted, as a review row records it: an API key (with its name and role) or a local operator.
public struct ReviewActor: Sendable, Hashable, Encodable, CustomStringConvertible {
    /// The API key, or nil for a local operator.
    public let keyID: APIKey.ID?
    /// The key's role, or nil for a local operator.
    public let role: Role?
    /// The system actor the audit log names (`cli:<login>`), or nil for a key.
    public let systemActor: String?
    /// The key's name or the operator's login, when known.
    public let name: String?

    init(keyID: APIKey.ID?, role: Role?, systemActor: String?, name: String?) {
        self.keyID = keyID
        self.role = role
        self.systemActor = systemActor
        self.name = name
    }

    init(_ caller: Caller) {
        switch caller {
        case .key(let principal):
            self.init(keyID: principal.keyID, role: principal.role, systemActor: nil, name: principal.name)
        case .localOperator(let name):
            self.init(keyID: nil, role: nil, systemActor: caller.auditActor.systemName, name: name)
        }
    }

    public var description: String {
        if let keyID { return "\(keyID)\(role.map { " (\($0))" } ?? "")\(name.map { " \($0)" } ?? "")" }
        return "system (\(systemActor ?? "unknown"))"
    }
}

extension AuditActor {
    var systemName: String? {
        if case .system(let name) = self { return name }
        return nil
    }
}

/// One candidate a search put before the reviewer, as ``ReviewLedger/recordSearch(_:by:)``
/// takes it (the fields of a ranked search result).
public struct SearchCandidate: Sendable, Hashable {
    /// 1 for the best.
    public var rank: Int
    /// The candidate subject.
    public var subjectID: SubjectRecord.ID
    /// Its external reference.
    public var subjectReference: String
    /// Cosine similarity to the probe.
    public var score: Float
    /// The subject's template that scored best (its crop is the one shown).
    public var templateID: TemplateRecord.ID

    /// A candidate from its parts.
    public init(
        rank: Int, subjectID: SubjectRecord.ID, subjectReference: String, score: Float, templateID: TemplateRecord.ID
    ) {
        self.rank = rank
        self.subjectID = subjectID
        self.subjectReference = subjectReference
        self.score = score
        self.templateID = templateID
    }
}

/// One face of a probe image, as a case keeps it: the aligned crop (sealed at rest) and the
/// quality figures shown beside it.
public struct ProbeFace: Sendable, Equatable {
    /// The 112x112 aligned crop.
    public var crop: RGBImage
    /// The detector's score.
    public var detectionScore: Float
    /// Quality measures by name (for example `interOcularDistance`, `sharpness`).
    public var quality: [String: Float]

    /// A probe face from its parts.
    public init(crop: RGBImage, detectionScore: Float, quality: [String: Float]) {
        self.crop = crop
        self.detectionScore = detectionScore
        self.quality = quality
    }
}

/// A search to record: the audited facts and what the reviewer will see.
public struct SearchRecord: Sendable {
    /// The gallery searched.
    public var gallery: GalleryRecord
    /// The checked purpose and case reference.
    public var justification: SearchJustification
    /// SHA-256 of the probe image bytes, lower-case hex.
    public var probeSHA256: String
    /// The threshold the search applied.
    public var threshold: Float
    /// The engine whose scores the candidates carry (``GallerySearchService/fusion`` for the fused one).
    public var engine: String = "sface"
    /// Whether a higher score is more alike (false for a distance engine such as dlib).
    public var higherIsMoreAlike = true
    /// The request's parameters, for the audit entry.
    public var parameters: [String: JSONValue]
    /// The candidates, best first, ranks 1, 2, 3, …
    public var candidates: [SearchCandidate]
    /// The probe faces to keep for the reviewer (the searched face, usually one). Kept only for
    /// galleries that need review.
    public var probeFaces: [ProbeFace]

    /// Describes a search.
    public init(
        gallery: GalleryRecord, justification: SearchJustification, probeSHA256: String, threshold: Float,
        parameters: [String: JSONValue] = [:], candidates: [SearchCandidate], probeFaces: [ProbeFace],
        engine: String = "sface", higherIsMoreAlike: Bool = true
    ) {
        self.engine = engine
        self.higherIsMoreAlike = higherIsMoreAlike
        self.gallery = gallery
        self.justification = justification
        self.probeSHA256 = probeSHA256
        self.threshold = threshold
        self.parameters = parameters
        self.candidates = candidates
        self.probeFaces = probeFaces
    }
}

/// What ``ReviewLedger/recordSearch(_:by:)`` wrote.
public struct RecordedSearch: Sendable, Hashable {
    /// The sequence number of the search's audit entry.
    public let auditSequence: Int64
    /// The case awaiting review, or nil when the gallery's purpose needs no review.
    public let reviewCase: ReviewCase?
}

/// A reviewer's decision on one candidate. Built only from stored rows.
public struct ReviewDecision: Sendable, Hashable, Encodable, Identifiable {
    /// A decision's identifier.
    public struct ID: StoredIdentifier {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        public var description: String { "review decision \(rawValue)" }
    }

    /// The decision's identifier: the sequence number of its audit entry (so never reused).
    public let id: ID
    /// The case.
    public let caseID: ReviewCase.ID
    /// The candidate decided on.
    public let subjectID: SubjectRecord.ID
    /// The verdict.
    public let verdict: ReviewVerdict
    /// The reviewer's note.
    public let note: String
    /// Who decided.
    public let reviewer: ReviewActor
    /// The sequence number of the decision's audit entry.
    public let auditSequence: Int64
    /// When (millisecond precision).
    public let decidedAt: Date
}

/// A candidate of a case with its decision, if any. Built only from stored rows.
public struct ReviewCandidate: Sendable, Hashable, Encodable {
    /// 1 for the best.
    public let rank: Int
    /// The candidate subject.
    public let subjectID: SubjectRecord.ID
    /// Its external reference.
    public let subjectReference: String
    /// Cosine similarity to the probe.
    public let score: Float
    /// The subject's best-scoring template (whose crop is shown).
    public let templateID: TemplateRecord.ID
    /// The decision, or nil while the candidate awaits review.
    public let decision: ReviewDecision?
}

/// A candidate a reviewer confirmed: the only form in which the review API reports an
/// identification. It cannot be built outside this module; get it from
/// ``ReviewCase/identifications``.
public struct ConfirmedIdentification: Sendable, Hashable, Encodable {
    /// The candidate.
    public let candidate: ReviewCandidate
    /// The `confirmed` decision.
    public let decision: ReviewDecision

    fileprivate init(candidate: ReviewCandidate, decision: ReviewDecision) {
        self.candidate = candidate
        self.decision = decision
    }
}

/// A probe face's figures (its crop is read separately, by ``ReviewLedger/probeCrop(of:face:for:)``).
public struct ProbeFaceSummary: Sendable, Hashable, Encodable {
    /// 0-based.
    public let faceIndex: Int
    /// The detector's score.
    public let detectionScore: Float
    /// Quality measures by name.
    public let quality: [String: Float]
}

/// One search of a gallery that needs review: its candidates, their decisions and the probe
/// faces. Built only from stored rows (``ReviewLedger``), so its status and identifications are
/// always what the store holds. Encodable but deliberately not Decodable (nor are its parts):
/// no caller can fabricate a case, a decision or a confirmed identification.
public struct ReviewCase: Sendable, Hashable, Encodable, Identifiable {
    /// A case's identifier.
    public struct ID: StoredIdentifier {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        public var description: String { "review case \(rawValue)" }
    }

    /// The case's identifier: the sequence number of its search's audit entry (so never reused,
    /// and equal to ``searchSequence``).
    public let id: ID
    /// The sequence number of the search's audit entry.
    public let searchSequence: Int64
    /// The gallery searched.
    public let galleryID: GalleryRecord.ID
    /// Its name.
    public let galleryName: String
    /// The search's purpose and case reference.
    public let justification: SearchJustification
    /// SHA-256 of the probe image.
    public let probeSHA256: String
    /// The threshold the search applied.
    public let threshold: Float
    /// The engine whose scores the candidates carry.
    public let engine: String
    /// Whether a higher score is more alike (false for a distance engine): a candidate is above
    /// the threshold in the engine's sense when ``isBeyondThreshold(_:)``.
    public let higherIsMoreAlike: Bool
    /// Who searched.
    public let searcher: ReviewActor
    /// When the search was recorded (millisecond precision).
    public let openedAt: Date
    /// The candidates still held, best first (an erased subject's candidate row is erased with it).
    public let candidates: [ReviewCandidate]
    /// The probe faces kept for review.
    public let probeFaces: [ProbeFaceSummary]

    /// Whether a score meets the case's threshold in its engine's direction.
    public func meetsThreshold(_ score: Float) -> Bool {
        higherIsMoreAlike ? score >= threshold : score < threshold
    }

    /// Awaiting review while any candidate is undecided.
    public var status: ReviewStatus {
        if candidates.isEmpty { return .noCandidates }
        return candidates.allSatisfy { $0.decision != nil } ? .reviewed : .awaitingReview
    }

    /// The decisions made so far, in the order they were made.
    public var decisions: [ReviewDecision] {
        candidates.compactMap(\.decision).sorted { $0.id < $1.id }
    }

    /// The candidates a reviewer confirmed, best first: the case's only identifications. An
    /// unreviewed, rejected or inconclusive candidate is never one, whatever its score.
    public var identifications: [ConfirmedIdentification] {
        candidates.compactMap { candidate in
            guard let decision = candidate.decision, decision.verdict == .confirmed else { return nil }
            return ConfirmedIdentification(candidate: candidate, decision: decision)
        }
    }

    /// The candidate for `subject`, if the case holds it.
    public func candidate(_ subject: SubjectRecord.ID) -> ReviewCandidate? {
        candidates.first { $0.subjectID == subject }
    }

    // Encoded with its derived status so API responses need not recompute it.
    private enum CodingKeys: String, CodingKey {
        case id, searchSequence, galleryID, galleryName, justification, probeSHA256, threshold, searcher, openedAt,
            candidates, probeFaces, status
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(searchSequence, forKey: .searchSequence)
        try container.encode(galleryID, forKey: .galleryID)
        try container.encode(galleryName, forKey: .galleryName)
        try container.encode(justification, forKey: .justification)
        try container.encode(probeSHA256, forKey: .probeSHA256)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(searcher, forKey: .searcher)
        try container.encode(openedAt, forKey: .openedAt)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(probeFaces, forKey: .probeFaces)
        try container.encode(status, forKey: .status)
    }
}

/// A case in the review queue.
public struct ReviewQueueEntry: Sendable, Hashable, Encodable {
    /// The case.
    public let caseID: ReviewCase.ID
    /// The sequence number of the search's audit entry.
    public let searchSequence: Int64
    /// The gallery searched.
    public let galleryID: GalleryRecord.ID
    /// Its name.
    public let galleryName: String
    /// The search's purpose.
    public let purpose: String
    /// The search's case reference.
    public let caseReference: String
    /// The threshold the search applied.
    public let threshold: Float
    /// When the search was recorded.
    public let openedAt: Date
    /// Candidates held.
    public let candidateCount: Int
    /// Candidates decided.
    public let decisionCount: Int
}
