import Foundation
import Gallery
import Transparency

/// A signed checkpoint as the log keeps it.
public struct StoredCheckpoint: Sendable, Hashable {
    /// The checkpoint.
    public var checkpoint: Checkpoint
    /// The signed note, as served and verified.
    public var note: String
    /// When it was made.
    public var createdAt: Date
}

/// Where the log's checkpoint signing key comes from: the environment variable
/// `BIOMATCH_AUDIT_SIGNING_KEY` (the signer key text) or a file only its owner can read.
public enum AuditSigningKey {
    /// The environment variable holding the signer key text.
    public static let environmentVariable = "BIOMATCH_AUDIT_SIGNING_KEY"
    /// The file's name in the data folder when no other is given.
    public static let defaultFileName = "audit-signing.key"

    /// Reads the key from the environment, else from `file`.
    public static func load(
        file: URL, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(GovernanceError) -> NoteSigner {
        if let text = environment[environmentVariable], !text.isEmpty {
            do {
                return try NoteSigner(encoded: text)
            } catch {
                throw .signingKeyUnavailable(reason: "\(environmentVariable): \(error)")
            }
        }
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        } catch {
            throw .signingKeyUnavailable(reason: "no key in \(environmentVariable) and none at \(file.path)")
        }
        if let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0 {
            throw .signingKeyUnavailable(
                reason: "\(file.path) is readable by others (mode \(String(permissions, radix: 8))); chmod 600 it")
        }
        do {
            return try NoteSigner(encoded: try String(contentsOf: file, encoding: .utf8))
        } catch let error as NoteError {
            throw .signingKeyUnavailable(reason: "\(file.path): \(error)")
        } catch {
            throw .signingKeyUnavailable(reason: "\(file.path) cannot be read: \(error.localizedDescription)")
        }
    }

    /// Reads the key from the environment or `file`, creating a new one named `origin` in `file`
    /// (mode 0600) when there is none.
    public static func loadOrCreate(
        file: URL, origin: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(GovernanceError) -> NoteSigner {
        if environment[environmentVariable]?.isEmpty == false || FileManager.default.fileExists(atPath: file.path) {
            return try load(file: file, environment: environment)
        }
        do {
            let signer = try NoteSigner.generate(name: origin)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard
                FileManager.default.createFile(
                    atPath: file.path, contents: Data((signer.encoded + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw GovernanceError.signingKeyUnavailable(reason: "cannot create \(file.path)")
            }
            return signer
        } catch let error as GovernanceError {
            throw error
        } catch {
            throw .signingKeyUnavailable(reason: "cannot create a key at \(file.path): \(error)")
        }
    }
}

extension AuditLog {
    /// Signs and keeps a checkpoint of the whole tree, unless the newest one already covers it;
    /// returns the newest checkpoint either way (nil only for an empty log).
    @discardableResult
    public func makeCheckpoint(signer: NoteSigner, now: Date = Date()) async throws(GovernanceError) -> StoredCheckpoint? {
        let head = try await treeHead()
        let latest = try await latestCheckpoint()
        if let latest, latest.checkpoint.size >= head.size { return latest }
        guard head.size > 0 else { return nil }
        let checkpoint = Checkpoint(origin: signer.verifier.name, size: head.size, rootHash: head.rootHash)
        let note: SignedNote
        do {
            note = SignedNote(text: checkpoint.text, signatures: [try signer.signature(for: checkpoint.text)])
        } catch {
            throw .signingKeyUnavailable(reason: "signing failed: \(error)")
        }
        let size = head.size
        let record = CompanionRecord(table: GovernanceSchema.checkpointsTable, sequenceColumn: "tree_size") { context in
            if case .integer(let previous)? = context.previousRow?["tree_size"], previous >= size {
                throw GovernanceError.invalidProofRequest(reason: "a checkpoint of size \(previous) was made meanwhile")
            }
            return [
                "tree_size": .integer(size), "root_hash": .text(head.rootHash.hexEncoded), "note": .text(note.serialised),
                "created_at_ms": .integer(Self.milliseconds(now)),
            ]
        }
        do {
            try await store.appendRecords([record])
        } catch {
            if case .invalidProofRequest = Self.unwrap(error) { return try await latestCheckpoint() }
            throw Self.unwrap(error)
        }
        return StoredCheckpoint(
            checkpoint: checkpoint, note: note.serialised,
            createdAt: Date(timeIntervalSince1970: Double(Self.milliseconds(now)) / 1000))
    }

    /// The newest checkpoint, or nil if none was made yet.
    public func latestCheckpoint() async throws(GovernanceError) -> StoredCheckpoint? {
        let row: StoreRow?
        do {
            row = try await store.lastRecord(in: GovernanceSchema.checkpointsTable, matching: [:], orderedBy: "tree_size")
        } catch {
            throw .store(error)
        }
        return try row.map(Self.checkpoint(from:))
    }

    /// Checkpoints with a tree size above `after`, oldest first.
    public func checkpoints(after: Int64? = nil, limit: Int = 1_000) async throws(GovernanceError) -> [StoredCheckpoint] {
        let rows: [StoreRow]
        do {
            rows = try await store.records(
                in: GovernanceSchema.checkpointsTable, orderedBy: "tree_size", after: after, limit: limit)
        } catch {
            throw .store(error)
        }
        var checkpoints: [StoredCheckpoint] = []
        for row in rows { checkpoints.append(try Self.checkpoint(from: row)) }
        return checkpoints
    }

    private static func checkpoint(from row: StoreRow) throws(GovernanceError) -> StoredCheckpoint {
        guard case .text(let note)? = row["note"], case .integer(let created)? = row["created_at_ms"] else {
            throw .malformedRow(table: GovernanceSchema.checkpointsTable, reason: "no note or time")
        }
        do {
            let parsed = try SignedNote(parsing: note)
            return StoredCheckpoint(
                checkpoint: try Checkpoint(text: parsed.text), note: note,
                createdAt: Date(timeIntervalSince1970: Double(created) / 1000))
        } catch {
            throw .malformedRow(table: GovernanceSchema.checkpointsTable, reason: error.description)
        }
    }
}
