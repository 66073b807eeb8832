import Foundation
import Governance
import Transparency

/// An inclusion or consistency proof as served: the sizes it is for and its hashes.
public struct AuditProof: Sendable, Hashable {
    /// The leaf index (inclusion) or the first size (consistency).
    public var from: Int64
    /// The tree size the proof leads to.
    public var treeSize: Int64
    /// The hashes, in RFC 9162 order.
    public var hashes: [Data]
}

extension MatcherOperations {
    /// The newest signed checkpoint of the audit log (auditors and admins).
    public func latestAuditCheckpoint(by caller: Caller) async throws(OperationError) -> StoredCheckpoint? {
        try authorize(caller, .readAudit)
        do { return try await auditLog.latestCheckpoint() } catch { throw .governance(error) }
    }

    /// The inclusion proof of the entry at `leafIndex` (its position minus one) in the tree of
    /// `treeSize` entries (auditors and admins).
    public func auditInclusionProof(leafIndex: Int64, treeSize: Int64, by caller: Caller) async throws(OperationError) -> AuditProof {
        try authorize(caller, .readAudit)
        do {
            let hashes = try await auditLog.inclusionProof(leafIndex: leafIndex, treeSize: treeSize)
            return AuditProof(from: leafIndex, treeSize: treeSize, hashes: hashes)
        } catch {
            throw .governance(error)
        }
    }

    /// The consistency proof from the tree of `first` entries to the tree of `second` (auditors
    /// and admins).
    public func auditConsistencyProof(from first: Int64, to second: Int64, by caller: Caller) async throws(OperationError) -> AuditProof {
        try authorize(caller, .readAudit)
        do {
            let hashes = try await auditLog.consistencyProof(from: first, to: second)
            return AuditProof(from: first, treeSize: second, hashes: hashes)
        } catch {
            throw .governance(error)
        }
    }

    /// Signs a checkpoint of the audit tree if entries were added since the newest one (the
    /// checkpoint service and `biomatch audit checkpoint`; no caller: the node itself).
    @discardableResult
    public func makeAuditCheckpoint(signer: NoteSigner) async throws(OperationError) -> StoredCheckpoint? {
        do { return try await auditLog.makeCheckpoint(signer: signer) } catch { throw .governance(error) }
    }

    /// The number of entries in the audit tree.
    public func auditTreeSize() async throws(OperationError) -> Int64 {
        do { return try await auditLog.treeSize() } catch { throw .governance(error) }
    }
}
