#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// A `multipart/form-data` body (RFC 7578) split into its parts.
///
/// Only what the API needs: parts named by `Content-Disposition: form-data; name=...`, an
/// optional filename and content type. The parser works on the collected body, which the body
/// limit already bounds, and refuses bodies with too many parts.
struct MultipartForm: Sendable {
    /// One part of the form.
    struct Part: Sendable {
        /// The form field's name.
        var name: String
        /// The file name, for file parts.
        var filename: String?
        /// The part's `Content-Type`, lower-cased, if stated.
        var contentType: String?
        /// The part's bytes.
        var body: [UInt8]

        /// The body as UTF-8 text.
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// The parts in the order sent.
    var parts: [Part]

    /// The most parts accepted.
    static let maximumParts = 64
    /// The longest header block of one part, in bytes.
    static let maximumHeaderBytes = 8 * 1024

    /// Every part with this name, in order.
    func parts(named name: String) -> [Part] { parts.filter { $0.name == name } }

    /// The text of the only part with this name; nil if absent; an error if repeated.
    func text(_ name: String) throws(RequestError) -> String? {
        let matching = parts(named: name)
        guard matching.count <= 1 else { throw .invalidField(pointer: "#\(name)", reason: "given more than once") }
        return matching.first?.text
    }

    /// Parses `body` with the boundary from the `Content-Type` header.
    init(body: [UInt8], boundary: String) throws(RequestError) {
        guard !boundary.isEmpty, boundary.utf8.count <= 70 else {
            throw .malformedMultipart(reason: "the boundary is missing or longer than 70 characters")
        }
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = Array("\r\n--\(boundary)".utf8)
        // The first boundary may open the body directly or follow a preamble.
        guard let first = Self.find(dashBoundary, in: body, from: 0),
            first == 0 || Self.find(delimiter, in: body, from: 0).map({ $0 + 2 == first }) == true
        else {
            throw .malformedMultipart(reason: "the body does not start with the boundary")
        }
        var position = first + dashBoundary.count
        var parts: [Part] = []
        while true {
            // After a boundary: "--" closes the body, CRLF opens a part.
            if Self.hasPrefix([0x2D, 0x2D], in: body, at: position) { break }
            position = Self.skipTransportPadding(body, from: position)
            guard Self.hasPrefix([0x0D, 0x0A], in: body, at: position) else {
                throw .malformedMultipart(reason: "a boundary is not followed by a line break")
            }
            position += 2
            // A part without headers has no name, which form-data requires.
            if Self.hasPrefix([0x0D, 0x0A], in: body, at: position) {
                throw .malformedMultipart(reason: "a part has no form-data name")
            }
            guard let headerEnd = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: position, limit: Self.maximumHeaderBytes)
            else {
                throw .malformedMultipart(reason: "a part's headers do not end")
            }
            let headers = Array(body[position..<headerEnd])
            let contentStart = headerEnd + 4
            guard let contentEnd = Self.find(delimiter, in: body, from: contentStart) else {
                throw .malformedMultipart(reason: "the body ends inside a part (no closing boundary)")
            }
            parts.append(try Self.part(headers: headers, body: Array(body[contentStart..<contentEnd])))
            guard parts.count <= Self.maximumParts else {
                throw .malformedMultipart(reason: "more than \(Self.maximumParts) parts")
            }
            position = contentEnd + delimiter.count
        }
        self.parts = parts
    }

    private static func part(headers: [UInt8], body: [UInt8]) throws(RequestError) -> Part {
        var name: String?
        var filename: String?
        var contentType: String?
        let text = String(decoding: headers, as: UTF8.self)
        for line in text.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else {
                throw .malformedMultipart(reason: "a part header has no colon")
            }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            switch field {
            case "content-disposition":
                guard let parsed = IncomingBody.parseMediaType("x/" + value), parsed.type == "x/form-data" else {
                    throw .malformedMultipart(reason: "a part's Content-Disposition is not form-data")
                }
                name = parsed.parameters["name"]
                filename = parsed.parameters["filename"]
            case "content-type":
                contentType = IncomingBody.parseMediaType(value)?.type
            default:
                break
            }
        }
        guard let name, !name.isEmpty else {
            throw .malformedMultipart(reason: "a part has no form-data name")
        }
        return Part(name: name, filename: filename, contentType: contentType, body: body)
    }

    private static func skipTransportPadding(_ body: [UInt8], from start: Int) -> Int {
        var position = start
        while position < body.count, body[position] == 0x20 || body[position] == 0x09 { position += 1 }
        return position
    }

    private static func hasPrefix(_ prefix: [UInt8], in body: [UInt8], at position: Int) -> Bool {
        guard position >= 0, position + prefix.count <= body.count else { return false }
        for offset in prefix.indices where body[position + offset] != prefix[offset] { return false }
        return true
    }

    /// The first position at or after `start` where `needle` occurs, looking no further than
    /// `limit` bytes past `start` when given.
    private static func find(_ needle: [UInt8], in body: [UInt8], from start: Int, limit: Int? = nil) -> Int? {
        guard let firstByte = needle.first, start >= 0 else { return nil }
        let end = min(body.count - needle.count, limit.map { start + $0 } ?? Int.max)
        guard start <= end else { return nil }
        return body.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            var position = start
            while position <= end {
                // memchr finds candidates for the first byte many bytes at a time (an image part
                // is hundreds of kilobytes); each is then compared in full.
                guard let found = memchr(base + position, Int32(firstByte), end - position + 1) else { return nil }
                position = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                var matched = true
                for offset in 1..<needle.count where buffer[position + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return position }
                position += 1
            }
            return nil
        }
    }
}
