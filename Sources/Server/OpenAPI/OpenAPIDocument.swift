import FaceEngine
import Gallery
import Governance

/// The OpenAPI 3.1 description of the API, served at `GET /openapi.json`.
///
/// Every route of the router appears here with every status it can answer; every error is an
/// RFC 9457 problem (`#/components/schemas/Problem`). The server's tests check real responses
/// against these schemas, and that the router and this document list the same routes.
public enum OpenAPIDocument {
    /// One operation: a method on a path.
    struct Endpoint {
        var method: String
        var path: String
        var operationID: String
        var summary: String
        var tag: String
        var isPublic = false
        var parameters: [JSON] = []
        var requestBody: JSON?
        var responses: [String: JSON]
    }

    /// The document for a server of this version.
    /// `engines` are the identifiers of the recognition engines installed (galleries may name
    /// them; searches may name a gallery's, or `fusion`).
    public static func document(version: String, purposes: [String], engines: [String] = ["sface"]) -> JSON {
        var paths: [String: JSON] = [:]
        for endpoint in endpoints(purposes: purposes) {
            var operation: [String: JSON] = [
                "operationId": .string(endpoint.operationID), "summary": .string(endpoint.summary),
                "tags": [.string(endpoint.tag)], "responses": .object(endpoint.responses),
            ]
            if !endpoint.parameters.isEmpty { operation["parameters"] = .array(endpoint.parameters) }
            if let body = endpoint.requestBody { operation["requestBody"] = body }
            if endpoint.isPublic { operation["security"] = [] }
            var item = paths[endpoint.path]?.objectValue ?? [:]
            item[endpoint.method.lowercased()] = .object(operation)
            paths[endpoint.path] = .object(item)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "BioMatch matcher API",
                "version": .string(version),
                "description": .string(
                    "Face enrolment, 1:N search and 1:1 verification against governed galleries. Every search and "
                        + "verification states a purpose and case reference and is written to a hash-chained audit log. "
                        + "Candidates are investigative leads for review by a trained person, never identifications. "
                        + "Errors are RFC 9457 problem details (application/problem+json)."),
            ],
            "security": [["bearerAuth": []], ["apiKeyHeader": []]],
            "paths": .object(paths),
            "components": [
                "securitySchemes": [
                    "bearerAuth": ["type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer bm_...`."],
                    "apiKeyHeader": ["type": "apiKey", "in": "header", "name": "X-API-Key"],
                ],
                "schemas": .object(schemas(purposes: purposes, engines: engines)),
                "responses": .object(problemResponses),
            ],
        ]
    }

    /// The (method, path) of every documented operation, for the router coverage test.
    static func operations() -> [(method: String, path: String)] {
        endpoints(purposes: []).map { ($0.method, $0.path) }
    }

    // MARK: - Schema helpers

    static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }
    static func string(_ description: String? = nil, format: String? = nil, values: [String]? = nil) -> JSON {
        var schema: [String: JSON] = ["type": "string"]
        if let description { schema["description"] = .string(description) }
        if let format { schema["format"] = .string(format) }
        if let values { schema["enum"] = .array(values.map(JSON.string)) }
        return .object(schema)
    }
    static func integer(_ description: String? = nil) -> JSON {
        description.map { ["type": "integer", "description": .string($0)] } ?? ["type": "integer"]
    }
    static func number(_ description: String? = nil) -> JSON {
        description.map { ["type": "number", "description": .string($0)] } ?? ["type": "number"]
    }
    static let boolean: JSON = ["type": "boolean"]
    static func nullable(_ type: String, format: String? = nil) -> JSON {
        var schema: [String: JSON] = ["type": [.string(type), "null"]]
        if let format { schema["format"] = .string(format) }
        return .object(schema)
    }
    static func array(_ items: JSON) -> JSON { ["type": "array", "items": items] }
    static func map(_ values: JSON) -> JSON { ["type": "object", "additionalProperties": values] }
    static func object(_ properties: [String: JSON], required: [String], description: String? = nil) -> JSON {
        var schema: [String: JSON] = [
            "type": "object", "properties": .object(properties), "required": .array(required.map(JSON.string)),
            "additionalProperties": false,
        ]
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }
    static let binary: JSON = ["type": "string", "contentMediaType": "application/octet-stream"]
    static let base64Image: JSON = [
        "type": "string", "contentEncoding": "base64", "description": "An encoded JPEG, PNG, PGM or PPM image, base64.",
    ]

    // MARK: - Responses

    static func json(_ schema: JSON, description: String) -> JSON {
        ["description": .string(description), "content": ["application/json": ["schema": schema]]]
    }
    static func problem(_ name: String) -> JSON { ["$ref": .string("#/components/responses/\(name)")] }

    static let problemResponses: [String: JSON] = {
        let entries: [(String, String)] = [
            ("BadRequest", "The request is malformed, or a search or verification lacks a usable purpose or case reference."),
            ("Unauthorized", "No valid API key was presented."),
            ("Forbidden", "The key's role or gallery scope does not allow this."),
            ("NotFound", "The gallery, subject or route does not exist."),
            ("MethodNotAllowed", "The path exists, but not with this method."),
            ("Conflict", "A gallery name or subject reference is already taken, a request with the same Idempotency-Key is still being processed (request-in-progress), an engine is still being added to the gallery, or an engine job is run by another process."),
            ("ContentTooLarge", "The body is larger than the server accepts."),
            ("UnsupportedMediaType", "The body's media type is not accepted here."),
            ("UnprocessableContent", "An image cannot be decoded, is too large in pixels, or holds no usable face; or the Idempotency-Key was used for a different request (idempotency-key-reused)."),
            ("TooManyRequests", "The key's request rate is exceeded; see Retry-After."),
            ("InternalError", "The server failed; the problem's requestID locates the failure in the server's log."),
            ("ServiceUnavailable",
             "The database has no reachable primary, or every image-analysis slot is busy and the queue for them is full "
                + "(type unavailable: nothing was changed), or its connection failed "
                + "while a change was committed (type outcome-unknown: it may have been made); retry after Retry-After, "
                + "with the same Idempotency-Key for writes that accept one."),
        ]
        var responses: [String: JSON] = [:]
        for (name, description) in entries {
            var response: [String: JSON] = [
                "description": .string(description),
                "content": ["application/problem+json": ["schema": ref("Problem")]],
            ]
            if name == "Unauthorized" {
                response["headers"] = ["WWW-Authenticate": ["schema": ["type": "string"], "description": "Bearer challenge (RFC 6750)."]]
            } else if name == "TooManyRequests" || name == "ServiceUnavailable" {
                response["headers"] = ["Retry-After": ["schema": ["type": "integer"], "description": "Seconds to wait."]]
            } else if name == "MethodNotAllowed" {
                response["headers"] = ["Allow": ["schema": ["type": "string"], "description": "The methods the path accepts."]]
            }
            responses[name] = .object(response)
        }
        return responses
    }()

    /// The error responses every authenticated operation may give, plus `extra`.
    static func errors(_ extra: [String: String] = [:]) -> [String: JSON] {
        var responses: [String: JSON] = [
            "400": problem("BadRequest"), "401": problem("Unauthorized"), "403": problem("Forbidden"),
            "413": problem("ContentTooLarge"), "429": problem("TooManyRequests"), "500": problem("InternalError"),
            "503": problem("ServiceUnavailable"),
        ]
        for (status, name) in extra { responses[status] = problem(name) }
        return responses
    }

    static func withErrors(_ success: [String: JSON], _ extra: [String: String] = [:]) -> [String: JSON] {
        errors(extra).merging(success) { _, new in new }
    }

    // MARK: - Parameters and bodies

    static let galleryParameter: JSON = [
        "name": "gallery", "in": "path", "required": true, "schema": ["type": "string"], "description": "The gallery's name.",
    ]
    static let engineParameter: JSON = [
        "name": "engine", "in": "path", "required": true, "schema": ["type": "string"],
        "description": "One of the gallery's engines.",
    ]
    static let referenceParameter: JSON = [
        "name": "reference", "in": "path", "required": true, "schema": ["type": "string"],
        "description": "The subject's external reference.",
    ]
    /// The `Idempotency-Key` request header of enrolment, added images and review decisions.
    static let idempotencyKeyParameter: JSON = [
        "name": "Idempotency-Key", "in": "header", "required": false,
        "schema": ["type": "string", "minLength": 1, "maxLength": 255],
        "description": .string(
            "Makes the request safe to retry (IETF httpapi Idempotency-Key draft): a repeat with the same key and the "
                + "same request replays the first response (marked Idempotent-Replayed: true) and changes nothing more; "
                + "the same key for a different request is 422 (idempotency-key-reused); a repeat while the first is "
                + "still being processed is 409 (request-in-progress). Keys are scoped to the API key and honoured "
                + "for 24 hours after the first success. Use a new UUID per logical request, and retry with it after "
                + "a timeout, a dropped connection or a 503."),
    ]

    static func limitParameter(maximum: Int) -> JSON {
        [
            "name": "limit", "in": "query", "required": false,
            "schema": ["type": "integer", "minimum": 1, "maximum": .number(Double(maximum))],
            "description": .string("Page size, 1...\(maximum) (default 100)."),
        ]
    }
    static func requiredInteger(_ name: String, minimum: Int, _ description: String) -> JSON {
        [
            "name": .string(name), "in": "query", "required": true,
            "schema": ["type": "integer", "minimum": .number(Double(minimum))], "description": .string(description),
        ]
    }
    static func afterParameter(_ description: String) -> JSON {
        ["name": "after", "in": "query", "required": false, "schema": ["type": "integer"], "description": .string(description)]
    }

    static func imageBody(json: String, multipart: String) -> JSON {
        [
            "required": true,
            "content": [
                "application/json": ["schema": ref(json)],
                "multipart/form-data": ["schema": ref(multipart)],
            ],
        ]
    }

    // MARK: - Endpoints

    static func endpoints(purposes: [String]) -> [Endpoint] {
        let imageErrors = ["415": "UnsupportedMediaType", "422": "UnprocessableContent"]
        return [
            Endpoint(
                method: "GET", path: "/health", operationID: "health", summary: "Service status, versions and model hashes.",
                tag: "service", isPublic: true,
                responses: ["200": json(ref("Health"), description: "The service answers."), "500": problem("InternalError")]),
            Endpoint(
                method: "GET", path: "/openapi.json", operationID: "openAPIDocument", summary: "This document.",
                tag: "service", isPublic: true,
                responses: ["200": json(["type": "object"], description: "The OpenAPI 3.1 document.")]),
            Endpoint(
                method: "GET", path: "/metrics", operationID: "metrics",
                summary: "Prometheus metrics: request counts and latencies, engine stage times, gallery sizes.",
                tag: "service", isPublic: true,
                responses: [
                    "200": ["description": "Prometheus text exposition format 0.0.4.", "content": ["text/plain": ["schema": ["type": "string"]]]],
                    "500": problem("InternalError"),
                ]),
            Endpoint(
                method: "GET", path: "/v1/galleries", operationID: "listGalleries",
                summary: "The galleries the key may read, with their sizes.", tag: "galleries",
                responses: withErrors(["200": json(ref("GalleryList"), description: "The galleries.")])),
            Endpoint(
                method: "POST", path: "/v1/galleries", operationID: "createGallery", summary: "Create a gallery (admin).",
                tag: "galleries",
                requestBody: ["required": true, "content": ["application/json": ["schema": ref("CreateGalleryRequest")]]],
                responses: withErrors(
                    ["201": json(ref("Gallery"), description: "Created; Location names it.")],
                    ["409": "Conflict", "415": "UnsupportedMediaType"])),
            Endpoint(
                method: "GET", path: "/v1/galleries/{gallery}", operationID: "getGallery", summary: "A gallery's settings and size.",
                tag: "galleries", parameters: [galleryParameter],
                responses: withErrors(["200": json(ref("Gallery"), description: "The gallery.")], ["404": "NotFound"])),
            Endpoint(
                method: "DELETE", path: "/v1/galleries/{gallery}", operationID: "deleteGallery",
                summary: "Erase a gallery with all its subjects and templates (admin).", tag: "galleries",
                parameters: [galleryParameter],
                responses: withErrors(["200": json(ref("GalleryErasure"), description: "Erased.")], ["404": "NotFound"])),
            Endpoint(
                method: "PUT", path: "/v1/galleries/{gallery}/threshold", operationID: "setThreshold",
                summary: "Set the gallery's operating threshold, with the reason for the audit log (admin).", tag: "galleries",
                parameters: [galleryParameter],
                requestBody: ["required": true, "content": ["application/json": ["schema": ref("SetThresholdRequest")]]],
                responses: withErrors(
                    ["200": json(ref("Gallery"), description: "The gallery with its new threshold.")],
                    ["404": "NotFound", "415": "UnsupportedMediaType"])),
            Endpoint(
                method: "POST", path: "/v1/galleries/{gallery}/engines", operationID: "addEngine",
                summary: "Add an installed engine to the gallery (admin). Enrolments make its templates at once; a background "
                    + "job makes them for the subjects already enrolled, from their kept images. The engine is searched "
                    + "once the job has completed; follow it at the Location returned.",
                tag: "galleries", parameters: [galleryParameter],
                requestBody: ["required": true, "content": ["application/json": ["schema": ref("AddEngineRequest")]]],
                responses: withErrors(
                    ["202": json(ref("EngineJob"), description: "Accepted: the job runs; Location names it.")],
                    ["404": "NotFound", "415": "UnsupportedMediaType"])),
            Endpoint(
                method: "DELETE", path: "/v1/galleries/{gallery}/engines/{engine}", operationID: "dropEngine",
                summary: "Drop an engine (not the default) from the gallery, with its templates and index (admin).",
                tag: "galleries",
                parameters: [galleryParameter, engineParameter],
                responses: withErrors(["200": json(ref("EngineDrop"), description: "Dropped.")], ["404": "NotFound"])),
            Endpoint(
                method: "GET", path: "/v1/engine-jobs/{job}", operationID: "getEngineJob",
                summary: "An engine templating job's progress.", tag: "galleries",
                parameters: [["name": "job", "in": "path", "required": true, "schema": ["type": "string"], "description": "The job's identifier."]],
                responses: withErrors(["200": json(ref("EngineJob"), description: "The job as last recorded.")], ["404": "NotFound"])),
            Endpoint(
                method: "PUT", path: "/v1/galleries/{gallery}/engines/{engine}/threshold", operationID: "setEngineThreshold",
                summary: "Set the operating threshold of one of the gallery's engines, in its native unit, with the reason "
                    + "for the audit log (admin). The default engine's is the gallery's operating threshold; another's may be "
                    + "null, for the engine's published threshold.",
                tag: "galleries", parameters: [galleryParameter, engineParameter],
                requestBody: ["required": true, "content": ["application/json": ["schema": ref("SetEngineThresholdRequest")]]],
                responses: withErrors(
                    ["200": json(ref("Gallery"), description: "The gallery with the engine's new threshold.")],
                    ["404": "NotFound", "415": "UnsupportedMediaType"])),
            Endpoint(
                method: "PUT", path: "/v1/galleries/{gallery}/fusion", operationID: "recordFusionCalibration",
                summary: "Record how the gallery fuses its engines: each engine's impostor statistics and the fused "
                    + "threshold, as `biomatch calibrate --engine fusion` measures them, with the reason for the audit log "
                    + "(admin). The statistics must name exactly the gallery's engines.",
                tag: "galleries", parameters: [galleryParameter],
                requestBody: [
                    "required": true, "content": ["application/json": ["schema": ref("RecordFusionCalibrationRequest")]],
                ],
                responses: withErrors(
                    ["200": json(ref("Gallery"), description: "The gallery with its fusion calibration.")],
                    ["404": "NotFound", "415": "UnsupportedMediaType"])),
            Endpoint(
                method: "GET", path: "/v1/galleries/{gallery}/subjects", operationID: "listSubjects",
                summary: "A page of the gallery's subjects, in enrolment order.", tag: "subjects",
                parameters: [
                    galleryParameter, afterParameter("The nextCursor of the previous page."),
                    limitParameter(maximum: 1_000),
                ],
                responses: withErrors(["200": json(ref("SubjectPage"), description: "One page.")], ["404": "NotFound"])),
            Endpoint(
                method: "POST", path: "/v1/galleries/{gallery}/subjects", operationID: "enrolSubject",
                summary: "Enrol a subject from one or more photos, each with exactly one face of acceptable quality; "
                    + "all or nothing.",
                tag: "subjects", parameters: [galleryParameter, idempotencyKeyParameter],
                requestBody: imageBody(json: "EnrolmentRequest", multipart: "EnrolmentForm"),
                responses: withErrors(
                    ["201": json(ref("Subject"), description: "Enrolled; Location names the subject.")],
                    imageErrors.merging(["404": "NotFound", "409": "Conflict"]) { $1 })),
            Endpoint(
                method: "GET", path: "/v1/galleries/{gallery}/subjects/{reference}", operationID: "getSubject",
                summary: "A subject with its templates' facts (never the vectors).", tag: "subjects",
                parameters: [galleryParameter, referenceParameter],
                responses: withErrors(["200": json(ref("Subject"), description: "The subject.")], ["404": "NotFound"])),
            Endpoint(
                method: "DELETE", path: "/v1/galleries/{gallery}/subjects/{reference}", operationID: "eraseSubject",
                summary: "Erase a subject: its rows and index entries go at once; the audit log keeps hashes only.",
                tag: "subjects",
                parameters: [
                    galleryParameter, referenceParameter,
                    [
                        "name": "reason", "in": "query", "required": false, "schema": ["type": "string"],
                        "description": "Why, for the audit log (default 'erasure requested').",
                    ],
                ],
                responses: withErrors(["200": json(ref("SubjectErasure"), description: "Erased.")], ["404": "NotFound"])),
            Endpoint(
                method: "POST", path: "/v1/galleries/{gallery}/subjects/{reference}/images", operationID: "addImages",
                summary: "Add photos to an enrolled subject; all or nothing.", tag: "subjects",
                parameters: [galleryParameter, referenceParameter, idempotencyKeyParameter],
                requestBody: imageBody(json: "AddImagesRequest", multipart: "AddImagesForm"),
                responses: withErrors(
                    ["201": json(ref("TemplatesAdded"), description: "The templates added.")],
                    imageErrors.merging(["404": "NotFound", "409": "Conflict"]) { $1 })),
            Endpoint(
                method: "POST", path: "/v1/detect", operationID: "detect",
                summary: "Every face in an image, with landmarks and quality; audited with the image's hash.",
                tag: "matching", requestBody: imageBody(json: "DetectRequest", multipart: "DetectForm"),
                responses: withErrors(["200": json(ref("Detection"), description: "The faces found (possibly none).")], imageErrors)),
            Endpoint(
                method: "POST", path: "/v1/search", operationID: "search",
                summary: "1:N search of a gallery with one face of a probe photo (the largest unless faceIndex names "
                    + "one); every face found is reported. Requires purpose and caseReference; audited.",
                tag: "matching", requestBody: imageBody(json: "SearchRequest", multipart: "SearchForm"),
                responses: withErrors(
                    ["200": json(ref("SearchResult"), description: "Candidates at or above the threshold, best first.")],
                    imageErrors.merging(["404": "NotFound", "409": "Conflict"]) { $1 })),
            Endpoint(
                method: "POST", path: "/v1/verify", operationID: "verify",
                summary: "1:1: a probe photo against an enrolled subject (gallery + subjectReference) or against a "
                    + "second photo (otherImage). Requires purpose and caseReference; audited.",
                tag: "matching", requestBody: imageBody(json: "VerifyRequest", multipart: "VerifyForm"),
                responses: withErrors(
                    ["200": json(ref("VerificationResult"), description: "The score and the decision at the threshold.")],
                    imageErrors.merging(["404": "NotFound", "409": "Conflict"]) { $1 })),
            Endpoint(
                method: "GET", path: "/v1/audit", operationID: "auditEntries",
                summary: "Audit entries in chain order (auditor, admin).", tag: "audit",
                parameters: [afterParameter("Return entries after this sequence number."), limitParameter(maximum: 1_000)],
                responses: withErrors(["200": json(ref("AuditPage"), description: "One page of entries.")])),
            Endpoint(
                method: "GET", path: "/v1/audit/checkpoint", operationID: "auditCheckpoint",
                summary: "The newest signed checkpoint of the audit log's Merkle tree (auditor, admin).", tag: "audit",
                responses: withErrors([
                    "200": [
                        "description": .string(
                            "A C2SP signed note: the origin, the tree size and the base64 root hash on three lines, an "
                                + "empty line, then signature lines (see docs/audit-log.md)."),
                        "content": ["text/plain": ["schema": ["type": "string"]]],
                    ],
                    "404": problem("NotFound"),
                ])),
            Endpoint(
                method: "GET", path: "/v1/audit/proofs/inclusion", operationID: "auditInclusionProof",
                summary: "RFC 9162 inclusion proof of one audit entry in a tree size (auditor, admin).", tag: "audit",
                parameters: [
                    requiredInteger("leafIndex", minimum: 0, "The entry's leaf index: its sequence number minus one."),
                    requiredInteger("treeSize", minimum: 1, "The tree size, at most the log's; above leafIndex."),
                ],
                responses: withErrors(["200": json(ref("InclusionProof"), description: "The proof.")])),
            Endpoint(
                method: "GET", path: "/v1/audit/proofs/consistency", operationID: "auditConsistencyProof",
                summary: "RFC 9162 consistency proof between two tree sizes (auditor, admin).", tag: "audit",
                parameters: [
                    requiredInteger("from", minimum: 0, "The older tree size, at most `to`."),
                    requiredInteger("to", minimum: 1, "The newer tree size, at most the log's."),
                ],
                responses: withErrors(["200": json(ref("ConsistencyProof"), description: "The proof.")])),
        ] + reviewEndpoints() + subjectAccessEndpoints()
    }

    // MARK: - Schemas

    /// The members of a fusion calibration.
    static let fusionCalibrationProperties: [String: JSON] = [
        "threshold": number("The fused score (the mean of the engines' z-scores) at or above which a pair reads as the same person."),
        "targetFalseMatchRate": number("The false-match rate the threshold was chosen for, strictly between 0 and 1."),
        "source": string("What the calibration was measured on (dataset and counts)."),
        "statistics": map(
            object(
                [
                    "mean": number("Mean impostor similarity (a distance negated)."),
                    "deviation": number("Standard deviation of impostor similarities, positive."),
                ], required: ["mean", "deviation"])),
    ]
    static let fusionCalibration = object(
        fusionCalibrationProperties, required: ["threshold", "targetFalseMatchRate", "source", "statistics"])

    /// `schema` (an object schema) that may also be null.
    static func nullableObject(_ schema: JSON, description: String) -> JSON {
        guard case var .object(members) = schema else { return schema }
        members["type"] = ["object", "null"]
        members["description"] = .string(description)
        return .object(members)
    }

    static func schemas(purposes: [String], engines: [String] = ["sface"]) -> [String: JSON] {
        let galleryPurposes = GalleryPurpose.allCases.map(\.rawValue)
        let engine = string("An installed recognition engine.", values: engines)
        let searchEngine = string(
            "One of the gallery's engines, or `fusion` (every engine's similarity as a z-score against its impostor "
                + "distribution, averaged: the gallery's recorded fusion calibration when it has one); default the gallery's "
                + "default engine.",
            values: engines + ["fusion"])
        let scoreDirection = string(
            "How to read `score` and `threshold`: a cosine or fused score is more alike when higher, a distance (dlib) "
                + "when lower.",
            values: ["higher-is-more-alike", "lower-is-more-alike"])
        let engineScores = map(number())
        let purpose: JSON = purposes.isEmpty
            ? string("One of the configured search purposes.")
            : string("One of the configured search purposes.", values: purposes)
        let caseReference = string("The case, investigation or request the search serves (1-200 characters).")
        let point = object(["x": number(), "y": number()], required: ["x", "y"])
        return [
            "Problem": [
                "type": "object",
                "description": .string(
                    "RFC 9457 problem details. `type` is one of: " + ProblemType.allCases.map(\.uri).joined(separator: ", ")),
                "properties": [
                    "type": string(format: "uri"), "title": string(), "status": integer(), "detail": string(),
                    "instance": string("The request path."),
                    "requestID": string("The request's identifier in the server's log."),
                    "errors": array(ref("FieldProblem")),
                ],
                "required": ["type", "title", "status"],
                "additionalProperties": false,
            ],
            "FieldProblem": object(
                [
                    "pointer": string("A JSON Pointer into the body, or '#name' for a multipart part or query parameter."),
                    "detail": string(),
                ], required: ["pointer", "detail"]),
            "Health": object(
                [
                    "status": string(values: ["ok"]), "version": string(), "onnxRuntimeVersion": string(),
                    "models": array(ref("ModelFile")), "storage": string(),
                    "engines": array(ref("EngineProfile")),
                    "feedPosition": integer("The change-feed position this node's indexes reflect."),
                    "storePrimary": string("The PostgreSQL host (host:port) this node writes to now."),
                ], required: ["status", "version", "onnxRuntimeVersion", "models"]),
            "EngineProfile": object(
                [
                    "identifier": string(), "version": string(), "templateModel": string(),
                    "chip": object(
                        ["side": integer(), "alignment": string(), "colourOrder": string(), "normalisation": string()],
                        required: ["side", "alignment", "colourOrder", "normalisation"]),
                    "templateLength": integer(),
                    "comparison": string(
                        "cosine-similarity: higher is more alike; euclidean-distance: lower is more alike.",
                        values: TemplateComparison.allCases.map(\.rawValue)),
                    "sameSubjectThreshold": number("The published operating point, in the comparison's native unit."),
                    "models": array(
                        object(
                            ["role": string(), "file": string(), "originalSHA256": string(), "preparedSHA256": string()],
                            required: ["role", "file", "originalSHA256"])),
                    "impostorSimilarity": object(
                        [
                            "mean": number(), "deviation": number(),
                            "source": string("The data the figures come from."),
                        ], required: ["mean", "deviation", "source"],
                        description: "Impostor similarities (a distance negated) that fusion normalises against."),
                ],
                required: [
                    "identifier", "version", "templateModel", "chip", "templateLength", "comparison",
                    "sameSubjectThreshold", "models",
                ]),
            "ModelFile": object(
                ["identifier": string(), "file": string(), "sha256": string(), "originalSHA256": string()],
                required: ["identifier", "file", "sha256", "originalSHA256"]),
            "Gallery": object(
                [
                    "name": string(), "description": string(), "purpose": string(values: galleryPurposes),
                    "retentionDays": nullable("integer"),
                    "operatingThreshold": number("The default engine's threshold, in its native unit."),
                    "modelIdentifier": string("The default engine's template model."),
                    "createdAt": string(format: "date-time"),
                    "subjects": integer("Enrolled subjects."), "templates": integer("Stored templates (one per image and engine)."),
                    "engines": array(ref("GalleryEngine")), "defaultEngine": engine,
                    "keepsEnrolmentImages": ["type": "boolean", "description": "Whether enrolment images are kept sealed for re-templating."],
                    "fusion": nullableObject(
                        fusionCalibration,
                        description: "The fusion calibration recorded for the gallery; null: the engines' published impostor "
                            + "statistics and the built-in fused threshold."),
                    "fusionThreshold": number(
                        "The fused score at or above which engine `fusion` reads a pair as the same person: the recorded "
                            + "calibration's threshold, else the built-in one."),
                ],
                required: [
                    "name", "description", "purpose", "retentionDays", "operatingThreshold", "modelIdentifier", "createdAt",
                    "engines", "defaultEngine", "keepsEnrolmentImages", "fusion", "fusionThreshold",
                ]),
            "GalleryEngine": object(
                [
                    "identifier": engine, "templateModel": string(), "templateLength": integer(),
                    "operatingThreshold": number(
                        "The engine's threshold in its native unit: the gallery's for its default engine, the one set for "
                            + "another engine, else the engine's published one."),
                    "scoreDirection": scoreDirection,
                    "templatingJob": [
                        "type": ["string", "null"],
                        "description": "While the engine is being added: its templating job (the engine is not searched until it completes).",
                    ],
                ], required: ["identifier", "templateModel", "templateLength", "operatingThreshold", "scoreDirection", "templatingJob"]),
            "GalleryList": object(["galleries": array(ref("Gallery"))], required: ["galleries"]),
            "CreateGalleryRequest": object(
                [
                    "name": string(), "description": string(), "purpose": string(values: galleryPurposes),
                    "retentionDays": nullable("integer"),
                    "operatingThreshold": nullable("number"),
                    "engines": [
                        "type": "array", "items": engine, "minItems": 1, "uniqueItems": true,
                        "description": "The engines whose templates the gallery holds; default [\"sface\"].",
                    ],
                    "defaultEngine": string("One of `engines`; default the first.", values: engines),
                    "keepsEnrolmentImages": [
                        "type": "boolean",
                        "description": "Keep enrolment images sealed so an engine added later is templated from them (default true).",
                    ],
                ], required: ["name", "purpose"]),
            "SetThresholdRequest": object(
                [
                    "threshold": number("The default engine's threshold in its native unit (a cosine, or a distance), -1...1."),
                    "reason": string("Why, for the audit log."),
                ],
                required: ["threshold", "reason"]),
            "SetEngineThresholdRequest": object(
                [
                    "threshold": nullable("number"),
                    "reason": string("Why, for the audit log."),
                ],
                required: ["threshold", "reason"],
                description: "The engine's threshold in its native unit: a cosine in -1...1, or a distance in 0...1; null "
                    + "for the engine's published threshold (not for the default engine)."),
            "RecordFusionCalibrationRequest": object(
                fusionCalibrationProperties.merging(["reason": string("Why, for the audit log.")]) { current, _ in current },
                required: ["threshold", "targetFalseMatchRate", "source", "statistics", "reason"]),
            "GalleryErasure": object(
                ["gallery": string(), "subjectsErased": integer(), "templatesErased": integer()],
                required: ["gallery", "subjectsErased", "templatesErased"]),
            "AddEngineRequest": object(["engine": engine], required: ["engine"]),
            "EngineJob": object(
                [
                    "id": string(), "gallery": string(), "engine": engine,
                    "state": string(
                        "running (or waiting to be resumed), completed (the engine is searched), abandoned (its engine was dropped)",
                        values: ["running", "completed", "abandoned"]),
                    "subjectsTotal": integer("Subjects the gallery held when the job started."),
                    "subjectsDone": integer("Subjects visited so far."),
                    "fractionDone": number("subjectsDone / subjectsTotal, 0...1."),
                    "templatesMade": integer(),
                    "subjectsWithoutImages": integer("Subjects with no kept image: their images must be supplied again."),
                    "startedAt": string(format: "date-time"), "updatedAt": string(format: "date-time"),
                    "message": nullable("string"),
                ],
                required: [
                    "id", "gallery", "engine", "state", "subjectsTotal", "subjectsDone", "fractionDone", "templatesMade",
                    "subjectsWithoutImages", "startedAt", "updatedAt", "message",
                ]),
            "EngineDrop": object(
                ["gallery": string(), "engine": engine, "templatesErased": integer(), "engines": array(engine)],
                required: ["gallery", "engine", "templatesErased", "engines"]),
            "Template": object(
                [
                    "id": integer(), "modelIdentifier": string(), "detectionScore": number(),
                    "qualityMeasures": map(number()), "sourceImageSHA256": string(),
                    "capturedAt": string(format: "date-time"), "enrolledAt": string(format: "date-time"),
                ],
                required: ["id", "modelIdentifier", "detectionScore", "qualityMeasures", "sourceImageSHA256", "capturedAt", "enrolledAt"]),
            "Subject": object(
                [
                    "id": integer(), "reference": string(), "attributes": map(string()),
                    "createdAt": string(format: "date-time"), "updatedAt": string(format: "date-time"),
                    "retainUntil": nullable("string", format: "date-time"), "templates": array(ref("Template")),
                ], required: ["id", "reference", "attributes", "createdAt", "updatedAt", "retainUntil"]),
            "SubjectPage": object(
                ["subjects": array(ref("Subject")), "nextCursor": nullable("integer")], required: ["subjects", "nextCursor"]),
            "EnrolmentRequest": object(
                [
                    "reference": string("Unique in the gallery."), "attributes": map(string()),
                    "retainUntil": nullable("string", format: "date-time"), "images": array(base64Image),
                ], required: ["reference", "images"]),
            "EnrolmentForm": object(
                [
                    "reference": string(), "attributes": string("A JSON object of strings."),
                    "retainUntil": string(format: "date-time"), "images": array(binary),
                ], required: ["reference", "images"]),
            "AddImagesRequest": object(["images": array(base64Image)], required: ["images"]),
            "AddImagesForm": object(["images": array(binary)], required: ["images"]),
            "TemplatesAdded": object(["reference": string(), "templates": array(ref("Template"))], required: ["reference", "templates"]),
            "SubjectErasure": object(
                ["reference": string(), "subjectID": integer(), "templatesErased": integer()],
                required: ["reference", "subjectID", "templatesErased"]),
            "Point": point,
            "Face": object(
                [
                    "index": integer("Position in detection order; requests name faces by it."),
                    "box": object(
                        ["x": number(), "y": number(), "width": number(), "height": number()],
                        required: ["x", "y", "width", "height"]),
                    "landmarks": object(
                        [
                            "rightEye": ref("Point"), "leftEye": ref("Point"), "noseTip": ref("Point"),
                            "rightMouthCorner": ref("Point"), "leftMouthCorner": ref("Point"),
                        ], required: ["rightEye", "leftEye", "noseTip", "rightMouthCorner", "leftMouthCorner"]),
                    "detectionScore": number(),
                    "quality": object(
                        [
                            "interOcularDistance": number(), "yawDegrees": number(), "rollDegrees": number(),
                            "sharpness": number(), "brightness": number(), "contrast": number(),
                        ],
                        required: ["interOcularDistance", "yawDegrees", "rollDegrees", "sharpness", "brightness", "contrast"]),
                    "acceptable": boolean, "qualityFailures": array(string()),
                ],
                required: ["index", "box", "landmarks", "detectionScore", "quality", "acceptable", "qualityFailures"]),
            "DetectRequest": object(["image": base64Image], required: ["image"]),
            "DetectForm": object(["image": binary], required: ["image"]),
            "Detection": object(
                ["imageWidth": integer(), "imageHeight": integer(), "imageSHA256": string(), "faces": array(ref("Face"))],
                required: ["imageWidth", "imageHeight", "imageSHA256", "faces"]),
            "SearchRequest": object(
                [
                    "gallery": string(), "image": base64Image, "purpose": purpose, "caseReference": caseReference,
                    "k": integer("Candidates wanted, 1...100 (default 10)."),
                    "threshold": number("Minimum score; not below the gallery's operating threshold (the default)."),
                    "faceIndex": integer("The face to search; default the largest."),
                    "attributeFilter": map(string()), "engine": searchEngine,
                ], required: ["gallery", "image", "purpose", "caseReference"]),
            "SearchForm": object(
                [
                    "gallery": string(), "image": binary, "purpose": purpose, "caseReference": caseReference,
                    "k": integer(), "threshold": number(), "faceIndex": integer(),
                    "attributeFilter": string("A JSON object of strings."), "engine": searchEngine,
                ], required: ["gallery", "image", "purpose", "caseReference"]),
            "Candidate": object(
                [
                    "rank": integer(), "subjectReference": string(), "subjectID": integer(),
                    "score": number("In the engine's native unit (see scoreDirection), or the fused z-score."),
                    "bestTemplateID": integer(), "templateDetectionScore": nullable("number"),
                    "engineScores": engineScores,
                ],
                required: [
                    "rank", "subjectReference", "subjectID", "score", "bestTemplateID", "templateDetectionScore", "engineScores",
                ]),
            "SearchResult": object(
                [
                    "gallery": string(), "purpose": string(), "caseReference": string(), "probeSHA256": string(),
                    "engine": searchEngine, "scoreDirection": scoreDirection,
                    "faces": array(ref("Face")), "searchedFace": integer(), "k": integer(), "threshold": number(),
                    "candidates": array(ref("Candidate")), "auditSequence": integer(), "notice": string(),
                    "reviewRequired": boolean,
                    "reviewCaseID": nullable("integer"),
                    "reviewStatus": nullable("string"),
                ],
                required: [
                    "gallery", "purpose", "caseReference", "probeSHA256", "engine", "scoreDirection", "faces", "searchedFace",
                    "k", "threshold", "candidates", "auditSequence", "notice", "reviewRequired", "reviewCaseID", "reviewStatus",
                ]),
            "VerifyRequest": object(
                [
                    "image": base64Image, "purpose": purpose, "caseReference": caseReference,
                    "gallery": string("With subjectReference: verify against an enrolled subject."),
                    "subjectReference": string(), "otherImage": base64Image, "threshold": number(),
                    "faceIndex": integer("The probe face to compare; default the largest."),
                    "engine": searchEngine,
                ], required: ["image", "purpose", "caseReference"]),
            "VerifyForm": object(
                [
                    "image": binary, "purpose": purpose, "caseReference": caseReference, "gallery": string(),
                    "subjectReference": string(), "otherImage": binary, "threshold": number(), "faceIndex": integer(),
                    "engine": searchEngine,
                ], required: ["image", "purpose", "caseReference"]),
            "VerificationResult": object(
                [
                    "mode": string(values: ["subject", "images"]), "subjectReference": nullable("string"),
                    "engine": searchEngine, "scoreDirection": scoreDirection,
                    "score": number("In the engine's native unit (see scoreDirection), or the fused z-score."),
                    "threshold": number(), "isMatch": boolean, "faces": array(ref("Face")),
                    "comparedFace": integer(), "auditSequence": integer(), "notice": string(),
                    "engineScores": engineScores,
                ],
                required: [
                    "mode", "subjectReference", "engine", "scoreDirection", "score", "threshold", "isMatch", "faces",
                    "comparedFace", "auditSequence", "notice", "engineScores",
                ]),
            "AuditActor": object(
                [
                    "kind": string(values: ["key", "system"]), "keyID": nullable("integer"),
                    "role": ["type": ["string", "null"], "enum": .array(Role.allCases.map { .string($0.rawValue) } + [.null])],
                    "component": nullable("string"),
                ], required: ["kind", "keyID", "role", "component"]),
            "AuditEntry": object(
                [
                    "sequence": integer(), "recordedAt": string(format: "date-time"), "actor": ref("AuditActor"),
                    "action": string(values: AuditAction.allCases.map(\.rawValue)), "galleryID": nullable("integer"),
                    "galleryName": nullable("string"), "purpose": nullable("string"), "caseReference": nullable("string"),
                    "probeSHA256": nullable("string"), "parameters": ["type": "object"], "result": ["type": "object"],
                    "previousHash": string(), "entryHash": string(),
                ],
                required: [
                    "sequence", "recordedAt", "actor", "action", "galleryID", "galleryName", "purpose", "caseReference",
                    "probeSHA256", "parameters", "result", "previousHash", "entryHash",
                ]),
            "InclusionProof": object(
                [
                    "leafIndex": ["type": "integer"], "treeSize": ["type": "integer"],
                    "hashes": array(["type": "string", "contentEncoding": "base64"]),
                ], required: ["leafIndex", "treeSize", "hashes"]),
            "ConsistencyProof": object(
                [
                    "from": ["type": "integer"], "to": ["type": "integer"],
                    "hashes": array(["type": "string", "contentEncoding": "base64"]),
                ], required: ["from", "to", "hashes"]),
            "AuditPage": object(
                ["entries": array(ref("AuditEntry")), "nextAfter": nullable("integer")], required: ["entries", "nextAfter"]),
        ].merging(reviewSchemas()) { $1 }.merging(subjectAccessSchemas()) { $1 }
    }
}
