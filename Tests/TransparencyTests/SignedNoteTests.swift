import Foundation
import Testing

@testable import Transparency

@Suite struct SignedNoteTests {
    @Test func aCheckpointSignsVerifiesAndRoundTripsThroughText() throws {
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        let checkpoint = Checkpoint(origin: "biomatch.test/audit", size: 42, rootHash: MerkleHash.leaf(Data("x".utf8)))
        let note = SignedNote(text: checkpoint.text, signatures: [try signer.signature(for: checkpoint.text)])
        let serialised = note.serialised
        #expect(serialised.hasPrefix("biomatch.test/audit\n42\n"))
        #expect(serialised.contains("\n\n\u{2014} biomatch.test/audit "))
        let verifier = try NoteVerifier(encoded: signer.verifier.encoded)
        let (read, _) = try Checkpoint.verified(serialised, by: verifier)
        #expect(read == checkpoint)
        // The key text round-trips; another key, or a changed size, does not verify.
        #expect(try NoteSigner(encoded: signer.encoded).verifier == signer.verifier)
        let other = try NoteSigner.generate(name: "biomatch.test/audit")
        #expect(throws: NoteError.self) { try Checkpoint.verified(serialised, by: other.verifier) }
        let forged = serialised.replacingOccurrences(of: "\n42\n", with: "\n43\n")
        #expect(throws: NoteError.self) { try Checkpoint.verified(forged, by: verifier) }
    }

    @Test func keyTextRoundTripsWhateverCharactersItsBase64Holds() throws {
        // Base64 holds '+', the separator of key text: 40 random keys make that near certain.
        var sawPlus = false
        for _ in 0..<40 {
            let signer = try NoteSigner.generate(name: "biomatch.test/audit")
            sawPlus = sawPlus || signer.encoded.dropFirst("PRIVATE+KEY+".count).filter { $0 == "+" }.count > 2
            #expect(try NoteSigner(encoded: signer.encoded).verifier == signer.verifier)
            #expect(try NoteVerifier(encoded: signer.verifier.encoded) == signer.verifier)
        }
        #expect(sawPlus)
    }

    @Test func theKeyIDIsTheFirstFourBytesOfTheHashOfNameTypeAndKey() throws {
        let verifier = try NoteVerifier(name: "n", type: .ed25519, publicKey: Data(repeating: 7, count: 32))
        var input = Data("n\n".utf8)
        input.append(1)
        input.append(Data(repeating: 7, count: 32))
        #expect(verifier.keyID == Data(MerkleHash.leaf(Data()).prefix(0)) + Data(sha256(input).prefix(4)))
        #expect(verifier.encoded.hasPrefix("n+\(verifier.keyID.hexEncoded)+AQcH"))
    }

    @Test func aCosignatureCarriesItsTimeAndVerifiesOnlyForThatText() throws {
        let witness = try NoteSigner.generate(name: "witness.test/w1", type: .cosignatureV1)
        let text = Checkpoint(origin: "log", size: 3, rootHash: MerkleHash.emptyRoot).text
        let signature = try witness.signature(for: text, time: 1_700_000_000)
        #expect(Cosignature.time(of: signature) == 1_700_000_000)
        #expect(witness.verifier.verifies(signature, of: text))
        #expect(!witness.verifier.verifies(signature, of: text + "extra\n"))
        let parsed = try SignedNote(parsing: SignedNote(text: text, signatures: [signature]).serialised)
        try witness.verifier.verify(parsed)
    }

    @Test func malformedNotesAndKeysAreRefused() {
        #expect(throws: NoteError.self) { try SignedNote(parsing: "no signatures\n") }
        #expect(throws: NoteError.self) { try SignedNote(parsing: "text\n\n- name AAAA\n") }
        #expect(throws: NoteError.self) { try NoteVerifier(encoded: "name+00000000+notbase64") }
        #expect(throws: NoteError.self) { try NoteSigner(encoded: "PRIVATE+KEY+name+00000000+AQ==") }
        #expect(throws: NoteError.self) { try Checkpoint(text: "origin\n-1\nAAAA\n") }
        #expect(throws: NoteError.self) { try Checkpoint(text: "origin\n007\n\(MerkleHash.emptyRoot.base64EncodedString())\n") }
    }
}

import Crypto

private func sha256(_ data: Data) -> Data { Data(SHA256.hash(data: data)) }
