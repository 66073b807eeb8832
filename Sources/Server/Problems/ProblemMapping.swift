import FaceEngine
import Gallery
import Governance
import Hummingbird
import Identification
import Imaging
import NIOCore
import Operations
import Review

/// The one place that decides what every error means to a caller: its problem type, status and
/// the detail shown. Errors that are the server's fault become ``ProblemType/internalError``
/// with a fixed detail, so nothing of the server's internals (paths, SQL, library messages)
/// reaches the caller; the server logs the real error instead.
public enum ProblemMapping {
    /// The detail every internal error carries.
    public static let internalDetail = "The server could not complete the request. The request identifier locates it in the server's log."

    /// The problem to answer `error` with.
    public static func problem(for error: any Error) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails: problem
        case let error as RequestError: problem(for: error)
        case let error as OperationError: problem(for: error)
        case let error as ReviewError: problem(for: error)
        case let error as GovernanceError: problem(for: error)
        case let error as IdentificationError: problem(for: error)
        case let error as GalleryError: problem(for: error)
        case let error as FaceEngineError: problem(for: error)
        case let error as ImageDecodingError: problem(for: error)
        case is NIOTooManyBytesError: ProblemDetails(.bodyTooLarge, detail: "The request body is larger than the server accepts.")
        case let error as HTTPError: problem(for: error)
        default: internalProblem
        }
    }

    /// Whether the problem is the server's fault, so the underlying error must be logged.
    public static func isServerFault(_ problem: ProblemDetails) -> Bool { problem.status >= 500 }

    static var internalProblem: ProblemDetails { ProblemDetails(.internalError, detail: internalDetail) }

    static func problem(for error: OperationError) -> ProblemDetails {
        switch error {
        case .governance(let governanceError):
            problem(for: governanceError)
        case .identification(let identificationError):
            problem(for: identificationError)
        case .invalidRequest(let field, let reason):
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: "/\(field)", detail: reason)])
        case .noFaceInImage(let field):
            ProblemDetails(.unprocessableImage, detail: error.description, errors: [.init(pointer: imagePointer(field), detail: "no face found")])
        case .noSuchFace(let index, let faceCount):
            ProblemDetails(
                .unprocessableImage, detail: error.description,
                errors: [.init(pointer: "/faceIndex", detail: "face \(index) requested; the image holds \(faceCount)")])
        case .review(let reviewError):
            problem(for: reviewError)
        case .misconfigured:
            internalProblem
        case .overloaded(let seconds):
            ProblemDetails(
                .unavailable, detail: "The server is analysing as many images as it can and its queue is full; nothing was done.",
                headers: [.retryAfter: String(seconds)])
        case .unknownJob:
            ProblemDetails(.notFound, detail: error.description)
        case .jobHeldElsewhere:
            ProblemDetails(.conflict, detail: error.description)
        }
    }

    static func problem(for error: ReviewError) -> ProblemDetails {
        switch error {
        case .unknownCase, .candidateNotInCase, .unknownProbeFace, .cropMissing:
            ProblemDetails(.notFound, detail: error.description)
        case .alreadyDecided:
            ProblemDetails(.conflict, detail: error.description)
        case .invalidDecision, .invalidSearch, .invalidPage:
            ProblemDetails(.invalidRequest, detail: error.description)
        case .forbidden:
            ProblemDetails(.forbidden, detail: error.description)
        case .governance(let governanceError):
            problem(for: governanceError)
        case .store(let galleryError):
            problem(for: galleryError)
        case .crop, .invalidConfiguration, .malformedRow:
            internalProblem
        }
    }

    /// The request member an operation's image field name stands for.
    static func imagePointer(_ field: String) -> String {
        switch field {
        case "second image": "/otherImage"
        case "image", "first image": "/image"
        default: "/" + field.replacingOccurrences(of: " ", with: "")
        }
    }

    static func problem(for error: RequestError) -> ProblemDetails {
        switch error {
        case .unsupportedMediaType:
            ProblemDetails(.unsupportedMediaType, detail: error.description)
        case .bodyTooLarge:
            ProblemDetails(.bodyTooLarge, detail: error.description)
        case .emptyBody:
            ProblemDetails(.invalidRequest, detail: error.description)
        case .malformedJSON(let pointer, let reason):
            ProblemDetails(
                .invalidRequest, detail: error.description,
                errors: [.init(pointer: pointer ?? "", detail: reason)])
        case .malformedMultipart:
            ProblemDetails(.invalidRequest, detail: error.description)
        case .invalidField(let pointer, let reason):
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: pointer, detail: reason)])
        case .routeNotFound:
            ProblemDetails(.routeNotFound, detail: error.description)
        case .methodNotAllowed(_, let allowed):
            ProblemDetails(.methodNotAllowed, detail: error.description, headers: [.allow: allowed.joined(separator: ", ")])
        case .rateLimited(let seconds):
            ProblemDetails(.rateLimited, detail: error.description, headers: [.retryAfter: String(seconds)])
        case .missingPrincipal:
            internalProblem
        }
    }

    /// Every 401 carries the same text, whatever the reason, so a caller cannot tell a revoked key
    /// from a mistyped one; `WWW-Authenticate` says how to authenticate (RFC 6750).
    static func problem(for error: GovernanceError) -> ProblemDetails {
        switch error {
        case .unauthenticated(let reason):
            let challenge = reason == .missingKey
                ? #"Bearer realm="biomatch""#
                : #"Bearer realm="biomatch", error="invalid_token""#
            return ProblemDetails(
                .unauthenticated,
                detail: "Present a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
                headers: [.wwwAuthenticate: challenge])
        case .forbidden(let reason):
            return ProblemDetails(.forbidden, detail: forbiddenDetail(reason))
        case .unknownPurpose(let purpose, let allowed):
            let reason = purpose.isEmpty
                ? "a purpose is required; one of: \(allowed.joined(separator: ", "))"
                : "'\(purpose)' is not one of: \(allowed.joined(separator: ", "))"
            return ProblemDetails(.missingJustification, detail: error.description, errors: [.init(pointer: "/purpose", detail: reason)])
        case .purposeNotForGallery:
            return ProblemDetails(.missingJustification, detail: error.description, errors: [.init(pointer: "/purpose", detail: error.description)])
        case .invalidCaseReference(let reason):
            return ProblemDetails(.missingJustification, detail: error.description, errors: [.init(pointer: "/caseReference", detail: reason)])
        case .invalidKeyRequest, .malformedExport, .invalidProofRequest:
            return ProblemDetails(.invalidRequest, detail: error.description)
        case .unknownKey:
            return ProblemDetails(.notFound, detail: error.description)
        case .keyAlreadyRevoked:
            return ProblemDetails(.conflict, detail: error.description)
        case .store(let storeError):
            return problem(for: storeError)
        case .invalidAuditEvent, .malformedRow, .auditTreeInconsistent, .signingKeyUnavailable:
            return internalProblem
        }
    }

    /// Says what the role may not do, or that the gallery is outside the key's scope, without
    /// saying whether the gallery exists.
    static func forbiddenDetail(_ reason: ForbiddenReason) -> String {
        switch reason {
        case .role(let role, let permission): "The \(role.rawValue) role may not \(permission)."
        case .gallery(let gallery, _): "This API key is not scoped to gallery '\(gallery)'."
        }
    }

    static func problem(for error: IdentificationError) -> ProblemDetails {
        switch error {
        case .refused(let refusal):
            switch refusal {
            case .noImages:
                ProblemDetails(.invalidRequest, detail: refusal.description, errors: [.init(pointer: "/images", detail: "at least one image is required")])
            case .image(let index, let reason):
                ProblemDetails(
                    .unprocessableImage, detail: "Enrolment refused: \(refusal.description).",
                    errors: [.init(pointer: "/images/\(index)", detail: reason.description)])
            case .duplicateReference:
                ProblemDetails(.conflict, detail: refusal.description, errors: [.init(pointer: "/reference", detail: refusal.description)])
            }
        case .unknownGallery:
            ProblemDetails(.notFound, detail: error.description)
        case .engineNotReady:
            ProblemDetails(.conflict, detail: error.description, errors: [.init(pointer: "/engine", detail: error.description)])
        case .noFaceInProbe:
            ProblemDetails(.unprocessableImage, detail: "The probe image holds no face.", errors: [.init(pointer: "/image", detail: "no face found")])
        case .invalidInput(let field, let reason):
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: "/\(field)", detail: reason)])
        case .engine(let engineError):
            problem(for: engineError)
        case .store(let storeError):
            problem(for: storeError)
        case .index:
            internalProblem
        }
    }

    static func problem(for error: GalleryError) -> ProblemDetails {
        switch error {
        case .unknownGallery, .unknownGalleryName, .unknownSubject, .unknownExternalReference:
            ProblemDetails(.notFound, detail: error.description)
        case .duplicateGalleryName:
            ProblemDetails(.conflict, detail: error.description, errors: [.init(pointer: "/name", detail: error.description)])
        case .duplicateExternalReference:
            ProblemDetails(.conflict, detail: error.description, errors: [.init(pointer: "/reference", detail: error.description)])
        case .invalidInput(let field, let reason):
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: "/\(field)", detail: reason)])
        case .companionRecordFailed(_, let underlying) where underlying is GovernanceError:
            // A governance check inside the store's transaction refused the change.
            problem(for: underlying)
        case .unavailable(let seconds, _):
            // The reason names hosts; the caller learns only when to come back.
            ProblemDetails(
                .unavailable, detail: "The gallery store has no reachable primary just now; nothing was changed.",
                headers: [.retryAfter: String(seconds)])
        case .outcomeUnknown(_, let seconds):
            ProblemDetails(
                .outcomeUnknown,
                detail: "The database connection failed while the change was committed: it may or may not have been made. "
                    + "Retry with the same Idempotency-Key, or read the resource back.",
                headers: [.retryAfter: String(seconds)])
        case .wrongTemplateDimension, .wrongModelIdentifier, .templateNotNormalised, .unknownSchemaMigrations,
            .companionRecordFailed, .storageFailure:
            internalProblem
        }
    }

    static func problem(for error: FaceEngineError) -> ProblemDetails {
        switch error {
        case .decoding(let decodingError): problem(for: decodingError)
        case .unknownEngine:
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: "/engine", detail: "unknown")])
        case .modelMissing, .unexpectedModel, .unexpectedModelOutput, .runtime, .invalidConfiguration,
            .invalidTemplate, .templateMismatch, .engineFailure:
            internalProblem
        }
    }

    static func problem(for error: ImageDecodingError) -> ProblemDetails {
        switch error {
        case .empty:
            ProblemDetails(.invalidRequest, detail: error.description, errors: [.init(pointer: "/image", detail: "empty")])
        case .tooLarge:
            ProblemDetails(.bodyTooLarge, detail: error.description)
        case .unsupportedFormat, .tooManyPixels, .dimensionTooLarge, .invalidDimensions, .truncated, .corrupt:
            ProblemDetails(.unprocessableImage, detail: error.description)
        case .libraryFailure, .unreadableFile:
            internalProblem
        }
    }

    /// Hummingbird's own errors (an unmatched route, a body over a decoder's limit): the status is
    /// kept, the text replaced by ours.
    static func problem(for error: HTTPError) -> ProblemDetails {
        switch error.status {
        case .notFound: ProblemDetails(.routeNotFound, detail: "No route serves this path.")
        case .methodNotAllowed: ProblemDetails(.methodNotAllowed, detail: "This method is not allowed here.", headers: error.headers)
        case .contentTooLarge: ProblemDetails(.bodyTooLarge, detail: "The request body is larger than the server accepts.")
        case .unsupportedMediaType: ProblemDetails(.unsupportedMediaType, detail: error.body ?? "Unsupported media type.")
        case .unauthorized: ProblemDetails(.unauthenticated, detail: "Authentication required.", headers: [.wwwAuthenticate: #"Bearer realm="biomatch""#])
        case .forbidden: ProblemDetails(.forbidden, detail: error.body)
        case .tooManyRequests: ProblemDetails(.rateLimited, detail: error.body)
        case let status where (400..<500).contains(status.code):
            ProblemDetails(.invalidRequest, detail: error.body)
        default: internalProblem
        }
    }
}
