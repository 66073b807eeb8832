import Crypto
import Foundation
import Gallery
import Imaging
import Installation

/// What a sealed crop belongs to. Its text is the AES-GCM authenticated data, so a ciphertext
/// only opens for the row it was sealed for: a crop copied onto another template's or case's
/// row fails as ``CropError/tampered(_:)``.
public enum CropBinding: Sendable, Hashable, CustomStringConvertible {
    /// The aligned crop an enrolled template was computed from.
    case template(TemplateRecord.ID)
    /// Face `face` (0-based) of the probe of review case `case`.
    case probe(case: ReviewCase.ID, face: Int)
    /// An enrolment image of a subject, by the SHA-256 of its bytes (kept for re-templating).
    case enrolmentImage(subject: SubjectRecord.ID, sha256: String)

    /// `template:<id>` or `probe:<case>:<face>`.
    public var description: String {
        switch self {
        case .template(let id): "template:\(id.rawValue)"
        case .probe(let reviewCase, let face): "probe:\(reviewCase.rawValue):\(face)"
        case .enrolmentImage(let subject, let sha256): "image:\(subject.rawValue):\(sha256)"
        }
    }

    /// The authenticated data: a format tag, then the binding.
    var authenticatedData: Data {
        switch self {
        case .template, .probe: Data("biomatch-crop-v1|rgb8-112x112|\(description)".utf8)
        case .enrolmentImage: Data("biomatch-image-v1|encoded|\(description)".utf8)
        }
    }
}

/// A crop as stored: AES-256-GCM `nonce ‖ ciphertext ‖ tag` and the fingerprint of the key that
/// sealed it.
public struct SealedCrop: Sendable, Hashable {
    /// ``CropVault/keyFingerprint`` of the sealing key.
    public var keyFingerprint: String
    /// 12-byte nonce, the ciphertext (as long as the plaintext) and the 16-byte tag.
    public var combined: Data

    /// A stored crop from its parts.
    public init(keyFingerprint: String, combined: Data) {
        self.keyFingerprint = keyFingerprint
        self.combined = combined
    }
}

/// Where a vault's key came from (for logs and `/health`; never the key itself).
public enum CropKeySource: Sendable, Hashable, CustomStringConvertible {
    /// The `BIOMATCH_CROP_KEY` environment variable.
    case environment
    /// A key file; `created` is true when this call generated it.
    case file(URL, created: Bool)
    /// A key handed to ``CropVault/init(key:)``.
    case supplied

    public var description: String {
        switch self {
        case .environment: "environment variable \(CropVault.environmentKey)"
        case .file(let url, let created): "key file \(url.path)\(created ? " (created)" : "")"
        case .supplied: "supplied key"
        }
    }
}

/// Seals and opens aligned 112x112 face crops with AES-256-GCM (swift-crypto).
///
/// The plaintext is the crop's raw RGB bytes (112 × 112 × 3 = 37,632); each seal draws a fresh
/// random 96-bit nonce, which is safe for far more crops than a gallery holds (the limit for
/// random nonces under one key is about 2^32 messages). The authenticated data names what the
/// crop belongs to (``CropBinding``).
///
/// **Configuration** (``fromEnvironment(_:installation:)``), first match wins:
/// 1. `BIOMATCH_CROP_KEY`: 32 bytes in standard base64 (`openssl rand -base64 32`).
/// 2. The key file `$BIOMATCH_HOME/keys/crop.key` (base64, one line), created on first use with
///    mode 0600 in a 0700 folder; a key file readable by group or others is refused.
///
/// Losing the key makes every stored crop unreadable (templates and search are unaffected).
public struct CropVault: Sendable {
    /// The side of an aligned crop, in pixels.
    public static let cropSide = 112
    /// The bytes of a crop's plaintext.
    public static let plaintextByteCount = cropSide * cropSide * 3
    /// The environment variable holding the key.
    public static let environmentKey = "BIOMATCH_CROP_KEY"
    /// The key file's path below the installation's home folder.
    public static let keyFilePath = "keys/crop.key"

    private static let nonceByteCount = 12
    private static let tagByteCount = 16

    private let key: SymmetricKey
    /// The first 8 bytes of SHA-256 over a domain tag and the key, in hex: names the key in
    /// stored rows without revealing it, so a crop sealed under another key is reported as such.
    public let keyFingerprint: String
    /// Where the key came from.
    public let keySource: CropKeySource

    /// A vault on a 256-bit key. Throws ``CropError/malformedKey(source:reason:)`` for other sizes.
    public init(key: SymmetricKey) throws(CropError) {
        try self.init(key: key, source: .supplied)
    }

    init(key: SymmetricKey, source: CropKeySource) throws(CropError) {
        guard key.bitCount == 256 else {
            throw .malformedKey(source: source.description, reason: "the key has \(key.bitCount) bits; 256 are needed")
        }
        self.key = key
        self.keySource = source
        var hasher = SHA256()
        hasher.update(data: Data("biomatch-crop-key-v1".utf8))
        key.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        keyFingerprint = hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The vault the environment configures; see the type's documentation for the keys read.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        installation: Installation = .fromEnvironment()
    ) throws(CropError) -> CropVault {
        if let encoded = environment[environmentKey] {
            return try CropVault(key: CropKeyFile.decode(encoded, source: environmentKey), source: .environment)
        }
        let file = installation.home.appending(path: keyFilePath)
        let (key, created) = try CropKeyFile.loadOrCreate(at: file)
        return try CropVault(key: key, source: .file(file, created: created))
    }

