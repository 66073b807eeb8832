import Foundation
import Gallery
import Governance
import Operations
import Testing

/// Several matcher nodes on one store: the audit log they write is one chain.
@Suite struct ClusterAuditTests {
    static let justified = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-CLUSTER-1")

    /// Two `MatcherOperations` (two nodes) enrol and search concurrently; appends are serialised
    /// by the store (the chain head is read under a lock held to commit), so the log verifies
    /// and its entries are numbered 1, 2, 3... with no gap or repeat.
    @Test(arguments: StoreBackend.allCases) func concurrentNodesWriteOneVerifiableLog(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let nodeA = fixture.operations
        _ = try await nodeA.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        try await nodeA.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        // Node B opens after the gallery exists (following later changes is the change feed's work).
        let nodeB = try await Support.operations(on: fixture.store)
        let before = try await fixture.auditCount()

        let enroller = fixture.enroller
        let searcher = fixture.searcher
        let photos = ["obama2.jpg", "obama3.jpg", "biden.jpg"]
        let enrolments = 8
        let searches = 12
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<enrolments {
                let node = index % 2 == 0 ? nodeA : nodeB
                let photo = try Support.photo(photos[index % photos.count])
                group.addTask {
                    try await node.enrol(
                        EnrolmentRequest(gallery: "custody", reference: "subject-\(index)", images: [photo]),
                        by: enroller)
                }
            }
            for index in 0..<searches {
                let node = index % 2 == 0 ? nodeB : nodeA
                let photo = try Support.photo(photos[index % photos.count])
                group.addTask {
                    _ = try await node.search(
                        SearchRequest(gallery: "custody", image: photo, justification: Self.justified, k: 3),
                        by: searcher)
                }
            }
            try await group.waitForAll()
        }

        let entries = try await nodeB.auditLog.entries(limit: 10_000)
        #expect(entries.count == before + enrolments + searches)
        #expect(entries.map(\.sequence) == Array(1...Int64(entries.count)), "one order, no gap, no repeat")
        #expect(entries.filter { $0.action == .subjectEnrolled }.count == enrolments + 1)
        #expect(entries.filter { $0.action == .search }.count == searches)
        let verification = try await AuditVerifier.verify(AuditLog(store: fixture.store))
        #expect(verification.isIntact, "\(verification)")
        guard case .intact(let count, _) = verification else { return }
        #expect(count == entries.count)
    }
}
