import Foundation

/// A log checkpoint (C2SP tlog-checkpoint): the origin, the tree size and the root hash, as the
/// note text `<origin>\n<size>\n<base64 root>\n`, signed by the log.
public struct Checkpoint: Sendable, Hashable, CustomStringConvertible {
    /// The log's name, unique among logs (say `biomatch.example/audit`).
    public var origin: String
    /// The number of entries.
    public var size: Int64
    /// The Merkle tree's root hash at that size.
    public var rootHash: Data

    /// A checkpoint.
    public init(origin: String, size: Int64, rootHash: Data) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
    }

    /// Reads a checkpoint from note text (extension lines after the third are ignored).
    public init(text: String) throws(NoteError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard text.hasSuffix("\n"), lines.count >= 4, !lines[0].isEmpty,
            let size = Int64(lines[1]), size >= 0, String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == MerkleHash.size
        else {
            throw .malformed("a checkpoint is '<origin>\\n<decimal size>\\n<base64 32-byte root>\\n'")
        }
        self.init(origin: String(lines[0]), size: size, rootHash: root)
    }

    /// The note text.
    public var text: String { "\(origin)\n\(size)\n\(rootHash.base64EncodedString())\n" }

    public var description: String { "\(origin) size \(size) root \(rootHash.hexEncoded)" }

    /// Reads a signed checkpoint and checks it carries `verifier`'s signature.
    public static func verified(_ serialised: String, by verifier: NoteVerifier) throws(NoteError) -> (Checkpoint, SignedNote) {
        let note = try SignedNote(parsing: serialised)
        try verifier.verify(note)
        let checkpoint = try Checkpoint(text: note.text)
        guard checkpoint.origin == verifier.name else {
            throw .unverified("the checkpoint's origin '\(checkpoint.origin)' is not the key's name '\(verifier.name)'")
        }
        return (checkpoint, note)
    }
}
