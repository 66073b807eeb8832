import Foundation
import Gallery
import Transparency

/// The RFC 9162 Merkle tree over the audit log, kept in `audit_tree` in the same transaction as
/// each entry.
///
/// Leaf `i` (from 0) is the entry at position `i + 1`, and its leaf hash is SHA-256(0x00 ||
/// the UTF-8 bytes of the entry's export line, see ``AuditExport``). The row at `position`
/// holds, as one blob of 32-byte hashes, every perfect subtree that leaf completes, lowest first
/// (the leaf hash, then one node per trailing zero bit of `position`). So each node of the tree
/// is stored exactly once, a new leaf reads only its left siblings (one row on average), and any
/// root or proof is a handful of rows read by key.
public enum AuditTree {
    /// The tree's table: `position` (as in `audit_log`) and `nodes`.
    public static let table = "audit_tree"

    /// The leaf hash of an entry.
    public static func leafHash(of entry: AuditEntry) -> Data {
        MerkleHash.leaf(Data(AuditExport.line(for: entry).utf8))
    }

    static func leafHash(of row: AuditRow) -> Data {
        MerkleHash.leaf(Data(row.exportLine.utf8))
    }

    /// The position and leaf hash the audit row's builder hands to the tree row's builder.
    typealias Leaf = LockedValue<TreeLeaf>

    struct TreeLeaf: Sendable {
        var position: Int64
        var hash: Data
    }

    /// The tree row that follows the audit row `leaf` receives, in the same transaction.
    static func companion(for leaf: Leaf) -> CompanionRecord {
        companion { () throws(GovernanceError) -> TreeLeaf in
            guard let value = leaf.value else {
                throw .auditTreeInconsistent(reason: "the audit row was not built before its tree row")
            }
            return value
        }
    }

    /// The tree row of a leaf known before the transaction (completing the tree of entries
    /// written before it existed).
    static func companion(position: Int64, hash: Data) -> CompanionRecord {
        companion { () throws(GovernanceError) -> TreeLeaf in TreeLeaf(position: position, hash: hash) }
    }

    private static func companion(leaf: @escaping @Sendable () throws(GovernanceError) -> TreeLeaf) -> CompanionRecord {
        var record = CompanionRecord(table: table, sequenceColumn: "position") { context in
            let leaf = try leaf()
            let size = leaf.position - 1
            try checkPrevious(context.previousRow, size: size)
            var siblings: [MerkleNodeID: Data] = [:]
            for node in MerkleTree.leftSiblings(appendingTo: size) {
                guard let row = context.earlierRows[node.completingSize], let hash = try? Self.hash(of: node, in: row) else {
                    throw GovernanceError.auditTreeInconsistent(reason: "\(node) is missing")
                }
                siblings[node] = hash
            }
            let hashes = try MerkleTree.append(leaf.hash, to: size, siblings: siblings)
            return ["position": .integer(leaf.position), "nodes": .blob(hashes.reduce(Data(), +))]
        }
        record.lookback = { _ in
            let size = try leaf().position - 1
            return MerkleTree.leftSiblings(appendingTo: size).map(\.completingSize)
        }
        return record
    }

    /// Refuses to append leaf `size + 1` unless the tree holds exactly `size` leaves.
    private static func checkPrevious(_ previous: StoreRow?, size: Int64) throws(GovernanceError) {
        var treeSize: Int64 = 0
        if let previous {
            guard case .integer(let position)? = previous["position"] else {
                throw .malformedRow(table: table, reason: "no position")
            }
            treeSize = position
        }
        guard treeSize == size else {
            throw .auditTreeInconsistent(
                reason: "the tree holds \(treeSize) leaves but the log \(size) entries before this one; "
                    + "open the store with `biomatch` once to complete it")
        }
    }

    /// The stored hash of `node` in the row of its completing size.
    static func hash(of node: MerkleNodeID, in row: StoreRow) throws(GovernanceError) -> Data {
        guard case .blob(let blob)? = row["nodes"] else {
            throw .malformedRow(table: table, reason: "no nodes")
        }
        let start = node.level * MerkleHash.size
        guard blob.count >= start + MerkleHash.size else {
            throw .auditTreeInconsistent(reason: "the row at \(node.completingSize) lacks level \(node.level)")
        }
        let base = blob.startIndex
        return Data(blob[(base + start)..<(base + start + MerkleHash.size)])
    }
}

/// A tree size and its root hash.
public struct AuditTreeHead: Sendable, Hashable {
    /// The number of entries.
    public var size: Int64
    /// The Merkle root over them.
    public var rootHash: Data
}

