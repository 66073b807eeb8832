import Gallery
import Governance

/// Why a review or crop operation failed. A failed operation changed nothing. The comment on
/// each case gives the HTTP status it maps to.
public enum ReviewError: Error, CustomStringConvertible {
    /// No case has this identifier (404). Also the answer for a case of an erased gallery.
    case unknownCase(ReviewCase.ID)
    /// The case holds no candidate for this subject, or no longer does because the subject was
    /// erased (404).
    case candidateNotInCase(ReviewCase.ID, subject: SubjectRecord.ID)
    /// The candidate already has a decision; decisions are never replaced (409).
    case alreadyDecided(ReviewDecision)
    /// The verdict or note is unusable (400).
    case invalidDecision(reason: String)
    /// The search to record is inconsistent: ranks, duplicate subjects, missing probe faces (400
    /// from a request, otherwise a caller bug).
    case invalidSearch(reason: String)
    /// A page size or cursor is out of range (400).
    case invalidPage(reason: String)
    /// The caller may not do this (403).
    case forbidden(ForbiddenReason)
    /// The case has no probe face with this index (404).
    case unknownProbeFace(ReviewCase.ID, face: Int)
    /// No crop is stored for this template (404): it was enrolled without one.
    case cropMissing(CropBinding)
    /// A crop could not be sealed or opened (500; ``CropError/tampered(_:)`` is evidence of tampering).
    case crop(CropError)
    /// A review setting in the environment is malformed (startup failure).
    case invalidConfiguration(key: String, reason: String)
    /// A stored review row could not be read (500).
    case malformedRow(table: String, reason: String)
    /// The audit log refused or failed.
    case governance(GovernanceError)
    /// The gallery store failed or refused.
    case store(GalleryError)

    public var description: String {
        switch self {
        case .unknownCase(let id):
            "unknown \(id)"
        case .candidateNotInCase(let id, let subject):
            "\(id) has no candidate for \(subject)"
        case .alreadyDecided(let decision):
            "\(decision.caseID) already has a '\(decision.verdict)' decision on \(decision.subjectID) (\(decision.id)); decisions are never replaced"
        case .invalidDecision(let reason):
            "invalid review decision: \(reason)"
        case .invalidSearch(let reason):
            "invalid search record: \(reason)"
        case .invalidPage(let reason):
            "invalid page: \(reason)"
        case .forbidden(let reason):
            "forbidden: \(reason)"
        case .unknownProbeFace(let id, let face):
            "\(id) has no probe face \(face)"
        case .cropMissing(let binding):
            "no crop is stored for \(binding)"
        case .crop(let error):
            error.description
        case .invalidConfiguration(let key, let reason):
            "invalid \(key): \(reason)"
        case .malformedRow(let table, let reason):
            "malformed row in \(table): \(reason)"
        case .governance(let error):
            error.description
        case .store(let error):
            error.description
        }
    }

    /// The review, crop or governance error a companion record's builder threw inside a store
    /// transaction, or the store error itself.
    static func unwrap(_ error: GalleryError) -> ReviewError {
        if case .companionRecordFailed(_, let underlying) = error {
            switch underlying {
            case let review as ReviewError: return review
            case let crop as CropError: return .crop(crop)
            case let governance as GovernanceError: return .governance(governance)
            default: break
            }
        }
        return .store(error)
    }
}
