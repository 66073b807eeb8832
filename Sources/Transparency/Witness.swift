import Foundation

/// What a witness holds for one log: the newest checkpoint it accepted, with its cosignature.
public struct WitnessRecord: Codable, Sendable, Hashable {
    /// The log's origin.
    public var origin: String
    /// The accepted tree size.
    public var size: Int64
    /// Its root hash, base64.
    public var rootHash: String
    /// The log's signed note with this witness's cosignature added.
    public var cosignedNote: String
    /// When it was accepted (seconds since 1970).
    public var acceptedAt: UInt64
}

/// Why a witness refuses a checkpoint: each is an alarm.
public enum WitnessAlarm: Error, Sendable, Hashable, CustomStringConvertible {
    /// The log's signature does not verify, or the note is not a checkpoint.
    case badCheckpoint(source: String, reason: String)
    /// The log showed a smaller tree than one already accepted.
    case rollback(source: String, accepted: Int64, shown: Int64)
    /// The log showed a tree that is not an extension of the accepted one (or a second root for
    /// the same size): two histories exist.
    case fork(source: String, accepted: Int64, shown: Int64, reason: String)

    public var description: String {
        switch self {
        case .badCheckpoint(let source, let reason):
            "BAD CHECKPOINT from \(source): \(reason)"
        case .rollback(let source, let accepted, let shown):
            "ROLLBACK: \(source) shows tree size \(shown), smaller than the accepted \(accepted)"
        case .fork(let source, let accepted, let shown, let reason):
            "FORK: the tree of size \(shown) from \(source) is not consistent with the accepted tree of size \(accepted): \(reason)"
        }
    }
}

/// The checks a witness makes (C2SP tlog-witness semantics): a new checkpoint is accepted and
/// cosigned only if the log signed it and a consistency proof shows it extends the last accepted
/// one.
public struct WitnessPolicy: Sendable {
    /// The log's public key (its name is the checkpoint origin).
    public var logKey: NoteVerifier
    /// The witness's own cosigning key.
    public var witnessKey: NoteSigner

    /// A policy.
    public init(logKey: NoteVerifier, witnessKey: NoteSigner) {
        self.logKey = logKey
        self.witnessKey = witnessKey
    }

    /// Checks `note` (from `source`) against `accepted`; returns the new record to keep (the same
    /// one when the log has not grown). `proof(from, to)` fetches a consistency proof from the log.
    public func check(
        _ note: String, from source: String, accepted: WitnessRecord?, now: UInt64 = UInt64(Date().timeIntervalSince1970),
        proof: (_ from: Int64, _ to: Int64) async throws -> [Data]
    ) async throws(WitnessAlarm) -> WitnessRecord {
        let checkpoint: Checkpoint
        let signed: SignedNote
        do {
            (checkpoint, signed) = try Checkpoint.verified(note, by: logKey)
        } catch {
            throw .badCheckpoint(source: source, reason: error.description)
        }
        if let accepted {
            guard let acceptedRoot = Data(base64Encoded: accepted.rootHash) else {
                throw .badCheckpoint(source: "the witness's own state", reason: "the accepted root is not base64")
            }
            if checkpoint.size < accepted.size {
                throw .rollback(source: source, accepted: accepted.size, shown: checkpoint.size)
            }
            if checkpoint.size == accepted.size {
                guard checkpoint.rootHash == acceptedRoot else {
                    throw .fork(source: source, accepted: accepted.size, shown: checkpoint.size, reason: "a second root for the same size")
                }
                return accepted
            }
            try await requireConsistency(
                from: (accepted.size, acceptedRoot), to: checkpoint, source: source, proof: proof)
        }
        let cosignature: NoteSignature
        do {
            cosignature = try witnessKey.signature(for: signed.text, time: now)
        } catch {
            throw .badCheckpoint(source: source, reason: "cosigning failed: \(error)")
        }
        let cosigned = SignedNote(text: signed.text, signatures: signed.signatures + [cosignature])
        return WitnessRecord(
            origin: checkpoint.origin, size: checkpoint.size, rootHash: checkpoint.rootHash.base64EncodedString(),
            cosignedNote: cosigned.serialised, acceptedAt: now)
    }

    /// Cross-checks a checkpoint another witness cosigned (gossip) against the accepted one: the
    /// smaller must be a prefix of the larger, by a consistency proof from the log.
    public func crossCheck(
        _ note: String, from source: String, accepted: WitnessRecord,
        proof: (_ from: Int64, _ to: Int64) async throws -> [Data]
    ) async throws(WitnessAlarm) {
        let checkpoint: Checkpoint
        do {
            (checkpoint, _) = try Checkpoint.verified(note, by: logKey)
        } catch {
            throw .badCheckpoint(source: source, reason: error.description)
        }
        guard let acceptedRoot = Data(base64Encoded: accepted.rootHash) else {
            throw .badCheckpoint(source: "the witness's own state", reason: "the accepted root is not base64")
        }
        let mine = Checkpoint(origin: accepted.origin, size: accepted.size, rootHash: acceptedRoot)
        if checkpoint.size == mine.size {
            guard checkpoint.rootHash == mine.rootHash else {
                throw .fork(source: source, accepted: mine.size, shown: checkpoint.size, reason: "a second root for the same size")
            }
        } else if checkpoint.size > mine.size {
            try await requireConsistency(from: (mine.size, mine.rootHash), to: checkpoint, source: source, proof: proof)
        } else {
            try await requireConsistency(
                from: (checkpoint.size, checkpoint.rootHash), to: mine, source: source, proof: proof)
        }
    }

    private func requireConsistency(
        from old: (size: Int64, root: Data), to new: Checkpoint, source: String,
        proof: (_ from: Int64, _ to: Int64) async throws -> [Data]
    ) async throws(WitnessAlarm) {
        let hashes: [Data]
        do {
            hashes = try await proof(old.size, new.size)
        } catch {
            throw .fork(source: source, accepted: old.size, shown: new.size, reason: "no consistency proof: \(error)")
        }
        do {
            try MerkleVerification.verifyConsistency(
                proof: hashes, firstSize: old.size, firstRoot: old.root, secondSize: new.size, secondRoot: new.rootHash)
        } catch {
            throw .fork(source: source, accepted: old.size, shown: new.size, reason: error.description)
        }
    }
}
