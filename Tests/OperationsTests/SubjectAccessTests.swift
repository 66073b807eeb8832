import Foundation
import Gallery
import Governance
import Operations
import Review
import Testing
import Transparency

@Suite struct SubjectAccessTests {
    static let access = StatedJustification(purpose: "subject-access-request", caseReference: "SAR-2026-0042")
    static let investigation = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-17")

    /// A subject access of an enrolled subject discloses the record, every template with its
    /// vector and crop, the enrolment image exactly as supplied, and the audit entries naming
    /// them (enrolment, a search where they were a candidate, the review decision, a
    /// verification), and is itself audited; after erasure, access by identifier still finds
    /// the entries, the erasure among them, and nothing else.
    @Test(arguments: StoreBackend.allCases) func anEnrolledSubjectThenTheErasedOne(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let obamaBytes = try Support.photo("obama.jpg")
        let obama = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", attributes: ["custody.record": "PNC-1"], images: [obamaBytes]),
            by: fixture.enroller)
        let biden = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "biden", images: [try Support.photo("biden.jpg")]), by: fixture.enroller)
        let search = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.investigation),
            by: fixture.searcher)
        #expect(search.candidates.map(\.subjectID) == [obama.subject.id])
        let reviewCase = try #require(search.reviewCase)
        _ = try await operations.review.decide(.confirmed, on: obama.subject.id, in: reviewCase.id, note: "same scar", by: fixture.admin)
        let verification = try await operations.verify(
            SubjectVerificationRequest(
                gallery: "custody", subjectReference: "obama", image: try Support.photo("obama3.jpg"),
                justification: Self.investigation),
            by: fixture.searcher)
        // A search of biden alone does not name obama.
        _ = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("biden.jpg"), justification: Self.investigation),
            by: fixture.searcher)
        let officer = try await Self.officer(fixture, galleries: ["custody"])
        // A checkpoint of everything so far: the entries found carry proofs to it.
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        let checkpoint = try #require(try await operations.makeAuditCheckpoint(signer: signer))

        let disclosure = try await operations.accessSubject(
            SubjectAccessRequest(gallery: "custody", subject: .reference("obama"), justification: Self.access), by: officer)
        #expect(disclosure.subjectID == obama.subject.id)
        #expect(disclosure.subject?.externalReference == "obama")
        #expect(disclosure.subject?.attributes == ["custody.record": "PNC-1"])
        #expect(disclosure.templates.map(\.template) == obama.templates)
        #expect(disclosure.templates.map(\.engine) == ["sface"])
        for held in disclosure.templates {
            let crop = try #require(held.crop)
            #expect(crop == (try await operations.review.crops.enrolmentCrop(of: held.template.id)))
            #expect(crop.width == 112 && crop.height == 112)
        }
        #expect(disclosure.images.map(\.image.bytes) == [obamaBytes])
        #expect(disclosure.images.map(\.image.sha256) == [obama.templates[0].sourceImageSHA256])
        #expect(
            disclosure.auditEntries.map(\.relation) == [.enrolled, .searchCandidate, .reviewDecision, .verifiedAgainst, .accessed])
        #expect(disclosure.auditEntries[1].entry.sequence == search.auditSequence)
        #expect(disclosure.auditEntries[3].entry.sequence == verification.auditSequence)
        #expect(disclosure.auditEntries.allSatisfy { $0.leafIndex == $0.position - 1 })
        #expect(disclosure.checkpoint == checkpoint)
        for found in disclosure.auditEntries.dropLast() {
            let proof = try #require(found.inclusionProof, "\(found.relation) has no proof")
            let root = try MerkleVerification.root(
                fromInclusionProof: proof, leafHash: AuditTree.leafHash(of: found.entry), index: found.leafIndex,
                size: checkpoint.checkpoint.size)
            #expect(root == checkpoint.checkpoint.rootHash, "\(found.relation)")
        }
        // The access itself came after the checkpoint: no proof yet.
        #expect(disclosure.auditEntries.last?.inclusionProof == nil)
        #expect(disclosure.erasure == nil)

        // The access is the log's newest entry: who, why, which subject, and counts only.
        let log = try await operations.auditEntries(after: nil, limit: 1_000, by: fixture.auditor)
        let recorded = try #require(log.last)
        #expect(recorded.action == .subjectAccessed)
        #expect(recorded.sequence == disclosure.accessSequence)
        #expect(recorded.purpose == "subject-access-request" && recorded.caseReference == "SAR-2026-0042")
        #expect(recorded.parameters == #"{"selector":"reference","subjectID":\#(obama.subject.id.rawValue)}"#)
        #expect(recorded.result == #"{"auditEntries":4,"crops":1,"images":1,"subjectErased":false,"templates":1}"#)
        #expect(!recorded.parameters.contains("obama") && !recorded.result.contains("obama"))
        #expect(try await AuditVerifier.verify(operations.auditLog).isIntact)

        // Erased on request: only the audit entries remain, found by identifier.
        _ = try await operations.eraseSubject("obama", in: "custody", reason: "subject's request", by: fixture.enroller)
        let erased = try await operations.accessSubject(
            SubjectAccessRequest(gallery: "custody", subject: .id(obama.subject.id), justification: Self.access), by: officer)
        #expect(erased.subject == nil && erased.templates.isEmpty && erased.images.isEmpty)
        #expect(
            erased.auditEntries.map(\.relation)
                == [.enrolled, .searchCandidate, .reviewDecision, .verifiedAgainst, .accessed, .erasedOnRequest, .accessed])
        #expect(erased.erasure?.entry.action == .subjectErased)
        let second = try #require(try await operations.auditEntries(after: nil, limit: 1_000, by: fixture.auditor).last)
        #expect(second.result.contains(#""subjectErased":true"#) && second.parameters.contains(#""selector":"id""#))
        // By reference it is gone.
        await #expect(throws: OperationError.self) {
            try await operations.accessSubject(
                SubjectAccessRequest(gallery: "custody", subject: .reference("obama"), justification: Self.access), by: officer)
        }
        // Biden's trail never named obama's entries.
        let bidenTrail = try await operations.accessSubject(
            SubjectAccessRequest(gallery: "custody", subject: .id(biden.subject.id), justification: Self.access), by: officer)
        #expect(bidenTrail.auditEntries.map(\.relation) == [.enrolled, .searchCandidate, .accessed])
    }

    /// Access needs the role (or admin) and the gallery in scope, an access purpose and a case
    /// reference; a refusal writes nothing. A subject of another gallery is not found there.
    @Test func refusalsChangeNothing() async throws {
        let fixture = try await Support.fixture()
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        _ = try await operations.createGallery(GalleryDraft(name: "immigration", purpose: .immigration), by: fixture.admin)
        let obama = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]), by: fixture.admin)
        let traveller = try await operations.enrol(
            EnrolmentRequest(gallery: "immigration", reference: "traveller", images: [try Support.photo("biden.jpg")]),
            by: fixture.admin)
        let officer = try await Self.officer(fixture, galleries: ["custody"])
        let before = try await fixture.auditCount()
        func refused(_ request: SubjectAccessRequest, by caller: Caller) async -> OperationError? {
            do {
                _ = try await operations.accessSubject(request, by: caller)
                return nil
            } catch {
                return error
            }
        }
        let byReference = SubjectAccessRequest(gallery: "custody", subject: .reference("obama"), justification: Self.access)
        for caller in [fixture.searcher, fixture.enroller, fixture.auditor] {
            guard case .governance(.forbidden(.role))? = await refused(byReference, by: caller) else {
                Issue.record("\(caller) was not refused for its role")
                continue
            }
        }
        let elsewhere = SubjectAccessRequest(gallery: "immigration", subject: .reference("traveller"), justification: Self.access)
        guard case .governance(.forbidden(.gallery))? = await refused(elsewhere, by: officer) else {
            Issue.record("a gallery out of scope was not refused")
            return
        }
        for stated in [
            StatedJustification(purpose: nil, caseReference: "SAR-1"), Self.investigation,
            StatedJustification(purpose: "subject-access-request", caseReference: "  "),
        ] {
            let error = await refused(
                SubjectAccessRequest(gallery: "custody", subject: .reference("obama"), justification: stated), by: officer)
            switch error {
            case .governance(.unknownPurpose)?, .governance(.invalidCaseReference)?: break
            default: Issue.record("\(stated) gave \(String(describing: error))")
            }
        }
        // The immigration subject's identifier asked of custody: not there.
        let crossed = await refused(
            SubjectAccessRequest(gallery: "custody", subject: .id(traveller.subject.id), justification: Self.access), by: officer)
        guard case .identification(.store(.unknownSubject(traveller.subject.id)))? = crossed else {
            Issue.record("another gallery's subject gave \(String(describing: crossed))")
            return
        }
        #expect(try await fixture.auditCount() == before)
        // The admin may; the subject's own gallery answers.
        let disclosure = try await operations.accessSubject(byReference, by: fixture.admin)
        #expect(disclosure.subjectID == obama.subject.id)
        #expect(try await fixture.auditCount() == before + 1)
    }

    /// A subject erased by the retention sweep, and one erased with its gallery: both still
    /// found by identifier, with the erasure that ended their record.
    @Test func retentionAndGalleryErasuresAreFound() async throws {
        let fixture = try await Support.fixture()
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        _ = try await operations.createGallery(GalleryDraft(name: "temporary", purpose: .other), by: fixture.admin)
        let expiring = try await operations.enrol(
            EnrolmentRequest(
                gallery: "custody", reference: "expiring", retainUntil: Date().addingTimeInterval(60),
                images: [try Support.photo("obama.jpg")]),
            by: fixture.admin)
        let guest = try await operations.enrol(
            EnrolmentRequest(gallery: "temporary", reference: "guest", images: [try Support.photo("biden.jpg")]), by: fixture.admin)
        #expect(try await operations.sweepExpiredSubjects(asOf: Date().addingTimeInterval(3_600)).count == 1)
        _ = try await operations.deleteGallery("temporary", by: fixture.admin)

        let swept = try await operations.accessSubject(
            SubjectAccessRequest(gallery: "custody", subject: .id(expiring.subject.id), justification: Self.access), by: fixture.admin)
        #expect(swept.auditEntries.map(\.relation) == [.enrolled, .erasedByRetention, .accessed])
        #expect(swept.erasure?.entry.actor == .system("retention"))
        // The gallery is gone too: its name still finds the subject's entries.
        let withGallery = try await operations.accessSubject(
            SubjectAccessRequest(gallery: "temporary", subject: .id(guest.subject.id), justification: Self.access), by: fixture.admin)
        #expect(withGallery.gallery == nil && withGallery.subject == nil)
        #expect(withGallery.auditEntries.map(\.relation) == [.enrolled, .galleryErased, .accessed])
        #expect(withGallery.auditEntries.last?.entry.galleryName == "temporary")
        // By reference, a gallery that is gone is not found.
        await #expect(throws: OperationError.self) {
            try await operations.accessSubject(
                SubjectAccessRequest(gallery: "temporary", subject: .reference("guest"), justification: Self.access),
                by: fixture.admin)
        }
    }

    /// Images and crops sealed under another key than the node's are reported as such; the
    /// record, templates and audit entries are disclosed all the same.
    @Test func sealedDataUnderAnotherKeyIsReportedNotFatal() async throws {
        let fixture = try await Support.fixture()
        defer { fixture.cleanUp() }
        _ = try await fixture.operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let obama = try await fixture.operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]), by: fixture.admin)
        let otherKey = try await Support.operations(on: fixture.store)
        let disclosure = try await otherKey.accessSubject(
            SubjectAccessRequest(gallery: "custody", subject: .reference("obama"), justification: Self.access), by: fixture.admin)
        #expect(disclosure.templates.map(\.template) == obama.templates)
        #expect(disclosure.templates.allSatisfy { $0.crop == nil && $0.cropProblem?.contains("sealed with key") == true })
        #expect(disclosure.images.isEmpty && disclosure.imagesProblem?.contains("sealed with key") == true)
        #expect(disclosure.auditEntries.map(\.relation) == [.enrolled, .accessed])
    }

    /// A key of the subject-access role for `galleries`.
    static func officer(_ fixture: Support.Fixture, galleries: Set<String>) async throws -> Caller {
        .key(
            try await fixture.operations.keys.create(
                name: "data protection officer", role: .subjectAccess, scope: .galleries(galleries), by: .system("test")
            ).key.principal)
    }
}
