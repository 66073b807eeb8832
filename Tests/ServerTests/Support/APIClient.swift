import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// A request body as a test builds it.
enum TestBody {
    case none
    case json(JSON)
    case jsonText(String)
    case multipart([FormPart])
    case raw([UInt8], contentType: String?)

    struct FormPart {
        var name: String
        var filename: String?
        var contentType: String?
        var bytes: [UInt8]

        static func text(_ name: String, _ value: String) -> FormPart {
            FormPart(name: name, filename: nil, contentType: nil, bytes: Array(value.utf8))
        }

        static func file(_ name: String, _ bytes: [UInt8], filename: String = "photo.jpg", contentType: String = "image/jpeg") -> FormPart {
            FormPart(name: name, filename: filename, contentType: contentType, bytes: bytes)
        }
    }

    static let boundary = "biomatch-test-boundary-7MA4YWxkTrZu0gW"

    var encoded: (bytes: [UInt8]?, contentType: String?) {
        switch self {
        case .none: return (nil, nil)
        case .json(let value): return (value.encoded(), "application/json")
        case .jsonText(let text): return (Array(text.utf8), "application/json")
        case .raw(let bytes, let contentType): return (bytes, contentType)
        case .multipart(let parts):
            var body: [UInt8] = []
            for part in parts {
                var head = "--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
                if let filename = part.filename { head += "; filename=\"\(filename)\"" }
                head += "\r\n"
                if let contentType = part.contentType { head += "Content-Type: \(contentType)\r\n" }
                head += "\r\n"
                body += Array(head.utf8) + part.bytes + Array("\r\n".utf8)
            }
            body += Array("--\(Self.boundary)--\r\n".utf8)
            return (body, "multipart/form-data; boundary=\(Self.boundary)")
        }
    }
}

/// A response, with its body parsed as JSON when it is JSON.
struct TestReply {
    var status: Int
    var headers: HTTPFields
    var body: [UInt8]

    var mediaType: String? { headers[.contentType].flatMap { IncomingBody.parseMediaType($0)?.type } }
    var json: JSON? { (try? JSONDecoder().decode(JSON.self, from: Data(body))) }
    var problem: ProblemDetails? {
        guard mediaType == ProblemDetails.mediaType else { return nil }
        return try? JSONDecoder().decode(ProblemDetails.self, from: Data(body))
    }
}

/// Sends requests to a running test server and checks every response against the OpenAPI document:
/// the status must be documented for the operation, and the body must match the documented schema
/// for its media type. Every error must be problem+json and never a 5xx unless a test says so.
struct APIClient {
    let port: Int
    let validator: SchemaValidator

    init(server: TestServer) {
        port = server.port
        validator = SchemaValidator(document: server.document)
    }

    init(port: Int, document: JSON) {
        self.port = port
        validator = SchemaValidator(document: document)
    }

    /// Sends a request. `template` is the documented path (`/v1/galleries/{gallery}`); nil for
    /// paths or methods the document does not have, whose answers must be problems.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ path: String, template: String?, key: String? = nil, headers: HTTPFields = [:],
        body: TestBody = .none, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestReply {
        var fields = headers
        if let key { fields[.authorization] = "Bearer \(key)" }
        let (bytes, contentType) = body.encoded
        if let contentType, fields[.contentType] == nil { fields[.contentType] = contentType }
        let request = TestClient.Request(path, method: method, headers: fields, body: bytes.map { ByteBuffer(bytes: $0) })
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            try await client.execute(request)
        }
        let reply = TestReply(
            status: Int(response.status.code), headers: response.headers, body: response.body.map { Array($0.readableBytesView) } ?? [])
        let problems = check(reply, method: method, template: template)
        #expect(problems.isEmpty, "\(method) \(path) -> \(reply.status): \(problems)", sourceLocation: sourceLocation)
        return reply
    }

    /// Where the reply departs from the document.
    func check(_ reply: TestReply, method: HTTPRequest.Method, template: String?) -> [String] {
        if reply.status >= 400 {
            guard reply.mediaType == ProblemDetails.mediaType else { return ["error without problem+json: \(reply.mediaType ?? "none")"] }
            guard let json = reply.json else { return ["problem body is not JSON"] }
            let violations = validator.violations(of: json, against: SchemaValidator.ref("Problem"))
            if json["status"]?.numberValue != Double(reply.status) { return violations + ["problem status differs from the response's"] }
            if template == nil { return violations }
        }
        guard let template else { return ["undocumented route answered \(reply.status)"] }
        guard let operation = validator.document["paths"]?[template]?[method.rawValue.lowercased()] else {
            return ["\(method) \(template) is not in the document"]
        }
        guard var response = operation["responses"]?[String(reply.status)] else {
            return ["status \(reply.status) is not documented for \(method) \(template)"]
        }
        if let reference = response["$ref"]?.stringValue, let resolved = validator.resolve(reference) { response = resolved }
        guard let mediaType = reply.mediaType, let schema = response["content"]?[mediaType]?["schema"] else {
            return ["media type \(reply.mediaType ?? "none") is not documented for \(reply.status)"]
        }
        guard mediaType.hasSuffix("json") else { return [] }
        guard let json = reply.json else { return ["body is not JSON"] }
        return validator.violations(of: json, against: schema)
    }
}

extension SchemaValidator {
    static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }
}
