import Crypto
import Foundation

/// RFC 9162 §2.1 hashing: the domain-separated leaf and interior hashes of a Merkle tree.
public enum MerkleHash {
    /// SHA-256(0x00 || entry).
    public static func leaf(_ entry: some DataProtocol) -> Data {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: entry)
        return Data(hasher.finalize())
    }

    /// SHA-256(0x01 || left || right).
    public static func node(_ left: Data, _ right: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Data(hasher.finalize())
    }

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot = Data(SHA256.hash(data: Data()))

    /// The size of every hash.
    public static let size = 32
}

/// A perfect subtree: `2^level` leaves starting at leaf `index << level`.
///
/// Such a node never changes once its last leaf is appended, so a store can keep it with that
/// leaf: it is written when the tree reaches ``completingSize``.
public struct MerkleNodeID: Hashable, Sendable, CustomStringConvertible {
    /// The height: 0 for a leaf.
    public var level: Int
    /// The position among the nodes of that level, from 0.
    public var index: Int64

    /// Names a node.
    public init(level: Int, index: Int64) {
        self.level = level
        self.index = index
    }

    /// The tree size at which the node's last leaf is appended.
    public var completingSize: Int64 { (index + 1) << Int64(level) }

    public var description: String { "node(\(level), \(index))" }
}

/// A hash computed from perfect subtrees, left to right: `H(n0, H(n1, … H(nk-1, nk)))`, the way
/// RFC 9162 hashes a range whose start is aligned to its largest perfect part.
public struct MerkleHashRecipe: Hashable, Sendable {
    /// The perfect subtrees covering the range, left to right (never empty).
    public var nodes: [MerkleNodeID]
}

/// Errors of tree arithmetic and proofs.
public enum MerkleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A leaf index outside the tree, or sizes in the wrong order.
    case outOfRange(String)
    /// A node a recipe needs was not supplied.
    case missingNode(MerkleNodeID)
    /// A proof that does not lead to the expected root (what failed).
    case proofFailed(String)

    public var description: String {
        switch self {
        case .outOfRange(let reason): "out of range: \(reason)"
        case .missingNode(let node): "the tree lacks \(node)"
        case .proofFailed(let reason): "proof failed: \(reason)"
        }
    }
}

/// The arithmetic of an append-only Merkle tree (RFC 9162 §2.1) whose perfect subtrees are
/// stored by ``MerkleNodeID``: which nodes a root or a proof needs, and how to append a leaf.
public enum MerkleTree {
    /// The perfect subtrees covering leaves `start..<end`, greedily from the left.
    public static func cover(_ start: Int64, _ end: Int64) -> [MerkleNodeID] {
        var nodes: [MerkleNodeID] = []
        var position = start
        while position < end {
            var level = 0
            while position & ((1 << Int64(level + 1)) - 1) == 0 && position + (1 << Int64(level + 1)) <= end {
                level += 1
            }
            nodes.append(MerkleNodeID(level: level, index: position >> Int64(level)))
            position += 1 << Int64(level)
        }
        return nodes
    }

    /// The recipe of the root of a tree of `size` leaves (`size` > 0).
    public static func root(size: Int64) throws(MerkleError) -> MerkleHashRecipe {
        guard size > 0 else { throw .outOfRange("the empty tree has no nodes (its root is SHA-256 of nothing)") }
        return MerkleHashRecipe(nodes: cover(0, size))
    }

    /// The recipes of RFC 9162's inclusion proof of leaf `index` in a tree of `size` leaves.
    public static func inclusion(index: Int64, size: Int64) throws(MerkleError) -> [MerkleHashRecipe] {
        guard index >= 0, index < size else { throw .outOfRange("leaf \(index) is not in a tree of \(size)") }
        var proof: [MerkleHashRecipe] = []
        var start: Int64 = 0
        var end = size
        // Walk down from the root, collecting the sibling of each step; the proof lists them
        // from the leaf upwards.
        while end - start > 1 {
            let split = largestPowerOfTwo(below: end - start)
            if index - start < split {
                proof.append(MerkleHashRecipe(nodes: cover(start + split, end)))
                end = start + split
            } else {
                proof.append(MerkleHashRecipe(nodes: cover(start, start + split)))
                start += split
            }
        }
        return proof.reversed()
    }

