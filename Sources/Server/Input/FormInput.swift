import Foundation
import Hummingbird

/// The fields of a request that may come as JSON (images as base64 strings) or as
/// `multipart/form-data` (images as file parts, other fields as text parts), read the same way
/// whichever was sent. Unknown field names are refused, so a misspelt `purpose` is an error rather
/// than a silently missing value.
struct FormInput {
    /// The media types routes with image input accept.
    static let acceptedMediaTypes = ["application/json", "multipart/form-data"]

    private enum Source {
        case json([String: JSON])
        case multipart(MultipartForm)
    }

    private let source: Source

    /// Reads and parses the request body (within the context's body limit).
    static func read(_ request: Request, context: APIRequestContext) async throws -> FormInput {
        let mediaType = IncomingBody.mediaType(of: request)
        let bytes = try await IncomingBody.bytes(of: request, limit: context.maximumBodyBytes)
        guard let mediaType else {
            if bytes.isEmpty { throw RequestError.emptyBody }
            throw RequestError.unsupportedMediaType(received: nil, accepted: acceptedMediaTypes)
        }
        switch mediaType.type {
        case "application/json":
            let value = try IncomingBody.decodeJSON(JSON.self, from: bytes)
            guard case .object(let members) = value else {
                throw RequestError.malformedJSON(pointer: "", reason: "the body must be a JSON object")
            }
            return FormInput(source: .json(members))
        case "multipart/form-data":
            if bytes.isEmpty { throw RequestError.emptyBody }
            guard let boundary = mediaType.parameters["boundary"] else {
                throw RequestError.malformedMultipart(reason: "the Content-Type has no boundary parameter")
            }
            return FormInput(source: .multipart(try MultipartForm(body: bytes, boundary: boundary)))
        default:
            throw RequestError.unsupportedMediaType(received: mediaType.type, accepted: acceptedMediaTypes)
        }
    }

    /// Refuses fields other than `known`.
    func requireOnly(_ known: Set<String>) throws(RequestError) {
        let names: [String]
        switch source {
        case .json(let members): names = Array(members.keys)
        case .multipart(let form): names = form.parts.map(\.name)
        }
        if let unknown = names.sorted().first(where: { !known.contains($0) }) {
            throw .invalidField(pointer: pointer(unknown), reason: "unknown field; expected one of: \(known.sorted().joined(separator: ", "))")
        }
    }

    private func pointer(_ name: String) -> String {
        switch source {
        case .json: "/\(name)"
        case .multipart: "#\(name)"
        }
    }

    /// A text field.
    func string(_ name: String) throws(RequestError) -> String? {
        switch source {
        case .json(let members):
            switch members[name] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            default: throw .invalidField(pointer: pointer(name), reason: "expected a string")
            }
        case .multipart(let form):
            return try form.text(name)
        }
    }

    /// A required text field.
    func requiredString(_ name: String) throws(RequestError) -> String {
        guard let value = try string(name) else { throw .invalidField(pointer: pointer(name), reason: "required") }
        return value
    }

    /// An integer field.
    func integer(_ name: String) throws(RequestError) -> Int? {
        switch source {
        case .json(let members):
            switch members[name] {
            case nil, .null?: return nil
            case .number(let value)? where value.rounded() == value && abs(value) < 1e15: return Int(value)
            default: throw .invalidField(pointer: pointer(name), reason: "expected an integer")
            }
        case .multipart(let form):
            guard let text = try form.text(name) else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw .invalidField(pointer: pointer(name), reason: "expected an integer")
            }
            return value
        }
    }

    /// A number field.
    func float(_ name: String) throws(RequestError) -> Float? {
        switch source {
        case .json(let members):
            switch members[name] {
            case nil, .null?: return nil
            case .number(let value)?: return Float(value)
            default: throw .invalidField(pointer: pointer(name), reason: "expected a number")
            }
        case .multipart(let form):
            guard let text = try form.text(name) else { return nil }
            guard let value = Float(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw .invalidField(pointer: pointer(name), reason: "expected a number")
            }
            return value
        }
    }

    /// A date-time field (ISO 8601).
    func date(_ name: String) throws(RequestError) -> Date? {
        guard let text = try string(name) else { return nil }
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw .invalidField(pointer: pointer(name), reason: "expected an ISO 8601 date-time such as 2030-01-31T00:00:00Z")
        }
        return date
    }

    /// An object of string values (in multipart, a part holding that JSON object).
    func stringMap(_ name: String) throws(RequestError) -> [String: String] {
        let value: JSON?
        switch source {
        case .json(let members):
            value = members[name]
        case .multipart(let form):
            guard let text = try form.text(name) else { return [:] }
            guard let parsed = JSON(parsing: text) else {
                throw .invalidField(pointer: pointer(name), reason: "expected a JSON object of strings")
            }
            value = parsed
        }
        switch value {
        case nil, .null?: return [:]
        case .object(let members)?:
            var map: [String: String] = [:]
            for (key, member) in members {
                guard case .string(let text) = member else {
                    throw .invalidField(pointer: pointer(name) + "/\(key)", reason: "expected a string")
                }
                map[key] = text
            }
            return map
        default:
            throw .invalidField(pointer: pointer(name), reason: "expected an object of strings")
        }
    }

    /// The images of a field: base64 strings (one, or an array) in JSON; file parts in multipart.
    func images(_ name: String) throws(RequestError) -> [[UInt8]] {
        switch source {
        case .json(let members):
            switch members[name] {
            case nil, .null?: return []
            case .string(let text)?: return [try Self.decodeBase64(text, pointer: pointer(name))]
            case .array(let elements)?:
                var images: [[UInt8]] = []
                for (index, element) in elements.enumerated() {
                    guard case .string(let text) = element else {
                        throw .invalidField(pointer: "\(pointer(name))/\(index)", reason: "expected a base64 string")
                    }
                    images.append(try Self.decodeBase64(text, pointer: "\(pointer(name))/\(index)"))
                }
                return images
            default:
                throw .invalidField(pointer: pointer(name), reason: "expected a base64 string or an array of them")
            }
        case .multipart(let form):
            return form.parts(named: name).map(\.body)
        }
    }

    /// Exactly one image.
    func image(_ name: String) throws(RequestError) -> [UInt8]? {
        let found = try images(name)
        guard found.count <= 1 else { throw .invalidField(pointer: pointer(name), reason: "expected one image, got \(found.count)") }
        return found.first
    }

    /// Exactly one image, required.
    func requiredImage(_ name: String) throws(RequestError) -> [UInt8] {
        guard let image = try image(name) else { throw .invalidField(pointer: pointer(name), reason: "required") }
        return image
    }

    static func decodeBase64(_ text: String, pointer: String) throws(RequestError) -> [UInt8] {
        // Tolerate a data URL prefix and line breaks, which some clients add. Works on UTF-8
        // bytes: images are megabytes of base64, and Character-wise filtering costs tens of ms.
        var bytes = Array(text.utf8)
        if bytes.starts(with: Array("data:".utf8)), let comma = bytes.firstIndex(of: UInt8(ascii: ",")) {
            bytes.removeSubrange(...comma)
        }
        let whitespace: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t")]
        if bytes.contains(where: whitespace.contains) { bytes.removeAll(where: whitespace.contains) }
        guard let data = Data(base64Encoded: Data(bytes)) else {
            throw .invalidField(pointer: pointer, reason: "not valid base64")
        }
        return Array(data)
    }
}
