import Foundation
import Gallery
import Governance
import Hummingbird
import Imaging
import Operations

/// `GET /v1/galleries/{gallery}/subject-access`: everything held about one subject and every
/// audit entry naming them (keys of the subjectAccess role, and admins), for a stated purpose
/// and case reference; the access is itself audited. The one response that carries templates
/// and images: a subject access request covers the data itself.
struct SubjectAccessRoutes {
    let operations: MatcherOperations

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("galleries/{gallery}/subject-access", use: access)
    }

    @Sendable func access(_ request: Request, context: APIRequestContext) async throws -> SubjectAccessBody {
        try request.requireOnlyQuery(["reference", "subjectID", "purpose", "caseReference"])
        let query = request.uri.queryParameters
        let reference = query["reference"].map(String.init)
        let subjectID = try request.integerQuery("subjectID")
        let selector: SubjectSelector
        switch (reference, subjectID) {
        case (let reference?, nil) where !reference.isEmpty: selector = .reference(reference)
        case (nil, let id?): selector = .id(SubjectRecord.ID(Int64(id)))
        default:
            throw RequestError.invalidField(pointer: "#reference", reason: "give exactly one of reference and subjectID")
        }
        let disclosure = try await operations.accessSubject(
            SubjectAccessRequest(
                gallery: try context.pathParameter("gallery"), subject: selector,
                justification: StatedJustification(
                    purpose: query["purpose"].map(String.init), caseReference: query["caseReference"].map(String.init))),
            by: try context.caller())
        return try SubjectAccessBody(disclosure)
    }
}

/// `SubjectAccess`.
struct SubjectAccessBody: APIResponseBody {
    struct Record: Encodable {
        var reference: String
        var attributes: [String: String]
        var createdAt: Date
        var updatedAt: Date
        var retainUntil: Date?

