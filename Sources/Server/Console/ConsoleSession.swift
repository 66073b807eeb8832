import Foundation
import Governance
import Hummingbird

/// The console's sign-in: the API key kept in a cookie that is `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page can make the browser send it, which is what keeps
/// another site from posting decisions) and `Path=/console`. Only console routes read it: the
/// `/v1` API authenticates from headers alone, so the cookie never works as an API credential.
enum ConsoleSession {
    /// The cookie's name.
    static let cookieName = "biomatch_console"
    /// Where the console lives, and the cookie's path.
    static let basePath = "/console"

    /// The `Set-Cookie` value that signs `key` in for this browser session.
    static func signInCookie(key: String) -> String {
        "\(cookieName)=\(encode(key)); Path=\(basePath); HttpOnly; SameSite=Strict"
    }

    /// The `Set-Cookie` value that signs out (the browser drops the cookie at once).
    static let signOutCookie = "\(cookieName)=; Path=\(basePath); HttpOnly; SameSite=Strict; Max-Age=0"

    /// The key the request's cookie holds, if any.
    static func presentedKey(in headers: HTTPFields) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName else { continue }
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value.removingPercentEncoding
            }
        }
        return nil
    }

    /// The signed-in caller, or nil when there is no cookie or its key no longer authenticates
    /// (revoked since sign-in: the next page shows the sign-in form).
    static func principal(for request: Request, keys: KeyRegistry) async -> Principal? {
        guard let key = presentedKey(in: request.headers) else { return nil }
        return try? await keys.authenticate(key)
    }

    private static func encode(_ key: String) -> String {
        key.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? ""
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, as an HTML form posts them.
struct URLEncodedForm {
    let fields: [String: String]

    init(_ bytes: [UInt8]) {
        var fields: [String: String] = [:]
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            // The first value wins: the console's forms never repeat a field.
            if fields[name] == nil { fields[name] = parts.count == 2 ? Self.decode(parts[1]) : "" }
        }
        self.fields = fields
    }

    subscript(_ name: String) -> String? { fields[name] }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