    /// Encodes a new random 256-bit key as base64, for `BIOMATCH_CROP_KEY` or a key file.
    public static func generateKeyText() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Seals a 112x112 crop for `binding`.
    public func seal(_ crop: RGBImage, for binding: CropBinding) throws(CropError) -> SealedCrop {
        guard crop.width == Self.cropSide, crop.height == Self.cropSide else {
            throw .invalidCrop(width: crop.width, height: crop.height)
        }
        do {
            let box = try AES.GCM.seal(crop.pixels, using: key, authenticating: binding.authenticatedData)
            // Always present for the default 12-byte nonce.
            guard let combined = box.combined else { throw CropError.malformedCiphertext(binding, byteCount: 0) }
            return SealedCrop(keyFingerprint: keyFingerprint, combined: combined)
        } catch let error as CropError {
            throw error
        } catch {
            throw .encryptionFailed(reason: "\(error)")
        }
    }

    /// Seals encoded image bytes (an enrolment image as supplied) for `binding`.
    public func seal(bytes: [UInt8], for binding: CropBinding) throws(CropError) -> SealedCrop {
        do {
            let box = try AES.GCM.seal(bytes, using: key, authenticating: binding.authenticatedData)
            guard let combined = box.combined else { throw CropError.malformedCiphertext(binding, byteCount: 0) }
            return SealedCrop(keyFingerprint: keyFingerprint, combined: combined)
        } catch let error as CropError {
            throw error
        } catch {
            throw .encryptionFailed(reason: "\(error)")
        }
    }

    /// Opens bytes sealed by ``seal(bytes:for:)``, with the same errors as ``open(_:for:)``.
    public func openBytes(_ sealed: SealedCrop, for binding: CropBinding) throws(CropError) -> [UInt8] {
        guard sealed.keyFingerprint == keyFingerprint else {
            throw .wrongKey(binding: binding, sealedWith: sealed.keyFingerprint, vaultKey: keyFingerprint)
        }
        guard sealed.combined.count >= Self.nonceByteCount + Self.tagByteCount else {
            throw .malformedCiphertext(binding, byteCount: sealed.combined.count)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.combined)
            return [UInt8](try AES.GCM.open(box, using: key, authenticating: binding.authenticatedData))
        } catch {
            throw .tampered(binding)
        }
    }

    /// Opens a crop sealed for `binding`. Throws ``CropError/wrongKey(binding:sealedWith:vaultKey:)``
    /// when another key sealed it, ``CropError/tampered(_:)`` when the bytes were changed or
    /// belong to another binding, ``CropError/malformedCiphertext(_:byteCount:)`` when they
    /// cannot be a sealed crop at all.
    public func open(_ sealed: SealedCrop, for binding: CropBinding) throws(CropError) -> RGBImage {
        guard sealed.keyFingerprint == keyFingerprint else {
            throw .wrongKey(binding: binding, sealedWith: sealed.keyFingerprint, vaultKey: keyFingerprint)
        }
        let expected = Self.nonceByteCount + Self.plaintextByteCount + Self.tagByteCount
        guard sealed.combined.count == expected else {
            throw .malformedCiphertext(binding, byteCount: sealed.combined.count)
        }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.combined)
            plaintext = try AES.GCM.open(box, using: key, authenticating: binding.authenticatedData)
        } catch {
            throw .tampered(binding)
        }
        return RGBImage(width: Self.cropSide, height: Self.cropSide, pixels: [UInt8](plaintext))
    }
}

/// Why a crop could not be sealed or opened, or the crop key could not be loaded.
public enum CropError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configured key is not 32 bytes of base64 (`source` names the variable or file).
    case malformedKey(source: String, reason: String)
    /// The key file or its folder could not be read or created.
    case keyFileUnavailable(path: String, reason: String)
    /// The key file may be read by group or others (its mode is shown in octal).
    case insecureKeyFile(path: String, mode: UInt16)
    /// The crop was sealed under another key than the vault's.
    case wrongKey(binding: CropBinding, sealedWith: String, vaultKey: String)
    /// Authentication failed: the stored bytes were altered, or belong to another binding.
    case tampered(CropBinding)
    /// The stored bytes are not the size of a sealed crop.
    case malformedCiphertext(CropBinding, byteCount: Int)
    /// Only 112x112 crops are sealed.
    case invalidCrop(width: Int, height: Int)
    /// The cipher itself failed.
    case encryptionFailed(reason: String)

    public var description: String {
        switch self {
        case .malformedKey(let source, let reason):
            "the crop key from \(source) is malformed: \(reason)"
        case .keyFileUnavailable(let path, let reason):
            "the crop key file \(path) is unavailable: \(reason)"
        case .insecureKeyFile(let path, let mode):
            "the crop key file \(path) has mode \(String(mode, radix: 8)); it must not be readable by group or others (chmod 600)"
        case .wrongKey(let binding, let sealedWith, let vaultKey):
            "the crop for \(binding) was sealed with key \(sealedWith), not the configured key \(vaultKey)"
        case .tampered(let binding):
            "the crop for \(binding) failed authentication: it was altered or belongs elsewhere"
        case .malformedCiphertext(let binding, let byteCount):
            "the stored crop for \(binding) has \(byteCount) bytes, which is not a sealed 112x112 crop"
        case .invalidCrop(let width, let height):
            "crops must be 112x112 aligned faces, got \(width)x\(height)"
        case .encryptionFailed(let reason):
            "AES-GCM failed: \(reason)"
        }
    }
}