        private enum CodingKeys: String, CodingKey { case reference, attributes, createdAt, updatedAt, retainUntil }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(reference, forKey: .reference)
            try container.encode(attributes, forKey: .attributes)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(updatedAt, forKey: .updatedAt)
            try container.encode(retainUntil, forKey: .retainUntil)
        }
    }

    struct EncodedBytes: Encodable {
        var mediaType: String
        var base64: String
    }

    struct Vector: Encodable {
        var encoding = "float32-le"
        var dimension: Int
        var base64: String
    }

    struct Template: Encodable {
        var templateID: Int64
        var engine: String?
        var templateModel: String
        var enrolledAt: Date
        var capturedAt: Date
        var sourceImageSHA256: String
        var quality: TemplateQuality
        var vector: Vector
        var crop: EncodedBytes?
        var cropProblem: String?

        private enum CodingKeys: String, CodingKey {
            case templateID, engine, templateModel, enrolledAt, capturedAt, sourceImageSHA256, quality, vector, crop, cropProblem
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(templateID, forKey: .templateID)
            try container.encode(engine, forKey: .engine)
            try container.encode(templateModel, forKey: .templateModel)
            try container.encode(enrolledAt, forKey: .enrolledAt)
            try container.encode(capturedAt, forKey: .capturedAt)
            try container.encode(sourceImageSHA256, forKey: .sourceImageSHA256)
            try container.encode(quality, forKey: .quality)
            try container.encode(vector, forKey: .vector)
            try container.encode(crop, forKey: .crop)
            try container.encode(cropProblem, forKey: .cropProblem)
        }
    }

    struct Image: Encodable {
        var imageID: Int64
        var sha256: String
        var mediaType: String
        var base64: String
        var face: JSON
    }

    struct Entry: Encodable {
        var relation: String
        var position: Int64
        var leafIndex: Int64
        var inclusionProof: [String]?
        var exportLine: String
        var entry: AuditEntryBody

        private enum CodingKeys: String, CodingKey { case relation, position, leafIndex, inclusionProof, exportLine, entry }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(relation, forKey: .relation)
            try container.encode(position, forKey: .position)
            try container.encode(leafIndex, forKey: .leafIndex)
            try container.encode(inclusionProof, forKey: .inclusionProof)
            try container.encode(exportLine, forKey: .exportLine)
            try container.encode(entry, forKey: .entry)
        }
    }

    struct Checkpoint: Encodable {
        var treeSize: Int64
        var rootHash: String
        var signedNote: String
    }

    var gallery: String
    var galleryID: Int64?
    var subjectID: Int64
    var status: String
    var erasedBy: String?
    var subject: Record?
    var templates: [Template]
    var images: [Image]
    var imagesProblem: String?
    var auditEntries: [Entry]
    var checkpoint: Checkpoint?
    var purpose: String
    var caseReference: String
    var accessSequence: Int64

    init(_ disclosure: SubjectDisclosure) throws {
        gallery = disclosure.galleryName
        galleryID = disclosure.gallery?.id.rawValue
        subjectID = disclosure.subjectID.rawValue
        status = disclosure.subject == nil ? "erased" : "enrolled"
        erasedBy = disclosure.erasure?.relation.rawValue
        subject = disclosure.subject.map {
            Record(
                reference: $0.externalReference, attributes: $0.attributes, createdAt: $0.createdAt, updatedAt: $0.updatedAt,
                retainUntil: $0.retainUntil)
        }
        templates = try disclosure.templates.map { held in
            Template(
                templateID: held.template.id.rawValue, engine: held.engine, templateModel: held.template.modelIdentifier,
                enrolledAt: held.template.enrolledAt, capturedAt: held.template.capturedAt,
                sourceImageSHA256: held.template.sourceImageSHA256, quality: held.template.quality,
                vector: Vector(dimension: held.template.vector.count, base64: Self.littleEndian(held.template.vector)),
                crop: try held.crop.map { EncodedBytes(mediaType: "image/png", base64: Data(try $0.pngData()).base64EncodedString()) },
                cropProblem: held.cropProblem)
        }
        images = disclosure.images.map { kept in
            Image(
                imageID: kept.id, sha256: kept.image.sha256,
                mediaType: ImageFormat.sniff(kept.image.bytes)?.mediaType ?? "application/octet-stream",
                base64: Data(kept.image.bytes).base64EncodedString(), face: JSON(parsing: kept.image.face) ?? .null)
        }
        imagesProblem = disclosure.imagesProblem
        auditEntries = disclosure.auditEntries.map { found in
            Entry(
                relation: found.relation.rawValue, position: found.position, leafIndex: found.leafIndex,
                inclusionProof: found.inclusionProof.map { $0.map { $0.base64EncodedString() } },
                exportLine: AuditExport.line(for: found.entry), entry: AuditEntryBody(found.entry))
        }
        checkpoint = disclosure.checkpoint.map {
            Checkpoint(
                treeSize: $0.checkpoint.size, rootHash: $0.checkpoint.rootHash.base64EncodedString(), signedNote: $0.note)
        }
        purpose = disclosure.justification.purpose
        caseReference = disclosure.justification.caseReference
        accessSequence = disclosure.accessSequence
    }

    /// The vector's float32 values, little-endian, in base64.
    static func littleEndian(_ vector: [Float]) -> String {
        var bytes = Data(capacity: vector.count * 4)
        for value in vector {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes.base64EncodedString()
    }

    private enum CodingKeys: String, CodingKey {
        case gallery, galleryID, subjectID, status, erasedBy, subject, templates, images, imagesProblem, auditEntries, checkpoint
        case purpose
        case caseReference, accessSequence
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gallery, forKey: .gallery)
        try container.encode(galleryID, forKey: .galleryID)
        try container.encode(subjectID, forKey: .subjectID)
        try container.encode(status, forKey: .status)
        try container.encode(erasedBy, forKey: .erasedBy)
        try container.encode(subject, forKey: .subject)
        try container.encode(templates, forKey: .templates)
        try container.encode(images, forKey: .images)
        try container.encode(imagesProblem, forKey: .imagesProblem)
        try container.encode(auditEntries, forKey: .auditEntries)
        try container.encode(checkpoint, forKey: .checkpoint)
        try container.encode(purpose, forKey: .purpose)
        try container.encode(caseReference, forKey: .caseReference)
        try container.encode(accessSequence, forKey: .accessSequence)
    }
}

// MARK: - OpenAPI

extension OpenAPIDocument {
    /// The subject access operation.
    static func subjectAccessEndpoints() -> [Endpoint] {
        func query(_ name: String, _ schema: JSON, _ description: String, required: Bool = false) -> JSON {
            ["name": .string(name), "in": "query", "required": .bool(required), "schema": schema, "description": .string(description)]
        }
        return [
            Endpoint(
                method: "GET", path: "/v1/galleries/{gallery}/subject-access", operationID: "subjectAccess",
                summary: "Everything held about one subject (record, templates with their vectors and face crops, the "
                    + "enrolment images as supplied) and every audit entry naming them, each with its leaf index and "
                    + "inclusion proof to the latest checkpoint (subjectAccess role, admin). Give reference, or subjectID "
                    + "(which still finds the audit entries of an erased subject). Requires purpose and caseReference; the "
                    + "access is audited (subjectAccessed) before the answer is sent.",
                tag: "subjects",
                parameters: [
                    galleryParameter,
                    query("reference", ["type": "string"], "The subject's external reference (an enrolled subject)."),
                    query("subjectID", ["type": "integer"], "The subject's identifier, as audit entries name it."),
                    query(
                        "purpose", ["type": "string"],
                        "Why: one of the access purposes (BIOMATCH_ACCESS_PURPOSES; default subject-access-request, "
                            + "regulator-inspection, complaint-investigation).", required: true),
                    query("caseReference", ["type": "string"], "The request's reference (1-200 characters).", required: true),
                ],
                responses: withErrors(
                    ["200": json(ref("SubjectAccess"), description: "What is held and what the audit log says.")],
                    ["404": "NotFound"])),
        ]
    }

