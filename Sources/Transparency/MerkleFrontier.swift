import Foundation

/// The right edge of a Merkle tree being built leaf by leaf: the roots of its perfect subtrees,
/// largest first. Enough to know the root at every size while reading a log once, in memory
/// logarithmic in its length.
public struct MerkleFrontier: Sendable, Hashable {
    /// The number of leaves appended.
    public private(set) var size: Int64 = 0
    private var nodes: [(level: Int, hash: Data)] = []

    /// An empty tree.
    public init() {}

    /// Appends a leaf by its leaf hash.
    public mutating func append(leafHash: Data) {
        nodes.append((0, leafHash))
        size += 1
        while nodes.count >= 2, nodes[nodes.count - 1].level == nodes[nodes.count - 2].level {
            let right = nodes.removeLast()
            let left = nodes.removeLast()
            nodes.append((left.level + 1, MerkleHash.node(left.hash, right.hash)))
        }
    }

    /// The root hash at the current size.
    public var root: Data {
        guard var hash = nodes.last?.hash else { return MerkleHash.emptyRoot }
        for node in nodes.dropLast().reversed() {
            hash = MerkleHash.node(node.hash, hash)
        }
        return hash
    }

    public static func == (lhs: MerkleFrontier, rhs: MerkleFrontier) -> Bool {
        lhs.size == rhs.size && lhs.nodes.map(\.hash) == rhs.nodes.map(\.hash)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(size)
        for node in nodes { hasher.combine(node.hash) }
    }
}
