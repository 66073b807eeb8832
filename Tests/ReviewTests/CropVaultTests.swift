import Crypto
import Foundation
import Gallery
import Imaging
import Installation
import Review
import Testing

@Suite struct CropVaultTests {
    @Test func realCropRoundTripsAndCiphertextHidesIt() async throws {
        let obama = try await Photos.photo("obama")
        let vault = try CropVault(key: SymmetricKey(size: .bits256))
        let binding = CropBinding.template(TemplateRecord.ID(7))
        let sealed = try vault.seal(obama.crop, for: binding)
        #expect(sealed.keyFingerprint == vault.keyFingerprint)
        #expect(sealed.combined.count == 12 + CropVault.plaintextByteCount + 16)
        #expect(try vault.open(sealed, for: binding) == obama.crop)

        // No run of 32 plaintext bytes survives in the ciphertext, and sealing twice gives
        // different bytes (fresh nonces).
        let plaintext = Data(obama.crop.pixels)
        for offset in stride(from: 0, to: plaintext.count - 32, by: 4_096) {
            #expect(!sealed.combined.containsBytes(plaintext[offset..<(offset + 32)]))
        }
        let again = try vault.seal(obama.crop, for: binding)
        #expect(again.combined != sealed.combined)
        #expect(try vault.open(again, for: binding) == obama.crop)
    }

    @Test func anotherKeyIsReportedAsTheWrongKey() async throws {
        let crop = try await Photos.photo("biden").crop
        let sealing = try CropVault(key: SymmetricKey(size: .bits256))
        let other = try CropVault(key: SymmetricKey(size: .bits256))
        #expect(sealing.keyFingerprint != other.keyFingerprint)
        let binding = CropBinding.probe(case: ReviewCase.ID(3), face: 0)
        let sealed = try sealing.seal(crop, for: binding)

        let error = await failure(CropError.self) { try other.open(sealed, for: binding) }
        #expect(error == .wrongKey(binding: binding, sealedWith: sealing.keyFingerprint, vaultKey: other.keyFingerprint))

        // Relabelled with the other key's fingerprint, the cipher itself refuses it.
        let relabelled = SealedCrop(keyFingerprint: other.keyFingerprint, combined: sealed.combined)
        #expect(await failure(CropError.self) { try other.open(relabelled, for: binding) } == .tampered(binding))
    }

    @Test func alteredTruncatedOrMovedCiphertextFails() async throws {
        let crop = try await Photos.photo("obama2").crop
        let vault = try CropVault(key: SymmetricKey(size: .bits256))
        let binding = CropBinding.template(TemplateRecord.ID(41))
        let sealed = try vault.seal(crop, for: binding)

        // One flipped bit anywhere (nonce, body, tag) fails authentication.
        for offset in [0, 11, 12, 20_000, sealed.combined.count - 1] {
            var altered = sealed
            altered.combined[altered.combined.startIndex + offset] ^= 0x01
            #expect(await failure(CropError.self) { try vault.open(altered, for: binding) } == .tampered(binding))
        }
        var truncated = sealed
        truncated.combined.removeLast(16)
        #expect(
            await failure(CropError.self) { try vault.open(truncated, for: binding) }
                == .malformedCiphertext(binding, byteCount: sealed.combined.count - 16))

        // Intact bytes copied onto another row do not open there.
        for elsewhere in [CropBinding.template(TemplateRecord.ID(42)), .probe(case: ReviewCase.ID(41), face: 0)] {
            #expect(await failure(CropError.self) { try vault.open(sealed, for: elsewhere) } == .tampered(elsewhere))
        }
    }

    @Test func onlyAlignedCropsAreSealed() throws {
        let vault = try CropVault(key: SymmetricKey(size: .bits256))
        let error = #expect(throws: CropError.self) {
            try vault.seal(RGBImage(width: 112, height: 96), for: .template(TemplateRecord.ID(1)))
        }
        #expect(error == .invalidCrop(width: 112, height: 96))
        #expect(throws: CropError.self) { try CropVault(key: SymmetricKey(size: .bits128)) }
    }

    @Test func keyFromTheEnvironmentVariable() async throws {
        let keyText = CropVault.generateKeyText()
        let home = Installation(home: URL(filePath: "/nonexistent-biomatch-home"))
        let vault = try CropVault.fromEnvironment([CropVault.environmentKey: " \(keyText)\n"], installation: home)
        #expect(vault.keySource == .environment)
        let direct = try CropVault(key: SymmetricKey(data: try #require(Data(base64Encoded: keyText))))
        #expect(vault.keyFingerprint == direct.keyFingerprint)
        let crop = try await Photos.photo("obama3").crop
        #expect(try direct.open(try vault.seal(crop, for: .template(TemplateRecord.ID(5))), for: .template(TemplateRecord.ID(5))) == crop)

        for (text, reason) in [
            ("not base64!", "not base64"),
            (Data(repeating: 7, count: 16).base64EncodedString(), "decodes to 16 bytes; 32 are needed"),
        ] {
            let error = await failure(CropError.self) {
                try CropVault.fromEnvironment([CropVault.environmentKey: text], installation: home)
            }
            #expect(error == .malformedKey(source: CropVault.environmentKey, reason: reason))
        }
    }

    @Test func keyFileIsCreatedPrivatelyOnceAndReused() async throws {
        try await withTemporaryDirectory { directory in
            let installation = Installation(home: directory)
            let file = directory.appending(path: CropVault.keyFilePath)
            let first = try CropVault.fromEnvironment([:], installation: installation)
            #expect(first.keySource == .file(file, created: true))
            let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let folder = try FileManager.default.attributesOfItem(atPath: file.deletingLastPathComponent().path)
            #expect((folder[.posixPermissions] as? NSNumber)?.intValue == 0o700)

            let second = try CropVault.fromEnvironment([:], installation: installation)
            #expect(second.keySource == .file(file, created: false))
            #expect(second.keyFingerprint == first.keyFingerprint)
            let crop = try await Photos.photo("astronaut").crop
            let binding = CropBinding.template(TemplateRecord.ID(9))
            #expect(try second.open(try first.seal(crop, for: binding), for: binding) == crop)

            // The environment variable wins over the file.
            let fromVariable = try CropVault.fromEnvironment(
                [CropVault.environmentKey: CropVault.generateKeyText()], installation: installation)
            #expect(fromVariable.keyFingerprint != first.keyFingerprint)

            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            #expect(
                await failure(CropError.self) { try CropVault.fromEnvironment([:], installation: installation) }
                    == .insecureKeyFile(path: file.path, mode: 0o644))

            try Data("c2hv\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
            #expect(
                await failure(CropError.self) { try CropVault.fromEnvironment([:], installation: installation) }
                    == .malformedKey(source: file.path, reason: "decodes to 3 bytes; 32 are needed"))
        }
    }

    @Test func processesStartingTogetherAgreeOnOneKey() async throws {
        try await withTemporaryDirectory { directory in
            let installation = Installation(home: directory)
            let vaults = try await withThrowingTaskGroup(of: CropVault.self) { group in
                for _ in 0..<8 {
                    group.addTask { try CropVault.fromEnvironment([:], installation: installation) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(vaults.map(\.keyFingerprint)).count == 1)
            #expect(vaults.filter { $0.keySource == .file(directory.appending(path: CropVault.keyFilePath), created: true) }.count == 1)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.appending(path: "keys").path)
            #expect(leftovers == ["crop.key"])
        }
    }
}
