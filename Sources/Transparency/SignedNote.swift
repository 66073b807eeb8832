import Crypto
import Foundation

/// Errors reading or checking signed notes, keys and checkpoints.
public enum NoteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Text that is not a signed note, key or checkpoint (why).
    case malformed(String)
    /// No signature by the expected key verifies.
    case unverified(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed: \(reason)"
        case .unverified(let reason): "not verified: \(reason)"
        }
    }
}

/// A signature line of a signed note (C2SP signed-note): `— <name> base64(key ID || signature)`.
public struct NoteSignature: Sendable, Hashable {
    /// The signer's key name.
    public var name: String
    /// The 4-byte key ID followed by the signature bytes.
    public var payload: Data

    /// A signature line's parts.
    public init(name: String, payload: Data) {
        self.name = name
        self.payload = payload
    }

    /// The key ID: the payload's first four bytes.
    public var keyID: Data { payload.prefix(4) }

    /// The line, without its newline.
    public var line: String { "\u{2014} \(name) \(payload.base64EncodedString())" }
}

/// A note (text ending in a newline) and its signatures, in the C2SP signed-note format: the
/// text, an empty line, then one signature line each.
public struct SignedNote: Sendable, Hashable {
    /// The signed text, ending in a newline.
    public var text: String
    /// The signatures, in order.
    public var signatures: [NoteSignature]

    /// A note with its signatures.
    public init(text: String, signatures: [NoteSignature]) {
        self.text = text
        self.signatures = signatures
    }

    /// Reads a serialised note.
    public init(parsing serialised: String) throws(NoteError) {
        guard let split = serialised.range(of: "\n\n", options: .backwards) else {
            throw .malformed("a signed note needs an empty line between its text and its signatures")
        }
        text = String(serialised[..<split.lowerBound]) + "\n"
        let block = serialised[split.upperBound...]
        guard block.hasSuffix("\n") else { throw .malformed("the signature block must end in a newline") }
        signatures = []
        for line in block.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("\u{2014} ") else { throw .malformed("a signature line must start with an em dash and a space") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, let payload = Data(base64Encoded: String(fields[1])),
                payload.count > 4
            else {
                throw .malformed("a signature line must be '\u{2014} <name> <base64 key ID and signature>'")
            }
            signatures.append(NoteSignature(name: String(fields[0]), payload: payload))
        }
        guard !signatures.isEmpty else { throw .malformed("a signed note needs at least one signature") }
        guard !text.contains("\n\n"), !text.isEmpty else { throw .malformed("the note text has an empty line") }
    }

    /// The text, an empty line and the signature lines.
    public var serialised: String {
        text + "\n" + signatures.map { $0.line + "\n" }.joined()
    }
}

/// How a key signs: a note signature (type 0x01, the log's checkpoints) or a timestamped
/// cosignature (type 0x04, C2SP tlog-cosignature, a witness's).
public enum NoteKeyType: UInt8, Sendable, Hashable {
    /// Ed25519 over the note text.
    case ed25519 = 0x01
    /// Ed25519 over `cosignature/v1`, a time line and the note text.
    case cosignatureV1 = 0x04
}

/// A public key that checks note signatures, with its name: the verifier key text
/// `<name>+<hex key ID>+<base64(type || public key)>`.
public struct NoteVerifier: Sendable, Hashable {
    /// The key name, which signature lines carry.
    public var name: String
    /// The signature type.
    public var type: NoteKeyType
    /// The Ed25519 public key.
    public var publicKey: Data

    /// A verifier for a public key.
    public init(name: String, type: NoteKeyType, publicKey: Data) throws(NoteError) {
        try Self.checkName(name)
        guard publicKey.count == 32 else { throw .malformed("an Ed25519 public key has 32 bytes") }
        self.name = name
        self.type = type
        self.publicKey = publicKey
    }

    /// Reads verifier key text.
    public init(encoded: String) throws(NoteError) {
        // Base64 may hold '+': the key is everything after the second separator.
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let key = Data(base64Encoded: String(parts[2])), key.count == 33,
            let type = NoteKeyType(rawValue: key[key.startIndex])
        else {
            throw .malformed("a verifier key is '<name>+<hex key ID>+<base64 of the type byte and the 32-byte key>'")
        }
        try self.init(name: String(parts[0]), type: type, publicKey: key.dropFirst())
        guard parts[1] == keyID.hexEncoded else { throw .malformed("the verifier key's ID does not match its key") }
    }

    /// The 4-byte key ID: SHA-256(name || "\n" || type || public key)[:4].
    public var keyID: Data {
        var hasher = SHA256()
        hasher.update(data: Data(name.utf8) + [0x0A, type.rawValue])
        hasher.update(data: publicKey)
        return Data(hasher.finalize().prefix(4))
    }

