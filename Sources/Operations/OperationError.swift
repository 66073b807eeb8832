import Foundation
import FaceEngine
import Gallery
import Governance
import Identification
import Review

/// Why an operation was refused or failed. A refused operation changed nothing: no row, no
/// index entry, no audit entry.
public enum OperationError: Error, CustomStringConvertible {
    /// Authentication, authorisation, purpose or audit failed; see the governance error.
    case governance(GovernanceError)
    /// The identification service refused or failed (unknown gallery, refused enrolment, ...).
    case identification(IdentificationError)
    /// A request field is missing, out of range or malformed.
    case invalidRequest(field: String, reason: String)
    /// The probe image holds no face.
    case noFaceInImage(field: String)
    /// The request named a face the image does not have.
    case noSuchFace(index: Int, faceCount: Int)
    /// The review ledger (cases, decisions, sealed crops) refused or failed.
    case review(ReviewError)
    /// The operations were opened with a component set up wrongly (a programming error).
    case misconfigured(reason: String)
    /// Every analysis slot is taken and the queue for them is full (503 with `Retry-After`):
    /// nothing was done; try again after that many seconds.
    case overloaded(retryAfterSeconds: Int)
    /// No engine job has this identifier (404).
    case unknownJob(String)
    /// Another process holds the job's lease and is running it (409): wait for it, or for the
    /// lease to expire if that process died.
    case jobHeldElsewhere(job: String, holder: String, until: Date)

    public var description: String {
        switch self {
        case .governance(let error): error.description
        case .identification(let error): error.description
        case .invalidRequest(let field, let reason): "invalid \(field): \(reason)"
        case .noFaceInImage(let field): "no face was found in \(field)"
        case .review(let error): error.description
        case .misconfigured(let reason): "misconfigured: \(reason)"
        case .overloaded(let seconds): "the server is analysing as many images as it can; try again in \(seconds) s"
        case .unknownJob(let job): "no engine job is named '\(job)'"
        case .jobHeldElsewhere(let job, let holder, let until):
            "job \(job) is being run by \(holder) (its lease runs until \(until.formatted(.iso8601)))"
        case .noSuchFace(let index, let faceCount):
            "face \(index) was requested but the image holds \(faceCount) face\(faceCount == 1 ? "" : "s") (numbered from 0)"
        }
    }
}
