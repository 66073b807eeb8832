import Foundation
import Testing

@testable import Transparency

/// RFC 9162 trees against the published test vectors of the transparency-dev Merkle library
/// (eight leaves; facts, not code), and against a plain recursive definition on larger trees.
@Suite struct MerkleTreeTests {
    static let leaves: [Data] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .map { Data(hex: $0) }

    /// Root hashes of the trees of 1…8 of those leaves.
    static let roots: [String] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    /// (leaf index, tree size, proof) from the published vectors.
    static let inclusionVectors: [(Int64, Int64, [String])] = [
        (0, 8, [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (5, 8, [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
    ]

    /// (first size, second size, proof) from the published vectors.
    static let consistencyVectors: [(Int64, Int64, [String])] = [
        (1, 8, [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (6, 8, [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 5, [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
        (6, 7, [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
    ]

    /// Builds the stored nodes the way the audit store does: leaf by leaf, each appended leaf
    /// keeping the nodes it completes.
    static func appendAll(_ leafHashes: [Data]) throws -> [MerkleNodeID: Data] {
        var nodes: [MerkleNodeID: Data] = [:]
        for (offset, leaf) in leafHashes.enumerated() {
            let size = Int64(offset)
            let completed = try MerkleTree.append(leaf, to: size, siblings: nodes)
            for (node, hash) in zip(MerkleTree.completed(bySize: size + 1), completed) { nodes[node] = hash }
        }
        return nodes
    }

    /// RFC 9162's MTH, written as the RFC states it, for comparison.
    static func referenceRoot(_ leafHashes: ArraySlice<Data>) -> Data {
        if leafHashes.isEmpty { return MerkleHash.emptyRoot }
        if leafHashes.count == 1 { return leafHashes.first! }
        var split = 1
        while split * 2 < leafHashes.count { split *= 2 }
        let start = leafHashes.startIndex
        return MerkleHash.node(
            referenceRoot(leafHashes[start..<(start + split)]), referenceRoot(leafHashes[(start + split)...]))
    }

    @Test func leafHashesAndRootsMatchThePublishedVectors() throws {
        let nodes = try Self.appendAll(Self.leaves.map { MerkleHash.leaf($0) })
        #expect(nodes[MerkleNodeID(level: 0, index: 0)]?.hexEncoded == Self.roots[0])
        for size in 1...8 {
            let root = try MerkleTree.resolve(try MerkleTree.root(size: Int64(size)), nodes: nodes)
            #expect(root.hexEncoded == Self.roots[size - 1], "size \(size)")
        }
        #expect(MerkleHash.emptyRoot.hexEncoded == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func inclusionProofsMatchThePublishedVectorsAndVerify() throws {
        let leafHashes = Self.leaves.map { MerkleHash.leaf($0) }
        let nodes = try Self.appendAll(leafHashes)
        for (index, size, expected) in Self.inclusionVectors {
            let proof = try MerkleTree.resolve(try MerkleTree.inclusion(index: index, size: size), nodes: nodes)
            #expect(proof.map(\.hexEncoded) == expected, "leaf \(index) of \(size)")
            let root = Data(hex: Self.roots[Int(size) - 1])
            try MerkleVerification.verifyInclusion(
                proof: proof, leafHash: leafHashes[Int(index)], index: index, size: size, root: root)
            // Tampered proofs fail: a flipped bit, a dropped hash, the wrong index.
            var flipped = proof
            flipped[0][0] ^= 8
            #expect(throws: MerkleError.self) {
                try MerkleVerification.verifyInclusion(
                    proof: flipped, leafHash: leafHashes[Int(index)], index: index, size: size, root: root)
            }
            #expect(throws: MerkleError.self) {
                try MerkleVerification.verifyInclusion(
                    proof: Array(proof.dropLast()), leafHash: leafHashes[Int(index)], index: index, size: size, root: root)
            }
            #expect(throws: MerkleError.self) {
                try MerkleVerification.verifyInclusion(
                    proof: proof, leafHash: leafHashes[Int(index)], index: index ^ 1, size: size, root: root)
            }
        }
    }

    @Test func consistencyProofsMatchThePublishedVectorsAndVerify() throws {
        let nodes = try Self.appendAll(Self.leaves.map { MerkleHash.leaf($0) })
        for (first, second, expected) in Self.consistencyVectors {
            let proof = try MerkleTree.resolve(try MerkleTree.consistency(from: first, to: second), nodes: nodes)
            #expect(proof.map(\.hexEncoded) == expected, "\(first) to \(second)")
            let firstRoot = Data(hex: Self.roots[Int(first) - 1])
            let secondRoot = Data(hex: Self.roots[Int(second) - 1])
            try MerkleVerification.verifyConsistency(
                proof: proof, firstSize: first, firstRoot: firstRoot, secondSize: second, secondRoot: secondRoot)
            #expect(throws: MerkleError.self) {
                try MerkleVerification.verifyConsistency(
                    proof: proof, firstSize: first, firstRoot: secondRoot, secondSize: second, secondRoot: firstRoot)
            }
            var flipped = proof
            flipped[flipped.count - 1][0] ^= 16
            #expect(throws: MerkleError.self) {
                try MerkleVerification.verifyConsistency(
                    proof: flipped, firstSize: first, firstRoot: firstRoot, secondSize: second, secondRoot: secondRoot)
            }
        }
        // Going back is never consistent.
        #expect(throws: MerkleError.self) {
            try MerkleVerification.verifyConsistency(
                proof: [], firstSize: 5, firstRoot: Data(hex: Self.roots[4]), secondSize: 4, secondRoot: Data(hex: Self.roots[3]))
        }
    }

    @Test func everyProofOfEveryTreeUpTo70LeavesVerifiesAgainstTheReferenceRoot() throws {
        let leafHashes = (0..<70).map { MerkleHash.leaf(Data("entry \($0)".utf8)) }
        let nodes = try Self.appendAll(leafHashes)
        for size in 1...70 {
            let root = Self.referenceRoot(leafHashes[0..<size])
            #expect(try MerkleTree.resolve(try MerkleTree.root(size: Int64(size)), nodes: nodes) == root)
            for index in 0..<size {
                let proof = try MerkleTree.resolve(try MerkleTree.inclusion(index: Int64(index), size: Int64(size)), nodes: nodes)
                #expect(proof.count <= 7)
                try MerkleVerification.verifyInclusion(
                    proof: proof, leafHash: leafHashes[index], index: Int64(index), size: Int64(size), root: root)
            }
            for first in 1...size {
                let proof = try MerkleTree.resolve(try MerkleTree.consistency(from: Int64(first), to: Int64(size)), nodes: nodes)
                try MerkleVerification.verifyConsistency(
                    proof: proof, firstSize: Int64(first), firstRoot: Self.referenceRoot(leafHashes[0..<first]),
                    secondSize: Int64(size), secondRoot: root)
            }
        }
    }

    @Test func proofsAtTenMillionEntriesAreAtMost25Hashes() throws {
        let size: Int64 = 10_000_000
        for index in [Int64(0), 1, 4_999_999, 8_388_607, 8_388_608, 9_999_999] {
            #expect(try MerkleTree.inclusion(index: index, size: size).count <= 25)
        }
        for first in [Int64(1), 3, 4_194_304, 9_999_998] {
            #expect(try MerkleTree.consistency(from: first, to: size).count <= 25)
        }
        #expect(throws: MerkleError.self) { try MerkleTree.inclusion(index: size, size: size) }
        #expect(throws: MerkleError.self) { try MerkleTree.consistency(from: 2, to: 1) }
    }
}

extension Data {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes)
    }
}
