import FaceEngine
import Foundation
import Gallery
import Governance
import Hummingbird
import Identification
import Imaging
import NIOCore
import Operations
import Testing
@testable import Server

@Suite struct ProblemMappingTests {
    struct Internal: Error, CustomStringConvertible {
        var description: String { "SQLITE_IOERR at /var/lib/biomatch/secret.sqlite" }
    }

    @Test func everyDomainErrorMapsToItsStatus() {
        let cases: [(any Error, Int)] = [
            (GovernanceError.unauthenticated(.revokedKey(APIKey.ID(3))), 401),
            (GovernanceError.forbidden(.role(.searcher, .enrol("custody"))), 403),
            (GovernanceError.forbidden(.gallery("custody", key: APIKey.ID(2))), 403),
            (GovernanceError.unknownPurpose("", allowed: ["a"]), 400),
            (GovernanceError.purposeNotForGallery("a", galleryPurpose: .custody), 400),
            (GovernanceError.invalidCaseReference(reason: "required"), 400),
            (GovernanceError.unknownKey(APIKey.ID(9)), 404),
            (GovernanceError.keyAlreadyRevoked(APIKey.ID(9)), 409),
            (GovernanceError.invalidAuditEvent(reason: "x"), 500),
            (IdentificationError.refused(.image(index: 0, reason: .noFace)), 422),
            (IdentificationError.refused(.duplicateReference("P-1")), 409),
            (IdentificationError.refused(.noImages), 400),
            (IdentificationError.unknownGallery("x"), 404),
            (IdentificationError.noFaceInProbe, 422),
            (IdentificationError.invalidInput(field: "k", reason: "must be positive"), 400),
            (GalleryError.unknownExternalReference("P", gallery: GalleryRecord.ID(1)), 404),
            (GalleryError.duplicateGalleryName("g"), 409),
            (GalleryError.storageFailure(operation: "enrol", underlying: Internal()), 500),
            (GalleryError.unavailable(retryAfterSeconds: 2, reason: "no primary among /tmp/a: cannot connect"), 503),
            (GalleryError.outcomeUnknown(operation: "enrolling a subject", retryAfterSeconds: 1), 503),
            (OperationError.governance(.store(.unavailable(retryAfterSeconds: 1, reason: "x"))), 503),
            (OperationError.overloaded(retryAfterSeconds: 1), 503),
            (OperationError.unknownJob("job-x"), 404),
            (IdentificationError.engineNotReady(engine: "dlib", gallery: "g", job: "job-x"), 409),
            (ProblemDetails(.idempotencyKeyReused), 422),
            (ProblemDetails(.requestInProgress), 409),
            (GalleryError.companionRecordFailed(table: "audit_log", underlying: GovernanceError.invalidCaseReference(reason: "r")), 400),
            (ImageDecodingError.empty, 400),
            (ImageDecodingError.truncated(format: .jpeg), 422),
            (ImageDecodingError.tooManyPixels(width: 10_000, height: 10_000, limit: 50_000_000), 422),
            (ImageDecodingError.tooLarge(bytes: 10, limit: 5), 413),
            (FaceEngineError.decoding(.unsupportedFormat(signature: "text")), 422),
            (FaceEngineError.runtime(.runtime(operation: "Run", code: 6, message: "bad alloc")), 500),
            (OperationError.governance(.forbidden(.role(.auditor, .detect))), 403),
            (OperationError.identification(.engine(.decoding(.corrupt(format: .png, reason: "bad CRC")))), 422),
            (OperationError.invalidRequest(field: "limit", reason: "too big"), 400),
            (OperationError.noFaceInImage(field: "second image"), 422),
            (OperationError.noSuchFace(index: 3, faceCount: 1), 422),
            (RequestError.unsupportedMediaType(received: "text/plain", accepted: ["application/json"]), 415),
            (RequestError.bodyTooLarge(limit: 1), 413),
            (RequestError.rateLimited(retryAfterSeconds: 2), 429),
            (RequestError.methodNotAllowed(method: "PATCH", allowed: ["GET"]), 405),
            (RequestError.missingPrincipal, 500),
            (HTTPError(.notFound), 404),
            (HTTPError(.contentTooLarge), 413),
            (NIOTooManyBytesError(maxBytes: 10), 413),
            (Internal(), 500),
        ]
        for (error, status) in cases {
            let problem = ProblemMapping.problem(for: error)
            #expect(problem.status == status, "\(error)")
            #expect(ProblemType.allCases.contains { $0.uri == problem.type && Int($0.status.code) == status }, "\(error)")
        }
    }

    @Test func serverFaultsSayNothingOfTheirCause() throws {
        let faults: [any Error] = [
            Internal(), GalleryError.storageFailure(operation: "enrol", underlying: Internal()),
            IdentificationError.store(.storageFailure(operation: "read", underlying: Internal())),
            FaceEngineError.modelMissing(model: .sface, path: "/secret/models/sface.onnx"),
            GovernanceError.malformedRow(table: "api_keys", reason: "secret_sha256 is not hex"),
        ]
        for fault in faults {
            let problem = ProblemMapping.problem(for: fault)
            #expect(problem.detail == ProblemMapping.internalDetail)
            #expect(problem.errors == nil)
            let body = String(decoding: try JSONEncoder().encode(problem), as: UTF8.self)
            #expect(!body.contains("secret") && !body.contains("SQLITE"))
        }
    }

    @Test func challengesAndRetryHintsTravelAsHeaders() {
        let missing = ProblemMapping.problem(for: GovernanceError.unauthenticated(.missingKey)).response()
        #expect(missing.headers[.wwwAuthenticate] == #"Bearer realm="biomatch""#)
        #expect(missing.headers[.contentType] == "application/problem+json")
        let limited = ProblemMapping.problem(for: RequestError.rateLimited(retryAfterSeconds: 7)).response()
        #expect(limited.status == .tooManyRequests)
        #expect(limited.headers[.retryAfter] == "7")
        let method = ProblemMapping.problem(for: RequestError.methodNotAllowed(method: "PUT", allowed: ["GET", "POST"])).response()
        #expect(method.headers[.allow] == "GET, POST")
        let unavailable = ProblemMapping.problem(
            for: GalleryError.unavailable(retryAfterSeconds: 3, reason: "no primary among db1:5432: cannot connect")).response()
        #expect(unavailable.status == .serviceUnavailable)
        #expect(unavailable.headers[.retryAfter] == "3")
        let overloaded = ProblemMapping.problem(for: OperationError.overloaded(retryAfterSeconds: 4)).response()
        #expect(overloaded.status == .serviceUnavailable && overloaded.headers[.retryAfter] == "4")
        let unknown = ProblemMapping.problem(for: GalleryError.outcomeUnknown(operation: "enrolling", retryAfterSeconds: 2))
        #expect(unknown.type == ProblemType.outcomeUnknown.uri && unknown.headers[.retryAfter] == "2")
        #expect(!(unknown.detail ?? "").contains("enrolling") && !(ProblemMapping.problem(
            for: GalleryError.unavailable(retryAfterSeconds: 3, reason: "db1")).detail ?? "").contains("db1"),
            "host names and operations stay in the log")
    }
}