extension AuditLog {
    /// The number of entries the tree covers (normally every entry in the log).
    public func treeSize() async throws(GovernanceError) -> Int64 {
        let last: StoreRow?
        do {
            last = try await store.lastRecord(in: AuditTree.table, matching: [:], orderedBy: "position")
        } catch {
            throw .store(error)
        }
        guard let last else { return 0 }
        guard case .integer(let position)? = last["position"] else {
            throw .malformedRow(table: AuditTree.table, reason: "no position")
        }
        return position
    }

    /// The tree head at `size` (default: the whole tree).
    public func treeHead(size: Int64? = nil) async throws(GovernanceError) -> AuditTreeHead {
        let current = try await treeSize()
        let size = size ?? current
        guard size >= 0, size <= current else {
            throw .invalidProofRequest(reason: "tree size \(size) is not between 0 and the log's \(current)")
        }
        guard size > 0 else { return AuditTreeHead(size: 0, rootHash: MerkleHash.emptyRoot) }
        let recipe: MerkleHashRecipe
        do {
            recipe = try MerkleTree.root(size: size)
        } catch {
            throw .invalidProofRequest(reason: error.description)
        }
        return AuditTreeHead(size: size, rootHash: try await resolve([recipe])[0])
    }

    /// The inclusion proof of leaf `leafIndex` (the entry at position `leafIndex + 1`) in the tree
    /// of `treeSize` entries: at most ⌈log2 size⌉ hashes, leaf side first.
    public func inclusionProof(leafIndex: Int64, treeSize: Int64) async throws(GovernanceError) -> [Data] {
        try await checkSize(treeSize)
        let recipes: [MerkleHashRecipe]
        do {
            recipes = try MerkleTree.inclusion(index: leafIndex, size: treeSize)
        } catch {
            throw .invalidProofRequest(reason: error.description)
        }
        return try await resolve(recipes)
    }

    /// The consistency proof from the tree of `first` entries to the tree of `second`.
    public func consistencyProof(from first: Int64, to second: Int64) async throws(GovernanceError) -> [Data] {
        try await checkSize(second)
        let recipes: [MerkleHashRecipe]
        do {
            recipes = try MerkleTree.consistency(from: first, to: second)
        } catch {
            throw .invalidProofRequest(reason: error.description)
        }
        return try await resolve(recipes)
    }

    /// Adds tree rows for entries written before the tree existed (or by a node that did not keep
    /// it), so the tree covers the whole log again; returns how many it added. Safe to run on
    /// several nodes at once: a row is only appended after the one before it.
    @discardableResult
    public func completeTree(batchSize: Int = 1_000) async throws(GovernanceError) -> Int {
        var added = 0
        while true {
            let size = try await treeSize()
            let rows = try await self.rows(after: size, limit: batchSize)
            if rows.isEmpty { return added }
            let records = rows.map { row in AuditTree.companion(position: row.position, hash: AuditTree.leafHash(of: row)) }
            do {
                try await store.appendRecords(records)
            } catch {
                let unwrapped = Self.unwrap(error)
                // Another node completed the same rows first: read the new size and go on.
                if case .auditTreeInconsistent = unwrapped { continue }
                throw unwrapped
            }
            added += rows.count
        }
    }

    private func checkSize(_ size: Int64) async throws(GovernanceError) {
        let current = try await treeSize()
        guard size > 0, size <= current else {
            throw .invalidProofRequest(reason: "tree size \(size) is not between 1 and the log's \(current)")
        }
    }

    /// The hashes the recipes describe, reading their nodes in one query.
    func resolve(_ recipes: [MerkleHashRecipe]) async throws(GovernanceError) -> [Data] {
        let nodes = MerkleTree.nodes(of: recipes)
        let positions = Array(Set(nodes.map(\.completingSize))).sorted()
        let rows: [StoreRow]
        do {
            rows = try await store.records(in: AuditTree.table, keyColumn: "position", keys: positions)
        } catch {
            throw .store(error)
        }
        var byPosition: [Int64: StoreRow] = [:]
        for row in rows {
            if case .integer(let position)? = row["position"] { byPosition[position] = row }
        }
        var hashes: [MerkleNodeID: Data] = [:]
        for node in nodes {
            guard let row = byPosition[node.completingSize] else {
                throw .auditTreeInconsistent(reason: "no tree row at position \(node.completingSize)")
            }
            hashes[node] = try AuditTree.hash(of: node, in: row)
        }
        do {
            return try MerkleTree.resolve(recipes, nodes: hashes)
        } catch {
            throw .auditTreeInconsistent(reason: error.description)
        }
    }
}
