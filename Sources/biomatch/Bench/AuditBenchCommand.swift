import ArgumentParser
import Foundation
import Gallery
import Governance
import Transparency

/// `biomatch bench audit`: what the audit log's Merkle tree costs. An enrolment's store time
/// with no audit entry, with the hash-chained entry alone, and with the entry and its tree row;
/// and inclusion and consistency proofs built from a tree of --proof-size entries in a real
/// SQLite store.
struct AuditBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Cost of the audit log's Merkle tree: enrolment store time with and without it; proofs at 10M entries.",
        discussion: """
            Three fresh SQLite galleries (WAL, synchronous=FULL) take --enrolments synthetic subjects \
            each, in turns of 50: with no companion record, with the chained audit entry alone (the \
            log before the tree), and with the entry and its tree row (today). Each store time is \
            the enrol call, commit included; medians are reported. Then a store's tree is filled with \
            --proof-size leaves, and random inclusion and consistency proofs at that size are built \
            through the store (one indexed read each) and checked. The last line is JSON.
            """
    )

    @Option(help: "Enrolments per variant.") var enrolments = 1_500
    @Option(help: "Leaves in the tree the proofs are built from.") var proofSize: Int64 = 10_000_000
    @Option(help: "Proofs of each kind.") var proofs = 2_000
    @Option(help: "Folder for the throwaway stores (default: a new temporary folder, removed afterwards).")
    var directory: String?

    struct Report: Encodable {
        var enrolments: Int
        var enrol_store_ms_p50_no_audit: Double
        var enrol_store_ms_p50_chain_only: Double
        var enrol_store_ms_p50_chain_and_tree: Double
        /// (entry and tree − no audit) / no audit.
        var audit_entry_share_of_enrolment: Double
        /// (entry and tree − chain only) / no audit: what the tree itself adds.
        var tree_share_of_enrolment: Double
        var proof_tree_size: Int64
        var tree_fill_seconds: Double
        var inclusion_proof_ms_p50: Double
        var inclusion_proof_ms_p99: Double
        var inclusion_proof_hashes_max: Int
        var consistency_proof_ms_p50: Double
        var consistency_proof_ms_p99: Double
        var consistency_proof_hashes_max: Int
    }

    func validate() throws {
        guard enrolments >= 50, proofSize >= 2, proofs > 0 else {
            throw ValidationError("--enrolments must be at least 50, --proof-size at least 2, --proofs positive")
        }
    }

    func run() async throws {
        let folder = URL(filePath: directory ?? NSTemporaryDirectory() + "biomatch-audit-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: folder) } }
        let enrolment = try await measureEnrolments(folder: folder)
        benchLog("filling a tree of \(proofSize) leaves")
        let proofs = try await measureProofs(folder: folder)
        let report = Report(
            enrolments: enrolments, enrol_store_ms_p50_no_audit: enrolment[0], enrol_store_ms_p50_chain_only: enrolment[1],
            enrol_store_ms_p50_chain_and_tree: enrolment[2],
            audit_entry_share_of_enrolment: (enrolment[2] - enrolment[0]) / enrolment[0],
            tree_share_of_enrolment: (enrolment[2] - enrolment[1]) / enrolment[0], proof_tree_size: proofSize,
            tree_fill_seconds: proofs.fill, inclusion_proof_ms_p50: proofs.inclusion.p50, inclusion_proof_ms_p99: proofs.inclusion.p99,
            inclusion_proof_hashes_max: proofs.inclusion.hashes, consistency_proof_ms_p50: proofs.consistency.p50,
            consistency_proof_ms_p99: proofs.consistency.p99, consistency_proof_hashes_max: proofs.consistency.hashes)
        printTable(
            ["measure", "value"],
            [
                ["enrol store ms p50, no audit", format(report.enrol_store_ms_p50_no_audit, 3)],
                ["enrol store ms p50, chained entry", format(report.enrol_store_ms_p50_chain_only, 3)],
                ["enrol store ms p50, entry + tree row", format(report.enrol_store_ms_p50_chain_and_tree, 3)],
                ["audit entry / enrolment", format(report.audit_entry_share_of_enrolment, 3)],
                ["tree row / enrolment", format(report.tree_share_of_enrolment, 3)],
                ["inclusion proof ms p50 / p99 (max hashes)",
                 "\(format(report.inclusion_proof_ms_p50, 3)) / \(format(report.inclusion_proof_ms_p99, 3)) (\(report.inclusion_proof_hashes_max))"],
                ["consistency proof ms p50 / p99 (max hashes)",
                 "\(format(report.consistency_proof_ms_p50, 3)) / \(format(report.consistency_proof_ms_p99, 3)) (\(report.consistency_proof_hashes_max))"],
            ])
        try printJSON(report)
    }

    /// Median enrol store time (ms) of each variant: none, chain only, chain and tree.
    private func measureEnrolments(folder: URL) async throws -> [Double] {
        var stores: [SQLiteGalleryStore] = []
        var galleries: [GalleryRecord.ID] = []
        for variant in 0..<3 {
            let store = try SQLiteGalleryStore(
                location: folder.appending(path: "enrol-\(variant).sqlite"),
                additionalMigrations: GovernanceSchema.migrations(for: .sqlite))
            let gallery = try await store.createGallery(
                NewGallery(name: "bench", purpose: .custody, modelIdentifier: "sface-2021dec"))
            stores.append(store)
            galleries.append(gallery.id)
        }
        let actor = Caller.localOperator(name: "bench")
        var generator = SystemRandomNumberGenerator()
        var times: [[Double]] = [[], [], []]
        let clock = ContinuousClock()
        var number = 0
        while times[0].count < enrolments {
            for variant in 0..<3 {
                for _ in 0..<50 {
                    number += 1
                    var vector = (0..<TemplateFormat.dimension).map { _ in Float.random(in: -1...1, using: &generator) }
                    let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    vector = vector.map { $0 / norm }
                    let subject = NewSubject(
                        externalReference: "subject-\(number)",
                        templates: [
                            NewTemplate(
                                modelIdentifier: "sface-2021dec", vector: vector, quality: TemplateQuality(detectionScore: 0.9),
                                sourceImageSHA256: String(repeating: "ab", count: 32), capturedAt: Date())
                        ])
                    var companion: CompanionRecord?
                    if variant > 0 {
                        var record = try AuditLog(store: stores[variant]).companion(
                            for: .subjectEnrolled(by: actor, galleryName: "bench"))
                        if variant == 1 { record.followers = [] }
                        companion = record
                    }
                    let started = clock.now
                    _ = try await stores[variant].enrol(subject, in: galleries[variant], companion: companion)
                    times[variant].append((clock.now - started).secondsValue * 1000)
                }
            }
        }
        return times.map { Self.percentile($0, 0.5) }
    }

    /// Fills a tree and times proofs built from it.
    private func measureProofs(
        folder: URL
    ) async throws -> (fill: Double, inclusion: (p50: Double, p99: Double, hashes: Int), consistency: (p50: Double, p99: Double, hashes: Int)) {
        let store = try SQLiteGalleryStore(
            location: folder.appending(path: "tree.sqlite"), additionalMigrations: GovernanceSchema.migrations(for: .sqlite))
        let started = ContinuousClock.now
        // The same rows the audit log writes, made here without entries: leaf i hashes "leaf i".
        var frontier: [MerkleNodeID: Data] = [:]
        var rootFrontier = MerkleFrontier()
        var size: Int64 = 0
        var lastReport = ContinuousClock.now
        while size < proofSize {
            var records: [CompanionRecord] = []
            let batchEnd = min(proofSize, size + 50_000)
            while size < batchEnd {
                let leaf = MerkleHash.leaf(Data("leaf \(size)".utf8))
                let hashes = try MerkleTree.append(leaf, to: size, siblings: frontier)
                rootFrontier.append(leafHash: leaf)
                let completed = MerkleTree.completed(bySize: size + 1)
                for sibling in MerkleTree.leftSiblings(appendingTo: size) { frontier[sibling] = nil }
                // Keep only what a later leaf may still combine with: the top completed node.
                if let top = completed.last, let hash = hashes.last { frontier[top] = hash }
                let row: StoreRow = ["position": .integer(size + 1), "nodes": .blob(hashes.reduce(Data(), +))]
                records.append(CompanionRecord(table: AuditTree.table, sequenceColumn: "position") { _ in row })
                size += 1
            }
            try await store.appendRecords(records)
            if ContinuousClock.now - lastReport > .seconds(10) {
                benchLog("  \(size) of \(proofSize) leaves")
                lastReport = ContinuousClock.now
            }
        }
        let fill = (ContinuousClock.now - started).secondsValue
        let log = AuditLog(store: store)
        let root = try await log.treeHead().rootHash
        guard root == rootFrontier.root else { throw CommandFailure("the stored tree's root is not the leaves' root") }
        var generator = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        var inclusion: [Double] = []
        var inclusionHashes = 0
        for _ in 0..<proofs {
            let index = Int64.random(in: 0..<proofSize, using: &generator)
            let begun = clock.now
            let proof = try await log.inclusionProof(leafIndex: index, treeSize: proofSize)
            inclusion.append((clock.now - begun).secondsValue * 1000)
            inclusionHashes = max(inclusionHashes, proof.count)
            try MerkleVerification.verifyInclusion(
                proof: proof, leafHash: MerkleHash.leaf(Data("leaf \(index)".utf8)), index: index, size: proofSize, root: root)
        }
        var consistency: [Double] = []
        var consistencyHashes = 0
        for _ in 0..<proofs {
            let first = Int64.random(in: 1..<proofSize, using: &generator)
            let begun = clock.now
            let proof = try await log.consistencyProof(from: first, to: proofSize)
            consistency.append((clock.now - begun).secondsValue * 1000)
            consistencyHashes = max(consistencyHashes, proof.count)
        }
        return (
            fill, (Self.percentile(inclusion, 0.5), Self.percentile(inclusion, 0.99), inclusionHashes),
            (Self.percentile(consistency, 0.5), Self.percentile(consistency, 0.99), consistencyHashes)
        )
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
    }
}
