import Foundation
import Governance
import Hummingbird

extension APIRequestContext {
    /// A path parameter, percent-decoded (Hummingbird hands the raw path segment over).
    func pathParameter(_ name: String) throws(RequestError) -> String {
        guard let raw = parameters.get(name), let decoded = raw.removingPercentEncoding, !decoded.isEmpty else {
            throw .invalidField(pointer: "#\(name)", reason: "missing or not valid percent-encoding")
        }
        return decoded
    }

    /// The caller as the operations see it.
    func caller() throws(RequestError) -> Caller { .key(try requirePrincipal()) }
}

extension Request {
    /// An integer query parameter, or nil if absent.
    func integerQuery(_ name: String) throws(RequestError) -> Int? {
        guard let text = uri.queryParameters[name[...]] else { return nil }
        guard let value = Int(text) else { throw .invalidField(pointer: "#\(name)", reason: "expected an integer") }
        return value
    }

    /// Refuses query parameters other than `known`.
    func requireOnlyQuery(_ known: Set<String>) throws(RequestError) {
        for (key, _) in uri.queryParameters where !known.contains(String(key)) {
            throw .invalidField(pointer: "#\(key)", reason: "unknown query parameter")
        }
    }

    /// Reads a JSON body into `Value` after checking the media type.
    func decodeJSONBody<Value: Decodable>(_ type: Value.Type, context: APIRequestContext) async throws -> Value {
        let mediaType = IncomingBody.mediaType(of: self)
        let bytes = try await IncomingBody.bytes(of: self, limit: context.maximumBodyBytes)
        guard let mediaType else {
            if bytes.isEmpty { throw RequestError.emptyBody }
            throw RequestError.unsupportedMediaType(received: nil, accepted: ["application/json"])
        }
        guard mediaType.type == "application/json" else {
            throw RequestError.unsupportedMediaType(received: mediaType.type, accepted: ["application/json"])
        }
        return try IncomingBody.decodeJSON(type, from: bytes)
    }
}

/// The location of a gallery or subject resource, percent-encoded.
enum ResourcePath {
    static func gallery(_ name: String) -> String { "/v1/galleries/\(encode(name))" }
    static func engineJob(_ id: String) -> String { "/v1/engine-jobs/\(encode(id))" }
    static func subject(_ reference: String, in gallery: String) -> String {
        "\(Self.gallery(gallery))/subjects/\(encode(reference))"
    }

    private static func encode(_ segment: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }
}
