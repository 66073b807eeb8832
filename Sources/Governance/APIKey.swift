import Crypto
import Foundation

/// A stored API key: everything but the secret, which is kept only as its SHA-256.
public struct APIKey: Sendable, Hashable, Identifiable {
    /// A key's identifier: a positive integer assigned in creation order, never reused.
    public struct ID: RawRepresentable, Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }
        /// Wraps a raw identifier.
        public init(_ rawValue: Int64) { self.rawValue = rawValue }
        public static func < (lhs: ID, rhs: ID) -> Bool { lhs.rawValue < rhs.rawValue }
        public var description: String { "key \(rawValue)" }
    }

    /// The key's identifier.
    public var id: ID
    /// Who or what holds the key.
    public var name: String
    /// What the key may do.
    public var role: Role
    /// Which galleries it may do it in.
    public var scope: GalleryScope
    /// When it was created (millisecond precision).
    public var createdAt: Date
    /// When it was revoked, or nil while it is usable.
    public var revokedAt: Date?

    /// Describes a key; ``KeyRegistry`` builds these from stored rows.
    public init(id: ID, name: String, role: Role, scope: GalleryScope, createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.name = name
        self.role = role
        self.scope = scope
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether requests may use the key.
    public var isActive: Bool { revokedAt == nil }

    /// The principal requests made with this key act as.
    public var principal: Principal { Principal(keyID: id, name: name, role: role, scope: scope) }
}

/// A key just created: the only moment its secret exists outside the caller's hands.
public struct IssuedAPIKey: Sendable {
    /// The stored key.
    public let key: APIKey
    /// The secret to hand to its holder, `bm_` followed by 43 base64url characters. Never stored,
    /// never logged, not recoverable: show it once.
    public let secret: String
}

/// The format, generation and hashing of key secrets.
///
/// A secret is `bm_` followed by 256 random bits in unpadded base64url (43 characters). The
/// store keeps SHA-256 of the whole secret's UTF-8 bytes, as lower-case hex; 256 random bits need
/// no salt or slow hash, since guessing them is hopeless either way.
public enum APIKeySecret {
    /// Every secret starts with this.
    public static let prefix = "bm_"
    /// Random bytes in a secret.
    public static let randomByteCount = 32
    /// Characters in a well-formed secret.
    public static let length = prefix.count + 43

    /// A new secret from the system's cryptographic random source.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(randomByteCount)
        for _ in 0..<(randomByteCount / 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return prefix + base64URL(bytes)
    }

    /// Whether `candidate` has the shape of a secret (prefix, length, alphabet), so malformed
    /// input is refused before any lookup.
    public static func isWellFormed(_ candidate: String) -> Bool {
        let utf8 = Array(candidate.utf8)
        guard utf8.count == length, candidate.hasPrefix(prefix) else { return false }
        let body = utf8.dropFirst(prefix.utf8.count)
        // 43 characters carry 258 bits: the last one may only use the 16 values whose low two bits are 0.
        guard body.allSatisfy(isBase64URL), let last = body.last, let value = base64URLValue(last) else { return false }
        return value & 0b11 == 0
    }

    /// SHA-256 of the secret's UTF-8 bytes.
    public static func digest(of secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(secret.utf8)))
    }

    /// Compares two digests in time that depends only on their length, so a caller cannot learn
    /// from response times how much of a guess matched.
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static func isBase64URL(_ byte: UInt8) -> Bool { base64URLValue(byte) != nil }

    private static func base64URLValue(_ byte: UInt8) -> UInt8? {
        alphabet.firstIndex(of: byte).map { UInt8($0) }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal.
    var hexadecimal: String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(count * 2)
        for byte in self {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Bytes from lower- or upper-case hexadecimal, or nil if `text` is not hexadecimal.
    init?(hexadecimal text: String) {
        let characters = Array(text.utf8)
        guard characters.count.isMultiple(of: 2) else { return nil }
        func nibble(_ character: UInt8) -> UInt8? {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}
