import Foundation

/// Checks RFC 9162 proofs (§2.1.3.2 and §2.1.4.2) with nothing but the hashes: what a client, an
/// auditor or a witness runs.
public enum MerkleVerification {
    /// The root that `proof` leads to from leaf `index` of a tree of `size` leaves.
    public static func root(
        fromInclusionProof proof: [Data], leafHash: Data, index: Int64, size: Int64
    ) throws(MerkleError) -> Data {
        guard index >= 0, index < size else { throw .outOfRange("leaf \(index) is not in a tree of \(size)") }
        try checkSizes(proof + [leafHash])
        var node = index
        var last = size - 1
        var hash = leafHash
        for sibling in proof {
            guard last != 0 else { throw .proofFailed("the inclusion proof is longer than the tree is deep") }
            if node & 1 == 1 || node == last {
                hash = MerkleHash.node(sibling, hash)
                if node & 1 == 0 {
                    while node & 1 == 0 && node != 0 {
                        node >>= 1
                        last >>= 1
                    }
                }
            } else {
                hash = MerkleHash.node(hash, sibling)
            }
            node >>= 1
            last >>= 1
        }
        guard last == 0 else { throw .proofFailed("the inclusion proof is shorter than the tree is deep") }
        return hash
    }

    /// Throws unless `proof` shows leaf `leafHash` at `index` in the tree of `size` with `root`.
    public static func verifyInclusion(
        proof: [Data], leafHash: Data, index: Int64, size: Int64, root: Data
    ) throws(MerkleError) {
        let computed = try Self.root(fromInclusionProof: proof, leafHash: leafHash, index: index, size: size)
        guard computed == root else { throw .proofFailed("leaf \(index) does not lead to the root of size \(size)") }
    }

    /// Throws unless `proof` shows the tree of `firstSize` with `firstRoot` is a prefix of the
    /// tree of `secondSize` with `secondRoot`.
    public static func verifyConsistency(
        proof: [Data], firstSize: Int64, firstRoot: Data, secondSize: Int64, secondRoot: Data
    ) throws(MerkleError) {
        guard firstSize >= 0, firstSize <= secondSize else {
            throw .outOfRange("size \(firstSize) is larger than size \(secondSize): the log went back")
        }
        if firstSize == secondSize {
            guard proof.isEmpty else { throw .proofFailed("a proof between equal sizes must be empty") }
            guard firstRoot == secondRoot else { throw .proofFailed("two different roots for size \(firstSize)") }
            return
        }
        if firstSize == 0 {
            guard proof.isEmpty else { throw .proofFailed("a proof from the empty tree must be empty") }
            return
        }
        guard !proof.isEmpty else { throw .proofFailed("the consistency proof is empty") }
        try checkSizes(proof)
        var path = proof
        if firstSize & (firstSize - 1) == 0 {
            path.insert(firstRoot, at: 0)
        }
        var node = firstSize - 1
        var last = secondSize - 1
        while node & 1 == 1 {
            node >>= 1
            last >>= 1
        }
        var firstHash = path[0]
        var secondHash = path[0]
        for hash in path.dropFirst() {
            guard last != 0 else { throw .proofFailed("the consistency proof is too long") }
            if node & 1 == 1 || node == last {
                firstHash = MerkleHash.node(hash, firstHash)
                secondHash = MerkleHash.node(hash, secondHash)
                if node & 1 == 0 {
                    while node & 1 == 0 && node != 0 {
                        node >>= 1
                        last >>= 1
                    }
                }
            } else {
                secondHash = MerkleHash.node(secondHash, hash)
            }
            node >>= 1
            last >>= 1
        }
        guard last == 0 else { throw .proofFailed("the consistency proof is too short") }
        guard firstHash == firstRoot else {
            throw .proofFailed("the proof does not lead to the root of size \(firstSize): that tree is not a prefix")
        }
        guard secondHash == secondRoot else {
            throw .proofFailed("the proof does not lead to the root of size \(secondSize)")
        }
    }

    private static func checkSizes(_ hashes: [Data]) throws(MerkleError) {
        guard hashes.allSatisfy({ $0.count == MerkleHash.size }) else {
            throw .proofFailed("a hash is not \(MerkleHash.size) bytes")
        }
    }
}
