import Foundation
import Hummingbird

/// Reads request bodies within the configured limit, and checks their media type.
enum IncomingBody {
    /// The whole body, refusing with ``RequestError/bodyTooLarge(limit:)`` as soon as more than
    /// `limit` bytes have arrived (for bodies sent without a `Content-Length`, or lying about it).
    static func bytes(of request: Request, limit: Int) async throws -> [UInt8] {
        var collected: [UInt8] = []
        // Room for the announced length (when within the limit) saves regrowing the array while
        // an image arrives; the limit is still checked on what actually arrives.
        if let announced = request.headers[.contentLength].flatMap(Int.init), announced > 0, announced <= limit {
            collected.reserveCapacity(announced)
        }
        for try await chunk in request.body {
            guard collected.count + chunk.readableBytes <= limit else { throw RequestError.bodyTooLarge(limit: limit) }
            collected.append(contentsOf: chunk.readableBytesView)
        }
        return collected
    }

    /// The body's media type, lower-cased, and its parameters (names lower-cased, quotes removed).
    static func mediaType(of request: Request) -> (type: String, parameters: [String: String])? {
        guard let header = request.headers[.contentType] else { return nil }
        return parseMediaType(header)
    }

    static func parseMediaType(_ header: String) -> (type: String, parameters: [String: String])? {
        let pieces = header.split(separator: ";", omittingEmptySubsequences: false)
        guard let first = pieces.first else { return nil }
        let type = first.trimmingCharacters(in: .whitespaces).lowercased()
        guard type.contains("/") else { return nil }
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            parameters[name] = value
        }
        return (type, parameters)
    }

    /// Decodes a JSON body into `Value`, turning decoding failures into
    /// ``RequestError/malformedJSON(pointer:reason:)`` with a JSON Pointer to the bad member.
    static func decodeJSON<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws(RequestError) -> Value {
        guard !bytes.isEmpty else { throw .emptyBody }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw .malformedJSON(pointer: nil, reason: "not valid JSON")
        }
    }

    private static func pointer(_ path: [any CodingKey]) -> String {
        path.map { key in
            let text = key.intValue.map(String.init) ?? key.stringValue
            return "/" + text.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        }.joined()
    }

    private static func describe(_ error: DecodingError) -> RequestError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .malformedJSON(pointer: nil, reason: "not valid JSON")
        case .dataCorrupted(let context):
            return .invalidField(pointer: pointer(context.codingPath), reason: context.debugDescription)
        case .keyNotFound(let key, let context):
            return .invalidField(pointer: pointer(context.codingPath + [key]), reason: "required")
        case .typeMismatch(let type, let context):
            return .invalidField(pointer: pointer(context.codingPath), reason: "expected \(jsonTypeName(type))")
        case .valueNotFound(let type, let context):
            return .invalidField(pointer: pointer(context.codingPath), reason: "expected \(jsonTypeName(type)), found null")
        @unknown default:
            return .malformedJSON(pointer: nil, reason: "not the expected JSON")
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}