    /// The recipes of RFC 9162's consistency proof from a tree of `first` leaves to one of
    /// `second` (empty when `first` is 0 or equal to `second`).
    public static func consistency(from first: Int64, to second: Int64) throws(MerkleError) -> [MerkleHashRecipe] {
        guard first >= 0, first <= second else { throw .outOfRange("size \(first) is not within size \(second)") }
        guard first > 0, first < second else { return [] }
        var proof: [MerkleHashRecipe] = []
        var remaining = first
        var start: Int64 = 0
        var end = second
        var startsAtOldRoot = true
        while remaining != end - start {
            let split = largestPowerOfTwo(below: end - start)
            if remaining <= split {
                proof.append(MerkleHashRecipe(nodes: cover(start + split, end)))
                end = start + split
            } else {
                proof.append(MerkleHashRecipe(nodes: cover(start, start + split)))
                remaining -= split
                start += split
                startsAtOldRoot = false
            }
        }
        if !startsAtOldRoot {
            proof.append(MerkleHashRecipe(nodes: cover(start, end)))
        }
        return proof.reversed()
    }

    /// Every node the recipes need, for reading them from a store in one go.
    public static func nodes(of recipes: [MerkleHashRecipe]) -> Set<MerkleNodeID> {
        Set(recipes.flatMap(\.nodes))
    }

    /// The hashes the recipes describe, from the supplied nodes.
    public static func resolve(_ recipes: [MerkleHashRecipe], nodes: [MerkleNodeID: Data]) throws(MerkleError) -> [Data] {
        var hashes: [Data] = []
        hashes.reserveCapacity(recipes.count)
        for recipe in recipes {
            hashes.append(try resolve(recipe, nodes: nodes))
        }
        return hashes
    }

    /// The hash one recipe describes.
    public static func resolve(_ recipe: MerkleHashRecipe, nodes: [MerkleNodeID: Data]) throws(MerkleError) -> Data {
        guard let last = recipe.nodes.last else { throw .outOfRange("an empty recipe") }
        guard var hash = nodes[last] else { throw .missingNode(last) }
        for node in recipe.nodes.dropLast().reversed() {
            guard let left = nodes[node] else { throw .missingNode(node) }
            hash = MerkleHash.node(left, hash)
        }
        return hash
    }

    /// The nodes that leaf number `size` (from 1) completes, lowest first: the leaf itself, then
    /// one node per trailing zero bit of `size`.
    public static func completed(bySize size: Int64) -> [MerkleNodeID] {
        (0...size.trailingZeroBitCount).map { level in MerkleNodeID(level: level, index: (size >> Int64(level)) - 1) }
    }

    /// The earlier nodes appending a leaf to a tree of `size` leaves combines with (its left
    /// siblings, lowest first).
    public static func leftSiblings(appendingTo size: Int64) -> [MerkleNodeID] {
        let levels = (size + 1).trailingZeroBitCount
        return (0..<levels).map { level in MerkleNodeID(level: level, index: (size >> Int64(level)) - 1) }
    }

    /// The hashes of the nodes leaf `leafHash` completes when appended to a tree of `size`
    /// leaves (see ``completed(bySize:)``), given its ``leftSiblings(appendingTo:)``.
    public static func append(
        _ leafHash: Data, to size: Int64, siblings: [MerkleNodeID: Data]
    ) throws(MerkleError) -> [Data] {
        var hashes = [leafHash]
        for sibling in leftSiblings(appendingTo: size) {
            guard let left = siblings[sibling] else { throw .missingNode(sibling) }
            hashes.append(MerkleHash.node(left, hashes[hashes.count - 1]))
        }
        return hashes
    }

    static func largestPowerOfTwo(below value: Int64) -> Int64 {
        // value > 1 here.
        var power: Int64 = 1
        while power << 1 < value { power <<= 1 }
        return power
    }
}