    /// The verifier key text.
    public var encoded: String {
        "\(name)+\(keyID.hexEncoded)+\((Data([type.rawValue]) + publicKey).base64EncodedString())"
    }

    /// Whether `signature` is this key's over `text` (for a cosignature, the time it carries is
    /// part of what is signed and is returned in ``CosignatureTime``).
    public func verifies(_ signature: NoteSignature, of text: String) -> Bool {
        guard signature.name == name, signature.keyID == keyID,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        let body = signature.payload.dropFirst(4)
        switch type {
        case .ed25519:
            return body.count == 64 && key.isValidSignature(body, for: Data(text.utf8))
        case .cosignatureV1:
            guard body.count == 72 else { return false }
            let time = body.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return key.isValidSignature(body.dropFirst(8), for: Cosignature.message(text: text, time: time))
        }
    }

    /// Throws unless one of the note's signatures is this key's.
    public func verify(_ note: SignedNote) throws(NoteError) {
        guard note.signatures.contains(where: { verifies($0, of: note.text) }) else {
            throw .unverified("no signature by '\(name)' (key ID \(keyID.hexEncoded)) verifies")
        }
    }

    static func checkName(_ name: String) throws(NoteError) {
        guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw .malformed("a key name is non-empty, without spaces or '+'")
        }
    }
}

/// A private key that signs notes (or cosigns checkpoints), kept as the signer key text
/// `PRIVATE+KEY+<name>+<hex key ID>+<base64(type || 32-byte seed)>`.
public struct NoteSigner: Sendable {
    /// The key's public half, with its name.
    public let verifier: NoteVerifier
    private let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key.
    public static func generate(name: String, type: NoteKeyType = .ed25519) throws(NoteError) -> NoteSigner {
        let key = Curve25519.Signing.PrivateKey()
        return NoteSigner(verifier: try NoteVerifier(name: name, type: type, publicKey: key.publicKey.rawRepresentation), key: key)
    }

    /// Reads signer key text.
    public init(encoded: String) throws(NoteError) {
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
            let material = Data(base64Encoded: String(parts[4])), material.count == 33,
            let type = NoteKeyType(rawValue: material[material.startIndex]),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: material.dropFirst())
        else {
            throw .malformed("a signer key is 'PRIVATE+KEY+<name>+<hex key ID>+<base64 of the type byte and the 32-byte seed>'")
        }
        let verifier = try NoteVerifier(name: String(parts[2]), type: type, publicKey: key.publicKey.rawRepresentation)
        guard parts[3] == verifier.keyID.hexEncoded else { throw .malformed("the signer key's ID does not match its key") }
        self.init(verifier: verifier, key: key)
    }

    private init(verifier: NoteVerifier, key: Curve25519.Signing.PrivateKey) {
        self.verifier = verifier
        self.privateKey = key
    }

    /// The signer key text (secret: keep it in a 0600 file).
    public var encoded: String {
        let material = Data([verifier.type.rawValue]) + privateKey.rawRepresentation
        return "PRIVATE+KEY+\(verifier.name)+\(verifier.keyID.hexEncoded)+\(material.base64EncodedString())"
    }

    /// This key's signature line for `text` (a cosignature is made at `time`, seconds since 1970).
    public func signature(for text: String, time: UInt64 = UInt64(Date().timeIntervalSince1970)) throws(NoteError) -> NoteSignature {
        do {
            switch verifier.type {
            case .ed25519:
                let signature = try privateKey.signature(for: Data(text.utf8))
                return NoteSignature(name: verifier.name, payload: verifier.keyID + signature)
            case .cosignatureV1:
                let signature = try privateKey.signature(for: Cosignature.message(text: text, time: time))
                var timeBytes = Data(count: 8)
                for offset in 0..<8 { timeBytes[offset] = UInt8(truncatingIfNeeded: time >> UInt64(56 - 8 * offset)) }
                return NoteSignature(name: verifier.name, payload: verifier.keyID + timeBytes + signature)
            }
        } catch {
            throw .unverified("signing failed: \(error)")
        }
    }
}

/// The C2SP tlog-cosignature v1 signed message.
public enum Cosignature {
    /// `cosignature/v1\ntime <time>\n` followed by the note text.
    public static func message(text: String, time: UInt64) -> Data {
        Data("cosignature/v1\ntime \(time)\n\(text)".utf8)
    }

    /// The time a cosignature line carries (seconds since 1970), or nil if it is not one.
    public static func time(of signature: NoteSignature) -> UInt64? {
        let body = signature.payload.dropFirst(4)
        guard body.count == 72 else { return nil }
        return body.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}

extension Data {
    /// Lower-case hex.
    public var hexEncoded: String {
        map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }
}