    /// The subject access schemas.
    static func subjectAccessSchemas() -> [String: JSON] {
        let encodedBytes = object(
            ["mediaType": string(), "base64": ["type": "string", "contentEncoding": "base64"]], required: ["mediaType", "base64"])
        let nullableBytes = nullableObject(encodedBytes, description: "The aligned face crop as PNG, or null when none is stored.")
        let template = object(
            [
                "templateID": integer(), "engine": nullable("string"), "templateModel": string(),
                "enrolledAt": string(format: "date-time"), "capturedAt": string(format: "date-time"),
                "sourceImageSHA256": string(),
                "quality": object(
                    ["detectionScore": number(), "measures": map(number())], required: ["detectionScore", "measures"]),
                "vector": object(
                    [
                        "encoding": string("IEEE 754 float32 values, little-endian.", values: ["float32-le"]),
                        "dimension": integer(), "base64": ["type": "string", "contentEncoding": "base64"],
                    ], required: ["encoding", "dimension", "base64"]),
                "crop": nullableBytes, "cropProblem": nullable("string"),
            ],
            required: [
                "templateID", "engine", "templateModel", "enrolledAt", "capturedAt", "sourceImageSHA256", "quality", "vector",
                "crop", "cropProblem",
            ])
        let image = object(
            [
                "imageID": integer(), "sha256": string(), "mediaType": string(),
                "base64": ["type": "string", "contentEncoding": "base64", "description": "The image exactly as supplied."],
                "face": ["description": "The face enrolment found in it, as the enrolling component recorded it."],
            ], required: ["imageID", "sha256", "mediaType", "base64", "face"])
        let record = object(
            [
                "reference": string(), "attributes": map(string()), "createdAt": string(format: "date-time"),
                "updatedAt": string(format: "date-time"), "retainUntil": nullable("string", format: "date-time"),
            ], required: ["reference", "attributes", "createdAt", "updatedAt", "retainUntil"])
        let entry = object(
            [
                "relation": string(
                    "How the entry concerns the subject.", values: SubjectAuditRelation.allCases.map(\.rawValue)),
                "position": integer("The entry's position in the log, from 1."),
                "leafIndex": integer("Its leaf in the log's Merkle tree: position - 1."),
                "inclusionProof": [
                    "type": ["array", "null"], "items": ["type": "string", "contentEncoding": "base64"],
                    "description": "The audit path to the checkpoint's root (RFC 9162), or null when no checkpoint covers the entry yet.",
                ],
                "exportLine": string(
                    "The entry's export line exactly (docs/audit-log.md): its leaf hash is SHA-256(0x00 || these UTF-8 bytes)."),
                "entry": ref("AuditEntry"),
            ], required: ["relation", "position", "leafIndex", "inclusionProof", "exportLine", "entry"])
        let checkpoint = object(
            [
                "treeSize": integer(), "rootHash": ["type": "string", "contentEncoding": "base64"],
                "signedNote": string("The checkpoint as a signed note (C2SP tlog-checkpoint)."),
            ], required: ["treeSize", "rootHash", "signedNote"])
        return [
            "SubjectAccess": object(
                [
                    "gallery": string(), "galleryID": nullable("integer"), "subjectID": integer(),
                    "status": string(values: ["enrolled", "erased"]),
                    "erasedBy": [
                        "type": ["string", "null"], "enum": ["erasedOnRequest", "erasedByRetention", "galleryErased", nil],
                    ],
                    "subject": nullableObject(record, description: "The subject's record, or null once erased."),
                    "templates": array(template), "images": array(image),
                    "imagesProblem": [
                        "type": ["string", "null"],
                        "description": "Why the kept images could not be opened (sealed under another key, or altered), or null.",
                    ],
                    "auditEntries": array(entry),
                    "checkpoint": nullableObject(
                        checkpoint, description: "The checkpoint the inclusion proofs lead to, or null until the log has one."),
                    "purpose": string(), "caseReference": string(),
                    "accessSequence": integer("The audit entry that records this access."),
                ],
                required: [
                    "gallery", "galleryID", "subjectID", "status", "erasedBy", "subject", "templates", "images",
                    "imagesProblem", "auditEntries", "checkpoint", "purpose", "caseReference", "accessSequence",
                ]),
        ]
    }
}
