import Foundation
import Transparency

/// What checking a log against signed checkpoints found.
public struct CheckpointVerification: Sendable, CustomStringConvertible {
    /// The entries read.
    public var entries: Int64
    /// The root over them.
    public var rootHash: Data
    /// The checkpoints the log matched, by size.
    public var matched: [Int64]
    /// What broke, or nil when every checkpoint matched.
    public var failure: String?

    /// Whether every checkpoint matched.
    public var isIntact: Bool { failure == nil }

    public var description: String {
        if let failure { return "BROKEN: \(failure)" }
        return "intact: \(entries) entries, root \(rootHash.hexEncoded), matches the signed checkpoints of sizes "
            + matched.map(String.init).joined(separator: ", ")
    }
}

/// Checks an audit log, read once from its first entry, against checkpoints the log signed
/// earlier: each checkpoint's signature by the log's public key, and its root against the Merkle
/// root of the log's first `size` entries. Needs no database: an export and the checkpoints are
/// enough. It catches what the hash chain alone cannot: a history rewritten and re-hashed from
/// scratch, and newest entries dropped.
public struct AuditCheckpointVerifier: Sendable {
    private var pending: [Checkpoint]
    private var frontier = MerkleFrontier()
    private var matched: [Int64] = []
    private var lastMatched: Int64 = 0
    private var failure: String?

    /// A verifier for these signed checkpoints (notes) under `key`; throws if one does not verify.
    public init(checkpoints notes: [String], key: NoteVerifier) throws(NoteError) {
        var checkpoints: [Checkpoint] = []
        for note in notes {
            checkpoints.append(try Checkpoint.verified(note, by: key).0)
        }
        pending = checkpoints.sorted { $0.size < $1.size }
    }

    /// Reads the next entry, by its export line (entries must come in order from the first).
    public mutating func consume(exportLine line: some StringProtocol) {
        guard failure == nil else { return }
        frontier.append(leafHash: MerkleHash.leaf(Data(line.utf8)))
        while let next = pending.first, next.size == frontier.size {
            pending.removeFirst()
            if next.rootHash == frontier.root {
                matched.append(next.size)
                lastMatched = next.size
            } else {
                failure = "the first \(next.size) entries do not have the root the log signed at that size ("
                    + "\(next.rootHash.hexEncoded), they give \(frontier.root.hexEncoded)): the history between entries "
                    + "\(lastMatched + 1) and \(next.size) was changed or rewritten"
                return
            }
        }
        while let next = pending.first, next.size == 0 {
            pending.removeFirst()
        }
    }

    /// The outcome after the last entry.
    public func finish() -> CheckpointVerification {
        var failure = failure
        if failure == nil, let missing = pending.first {
            failure = "the log holds \(frontier.size) entries but the log signed a checkpoint of \(missing.size): "
                + "the newest \(missing.size - frontier.size) or more entries were dropped"
        }
        return CheckpointVerification(entries: frontier.size, rootHash: frontier.root, matched: matched, failure: failure)
    }

    /// Checks export lines (skipping empty ones) against the checkpoints.
    public static func verify(
        exportLines lines: some Sequence<some StringProtocol>, checkpoints: [String], key: NoteVerifier
    ) throws(NoteError) -> CheckpointVerification {
        var verifier = try AuditCheckpointVerifier(checkpoints: checkpoints, key: key)
        for line in lines where !line.allSatisfy(\.isWhitespace) {
            verifier.consume(exportLine: line)
        }
        return verifier.finish()
    }
}
