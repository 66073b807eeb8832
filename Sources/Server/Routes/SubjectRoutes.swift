import Gallery
import Hummingbird
import Installation
import Operations

/// `/v1/galleries/{gallery}/subjects`: enrol (multipart or base64 JSON), list with paging, read,
/// add images, erase.
struct SubjectRoutes {
    let operations: MatcherOperations
    /// Enrolment and added images accept `Idempotency-Key`.
    let idempotent: IdempotentRequests

    /// Subjects per page when the request does not say.
    static let defaultPageSize = 100

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("galleries/{gallery}/subjects", use: list)
        group.post("galleries/{gallery}/subjects", use: enrol)
        group.get("galleries/{gallery}/subjects/{reference}", use: get)
        group.delete("galleries/{gallery}/subjects/{reference}", use: erase)
        group.post("galleries/{gallery}/subjects/{reference}/images", use: addImages)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> SubjectPageBody {
        try request.requireOnlyQuery(["after", "limit"])
        let after = try request.integerQuery("after").map { SubjectRecord.ID(Int64($0)) }
        let page = try await operations.subjects(
            in: try context.pathParameter("gallery"), after: after,
            limit: try request.integerQuery("limit") ?? Self.defaultPageSize, by: try context.caller())
        return SubjectPageBody(
            subjects: page.subjects.map { SubjectBody($0, templates: nil) }, nextCursor: page.nextCursor?.rawValue)
    }

    @Sendable func enrol(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let key = try IdempotentRequests.key(of: request, context: context)
        let input = try await FormInput.read(request, context: context)
        try input.requireOnly(["reference", "attributes", "retainUntil", "images"])
        let images = try input.images("images")
        let enrolment = EnrolmentRequest(
            gallery: gallery, reference: try input.requiredString("reference"),
            attributes: try input.stringMap("attributes"), retainUntil: try input.date("retainUntil"), images: images)
        let content = [
            "reference": enrolment.reference,
            "attributes": enrolment.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n"),
            "retainUntil": enrolment.retainUntil.map { "\($0.timeIntervalSince1970)" } ?? "",
            "images": images.map { FileDigest.sha256(of: $0) }.joined(separator: ","),
        ]
        return try await idempotent.run(request, key: key, content: content) { claim in
            let outcome = claim?.record { context in
                guard case .subjectEnrolled(let enrolled)? = context.change else {
                    throw RequestError.invalidField(pointer: "/reference", reason: "no enrolment to store")
                }
                return try Self.enrolled(enrolled, gallery: gallery)
            }
            return try Self.enrolled(try await operations.enrol(enrolment, by: caller, outcome: outcome), gallery: gallery)
        }
    }

    static func enrolled(_ enrolled: EnrolledSubject, gallery: String) throws -> IdempotencyRecords.StoredResponse {
        try IdempotentRequests.json(
            SubjectBody(enrolled.subject, templates: enrolled.templates), status: .created,
            location: ResourcePath.subject(enrolled.subject.externalReference, in: gallery))
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> SubjectBody {
        let enrolled = try await operations.subject(
            try context.pathParameter("reference"), in: try context.pathParameter("gallery"), by: try context.caller())
        return SubjectBody(enrolled.subject, templates: enrolled.templates)
    }

    @Sendable func erase(_ request: Request, context: APIRequestContext) async throws -> SubjectErasureBody {
        try request.requireOnlyQuery(["reason"])
        let reason = request.uri.queryParameters["reason"].map(String.init) ?? "erasure requested"
        let erasure = try await operations.eraseSubject(
            try context.pathParameter("reference"), in: try context.pathParameter("gallery"), reason: reason,
            by: try context.caller())
        return SubjectErasureBody(
            reference: erasure.subject.externalReference, subjectID: erasure.subject.id.rawValue,
            templatesErased: erasure.templateIDs.count)
    }

    @Sendable func addImages(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let reference = try context.pathParameter("reference")
        let key = try IdempotentRequests.key(of: request, context: context)
        let input = try await FormInput.read(request, context: context)
        try input.requireOnly(["images"])
        let images = try input.images("images")
        let content = ["images": images.map { FileDigest.sha256(of: $0) }.joined(separator: ",")]
        return try await idempotent.run(request, key: key, content: content) { claim in
            let outcome = claim?.record { context in
                guard case .templatesAdded(_, let templates)? = context.change else {
                    throw RequestError.invalidField(pointer: "/images", reason: "no added images to store")
                }
                return try Self.added(templates, reference: reference, gallery: gallery)
            }
            let templates = try await operations.addImages(
                gallery: gallery, reference: reference, images: images, by: caller, outcome: outcome)
            return try Self.added(templates, reference: reference, gallery: gallery)
        }
    }

    static func added(
        _ templates: [TemplateRecord], reference: String, gallery: String
    ) throws -> IdempotencyRecords.StoredResponse {
        try IdempotentRequests.json(
            TemplatesAddedBody(reference: reference, templates: templates.map(TemplateBody.init)), status: .created,
            location: ResourcePath.subject(reference, in: gallery))
    }
}
