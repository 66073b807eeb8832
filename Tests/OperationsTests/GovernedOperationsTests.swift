import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Operations
import Testing

@Suite struct GovernedOperationsTests {
    static func expectRefusal(
        _ label: String, _ body: () async throws -> Void, matches: (OperationError) -> Bool
    ) async {
        do {
            try await body()
            Issue.record("\(label): expected a refusal")
        } catch let error as OperationError {
            #expect(matches(error), "\(label): \(error)")
        } catch {
            Issue.record("\(label): not an OperationError: \(error)")
        }
    }

    static let justified = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-2026-0042")

    @Test(arguments: StoreBackend.allCases) func aCandidateErasedBetweenTheScanAndTheRecordIsLeftOutNotAFailure(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let first = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama-again", images: [try Support.photo("obama3.jpg")]),
            by: fixture.enroller)
        // Erased in the store behind this service's back (another node, or a request racing this
        // search): the index still holds it, so the scan returns it and the review case's
        // reference to it fails.
        _ = try await fixture.store.deleteSubject(first.subject.id)

        let outcome = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5),
            by: fixture.searcher)
        #expect(outcome.candidates.map(\.subjectReference) == ["obama-again"])
        #expect(outcome.candidates.map(\.rank) == [1])
        let reviewCase = try #require(outcome.reviewCase)
        #expect(reviewCase.candidates.map(\.subjectID) == outcome.candidates.map(\.subjectID))
        let entry = try #require(
            try await operations.auditEntries(after: nil, limit: 100, by: fixture.auditor).first { $0.action == .search })
        #expect(entry.sequence == outcome.auditSequence)
        // Canonical JSON: each candidate is {"score":…,"subjectID":…}.
        #expect(entry.result.contains("\"subjectID\":\(outcome.candidates[0].subjectID.rawValue)}"))
        #expect(!entry.result.contains("\"subjectID\":\(first.subject.id.rawValue)}"))
    }

    @Test(arguments: StoreBackend.allCases) func enrolSearchAndVerifyAreAuditedWithHashesOnly(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let enrolled = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "biden", images: [try Support.photo("biden.jpg")]),
            by: fixture.enroller)

        let probe = try Support.photo("obama2.jpg")
        let outcome = try await operations.search(
            SearchRequest(gallery: "custody", image: probe, justification: Self.justified, k: 5), by: fixture.searcher)
        #expect(outcome.candidates.map(\.subjectReference) == ["obama"])
        #expect(outcome.candidates.first?.subjectID == enrolled.subject.id)
        #expect(outcome.candidates.first?.templateQuality != nil)
        #expect(outcome.faces.count == 1)
        #expect(outcome.threshold == GalleryRecord.defaultOperatingThreshold)

        let verification = try await operations.verify(
            SubjectVerificationRequest(
                gallery: "custody", subjectReference: "biden", image: probe, justification: Self.justified),
            by: fixture.searcher)
        #expect(!verification.isMatch)
        #expect(verification.score < 0.3)

        let entries = try await operations.auditEntries(after: nil, limit: 100, by: fixture.auditor)
        let actions = entries.map(\.action).filter { $0 != .keyCreated }
        #expect(actions == [.galleryCreated, .subjectEnrolled, .subjectEnrolled, .search, .verify])
        let search = try #require(entries.first { $0.action == .search })
        #expect(search.sequence == outcome.auditSequence)
        #expect(search.probeSHA256 == outcome.probeSHA256)
        #expect(search.purpose == "criminal-investigation")
        #expect(search.caseReference == "CASE-2026-0042")
        // No template or image bytes reach the log: every entry's encoding is small.
        for entry in entries {
            #expect(AuditExport.line(for: entry).utf8.count < 2_000, "entry \(entry.sequence) is suspiciously large")
        }
        let verdict = try await AuditVerifier.verify(operations.auditLog)
        #expect(verdict.isIntact)
    }

    @Test(arguments: StoreBackend.allCases) func deniedAndInvalidRequestsChangeNothing(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        let probe = try Support.photo("obama2.jpg")
        let before = try await fixture.auditCount()

        await Self.expectRefusal("enroller searches", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: probe, justification: Self.justified), by: fixture.enroller)
        }, matches: { if case .governance(.forbidden) = $0 { true } else { false } })
        await Self.expectRefusal("searcher of another gallery", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: probe, justification: Self.justified), by: fixture.outsider)
        }, matches: { if case .governance(.forbidden) = $0 { true } else { false } })
        await Self.expectRefusal("no purpose", {
            _ = try await operations.search(
                SearchRequest(
                    gallery: "custody", image: probe,
                    justification: StatedJustification(purpose: nil, caseReference: "CASE-1")),
                by: fixture.searcher)
        }, matches: { if case .governance(.unknownPurpose) = $0 { true } else { false } })
        await Self.expectRefusal("no case reference", {
            _ = try await operations.search(
                SearchRequest(
                    gallery: "custody", image: probe,
                    justification: StatedJustification(purpose: "criminal-investigation", caseReference: " ")),
                by: fixture.searcher)
        }, matches: { if case .governance(.invalidCaseReference) = $0 { true } else { false } })
        await Self.expectRefusal("purpose not for custody", {
            _ = try await operations.search(
                SearchRequest(
                    gallery: "custody", image: probe,
                    justification: StatedJustification(purpose: "immigration-check", caseReference: "CASE-1")),
                by: fixture.searcher)
        }, matches: { if case .governance(.purposeNotForGallery) = $0 { true } else { false } })
        await Self.expectRefusal("threshold below the gallery's", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: probe, justification: Self.justified, threshold: 0.1),
                by: fixture.searcher)
        }, matches: { if case .invalidRequest(field: "threshold", _) = $0 { true } else { false } })
        await Self.expectRefusal("k too large", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: probe, justification: Self.justified, k: 100_000),
                by: fixture.searcher)
        }, matches: { if case .invalidRequest(field: "k", _) = $0 { true } else { false } })
        await Self.expectRefusal("face that is not there", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: probe, justification: Self.justified, faceIndex: 3),
                by: fixture.searcher)
        }, matches: { if case .noSuchFace(index: 3, faceCount: 1) = $0 { true } else { false } })
        await Self.expectRefusal("not an image", {
            _ = try await operations.search(
                SearchRequest(gallery: "custody", image: Array("hello".utf8), justification: Self.justified),
                by: fixture.searcher)
        }, matches: { if case .identification(.engine(.decoding)) = $0 { true } else { false } })
        await Self.expectRefusal("unknown gallery", {
            _ = try await operations.search(
                SearchRequest(gallery: "nowhere", image: probe, justification: Self.justified), by: fixture.admin)
        }, matches: { if case .identification(.unknownGallery("nowhere")) = $0 { true } else { false } })
        await Self.expectRefusal("duplicate reference", {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama3.jpg")]),
                by: fixture.enroller)
        }, matches: { if case .identification(.refused(.duplicateReference("obama"))) = $0 { true } else { false } })
        await Self.expectRefusal("threshold change without a reason", {
            _ = try await operations.setThreshold(0.5, gallery: "custody", reason: "  ", by: fixture.admin)
        }, matches: { if case .invalidRequest(field: "reason", _) = $0 { true } else { false } })
        await Self.expectRefusal("threshold change by an enroller", {
            _ = try await operations.setThreshold(0.5, gallery: "custody", reason: "tuning", by: fixture.enroller)
        }, matches: { if case .governance(.forbidden) = $0 { true } else { false } })
        await Self.expectRefusal("audit read by a searcher", {
            _ = try await operations.auditEntries(after: nil, limit: 10, by: fixture.searcher)
        }, matches: { if case .governance(.forbidden) = $0 { true } else { false } })

        #expect(try await fixture.auditCount() == before)
        let summary = try await operations.gallery("custody", by: fixture.admin)
        #expect(summary.counts == GalleryCounts(subjects: 1, templates: 1))
        #expect(summary.gallery.operatingThreshold == GalleryRecord.defaultOperatingThreshold)
    }

    @Test(arguments: StoreBackend.allCases) func severalFacesAreAllReportedAndTheLargestIsSearched(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "biden", images: [try Support.photo("biden.jpg")]),
            by: fixture.enroller)
        // Obama at full size beside a half-size Biden: two faces, Obama's the larger.
        let obama = try Support.decoded("obama2.jpg")
        let biden = try Support.decoded("biden.jpg")
        let smallBiden = biden.resizedBilinear(width: biden.width / 2, height: biden.height / 2)
        let group = try Support.sideBySide(obama, smallBiden)

        let largest = try await operations.search(
            SearchRequest(gallery: "custody", image: group, justification: Self.justified), by: fixture.searcher)
        #expect(largest.faces.count == 2)
        #expect(largest.candidates.first?.subjectReference == "obama")
        let other = largest.faces.first { $0.index != largest.searchedFace }!
        let named = try await operations.search(
            SearchRequest(gallery: "custody", image: group, justification: Self.justified, faceIndex: other.index),
            by: fixture.searcher)
        #expect(named.searchedFace == other.index)
        #expect(named.candidates.first?.subjectReference == "biden")

        // Enrolment refuses the same picture: the subject would be ambiguous.
        await Self.expectRefusal("two faces", {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: "group", images: [group]), by: fixture.enroller)
        }, matches: { if case .identification(.refused(.image(index: 0, reason: .severalFaces(count: 2)))) = $0 { true } else { false } })
    }

    @Test(arguments: StoreBackend.allCases) func poorQualityPhotosAreRefusedWithTheReason(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let blurred = try Support.blurred("obama.jpg", factor: 16)
        let sharp = try Support.photo("obama3.jpg")
        await Self.expectRefusal("blurred", {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: "blurred", images: [sharp, blurred]), by: fixture.enroller)
        }, matches: { error in
            guard case .identification(.refused(.image(index: 1, reason: .poorQuality(let failures)))) = error else { return false }
            return failures.contains { if case .blurred = $0 { true } else { false } }
        })
        // Nothing of the refused subject was stored, not even its good first photo.
        #expect(try await operations.gallery("custody", by: fixture.admin).counts == GalleryCounts(subjects: 0, templates: 0))
    }

    @Test(arguments: StoreBackend.allCases) func thresholdChangesApplyAtOnceAndAreAuditedWithTheReason(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        let probe = try Support.photo("obama2.jpg")
        let first = try await operations.search(
            SearchRequest(gallery: "custody", image: probe, justification: Self.justified), by: fixture.searcher)
        let score = try #require(first.candidates.first?.score)
        // Raise the threshold just above the genuine score: the same search now returns nothing.
        let raised = min(score + 0.01, 1)
        let updated = try await operations.setThreshold(raised, gallery: "custody", reason: "calibrated to FMR 1e-6", by: fixture.admin)
        #expect(updated.operatingThreshold == raised)
        let second = try await operations.search(
            SearchRequest(gallery: "custody", image: probe, justification: Self.justified), by: fixture.searcher)
        #expect(second.candidates.isEmpty)
        #expect(second.threshold == raised)
        let change = try #require(
            try await operations.auditEntries(after: nil, limit: 100, by: fixture.auditor).first { $0.action == .thresholdChanged })
        #expect(change.parameters.contains("\"reason\":\"calibrated to FMR 1e-6\""), "\(change.parameters)")
    }

    @Test(arguments: StoreBackend.allCases) func compareAndDetectAreAudited(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        let same = try await operations.compare(
            ImageComparisonRequest(
                first: try Support.photo("obama.jpg"), second: try Support.photo("obama2.jpg"), justification: Self.justified),
            by: fixture.searcher)
        #expect(same.isMatch)
        #expect(same.score > 0.6)
        let detected = try await operations.detect(imageBytes: try Support.photo("biden.jpg"), by: fixture.enroller)
        #expect(detected.faces.count == 1)
        let actions = try await operations.auditEntries(after: nil, limit: 100, by: fixture.admin).map(\.action)
        #expect(actions.suffix(2) == [.compare, .detect])
    }

    @Test(arguments: StoreBackend.allCases) func erasureRemovesTheSubjectFromSearchesAtOnce(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        let erasure = try await operations.eraseSubject("obama", in: "custody", by: fixture.enroller)
        #expect(erasure.templateIDs.count == 1)
        let after = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified),
            by: fixture.searcher)
        #expect(after.candidates.isEmpty)
        #expect(try await operations.gallery("custody", by: fixture.admin).counts == GalleryCounts(subjects: 0, templates: 0))
    }
}

@Suite struct RetentionTests {
    @Test(arguments: StoreBackend.allCases) func expiredSubjectsAreErasedAndAuditedAndOthersStay(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody, retentionDays: 30), by: fixture.admin)
        let now = Date()
        try await operations.enrol(
            EnrolmentRequest(
                gallery: "custody", reference: "short", retainUntil: now.addingTimeInterval(3_600),
                images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "kept", images: [try Support.photo("biden.jpg")]),
            by: fixture.enroller)

        #expect(try await operations.sweepExpiredSubjects(asOf: now).isEmpty)
        // Two hours on, the subject's own date has passed; the gallery's 30 days have not.
        let erased = try await operations.sweepExpiredSubjects(asOf: now.addingTimeInterval(7_200))
        #expect(erased.map(\.subject.externalReference) == ["short"])
        let justified = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-9")
        let search = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: justified),
            by: fixture.searcher)
        #expect(search.candidates.isEmpty)
        // 31 days on, the gallery rule takes the other one too.
        let later = try await operations.sweepExpiredSubjects(asOf: now.addingTimeInterval(31 * 86_400))
        #expect(later.map(\.subject.externalReference) == ["kept"])
        let entries = try await operations.auditEntries(after: nil, limit: 100, by: fixture.auditor)
        #expect(entries.filter { $0.action == .retentionErasure }.count == 2)
        #expect(try await AuditVerifier.verify(operations.auditLog).isIntact)
    }
}

@Suite struct ReviewIntegrationTests {
    @Test(arguments: StoreBackend.allCases) func custodySearchesOpenACaseAndOnlyConfirmedDecisionsIdentify(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: fixture.admin)
        let enrolled = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        // The enrolment's aligned face is sealed for reviewers.
        let crop = try await operations.review.crops.enrolmentCrop(of: enrolled.templates[0].id)
        #expect(crop.width == 112 && crop.height == 112)

        let justified = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-7")
        let outcome = try await operations.search(
            SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: justified),
            by: fixture.searcher)
        let reviewCase = try #require(outcome.reviewCase)
        #expect(reviewCase.status == .awaitingReview)
        #expect(reviewCase.identifications.isEmpty)
        #expect(reviewCase.candidates.map(\.subjectID) == [enrolled.subject.id])

        let reviewer = Caller.key(
            try await operations.keys.create(
                name: "reviewer", role: .reviewer, scope: .galleries(["custody"]), by: .system("test")
            ).key.principal)
        _ = try await operations.review.decide(
            .confirmed, on: enrolled.subject.id, in: reviewCase.id, note: "same person, scar visible", by: reviewer)
        let decided = try await operations.review.reviewCase(reviewCase.id, for: reviewer)
        #expect(decided.identifications.map(\.decision.subjectID) == [enrolled.subject.id])
        let actions = try await operations.auditEntries(after: nil, limit: 100, by: fixture.auditor).map(\.action)
            .filter { $0 != .keyCreated }
        #expect(actions.suffix(2) == [.search, .reviewDecision])
        #expect(try await AuditVerifier.verify(operations.auditLog).isIntact)

        // A gallery whose purpose needs no review opens no case.
        _ = try await operations.createGallery(GalleryDraft(name: "evaluation", purpose: .other), by: fixture.admin)
        let plain = try await operations.search(
            SearchRequest(gallery: "evaluation", image: try Support.photo("obama2.jpg"), justification: justified),
            by: fixture.admin)
        #expect(plain.reviewCase == nil)
    }
}

@Suite struct ErasureLeavesNothingTests {
    /// After a retention erasure: no search finds the subject, the database file holds no row of
    /// it and none of its template's or sealed crop's bytes, and the audit keeps the erasure with
    /// identifiers and hashes only.
    @Test func anErasedSubjectLeavesOnlyItsAuditEntry() async throws {
        let fixture = try await Support.fixture()
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody, retentionDays: 30), by: fixture.admin)
        let enrolled = try await operations.enrol(
            EnrolmentRequest(
                gallery: "custody", reference: "expiring", retainUntil: Date().addingTimeInterval(60),
                images: [try Support.photo("obama.jpg")]),
            by: fixture.enroller)
        let template = enrolled.templates[0]
        let sealed = try #require(try await operations.review.crops.sealedEnrolmentCrop(of: template.id))
        let vectorBytes = template.vector.withUnsafeBytes { Array($0.prefix(64)) }
        let cipherBytes = Array(sealed.combined.dropFirst(100).prefix(64))
        #expect(try Self.fileContains(fixture, vectorBytes) && Self.fileContains(fixture, cipherBytes), "the probe finds live bytes")

        let erased = try await operations.sweepExpiredSubjects(asOf: Date().addingTimeInterval(3_600))
        #expect(erased.map(\.subject.id) == [enrolled.subject.id])

        let search = try await operations.search(
            SearchRequest(
                gallery: "custody", image: try Support.photo("obama2.jpg"),
                justification: StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-3")),
            by: fixture.searcher)
        #expect(search.candidates.isEmpty)
        for (table, column, id) in [
            ("subjects", "id", enrolled.subject.id.rawValue), ("templates", "id", template.id.rawValue),
            ("template_crops", "template_id", template.id.rawValue),
        ] {
            let rows = try await fixture.store.records(
                in: table, matching: [column: .integer(id)], orderedBy: column, after: nil, limit: 10)
            #expect(rows.isEmpty, "\(table) still holds \(column) \(id)")
        }
        try #require(fixture.sqlite).close()
        #expect(try !Self.fileContains(fixture, vectorBytes), "template bytes remain in the database file")
        #expect(try !Self.fileContains(fixture, cipherBytes), "sealed crop bytes remain in the database file")

        let reopened = try SQLiteGalleryStore(
            location: fixture.databaseFile, additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let entries = try await AuditLog(store: reopened).entries(limit: 100)
        let entry = try #require(entries.first { $0.action == .retentionErasure })
        #expect(entry.result.contains("\"templateIDs\":[\(template.id.rawValue)]"))
        // What the photo was is still provable from its hash, recorded at enrolment.
        #expect(entries.contains { $0.action == .subjectEnrolled && $0.result.contains(template.sourceImageSHA256) })
        #expect(AuditExport.line(for: entry).utf8.count < 2_000)
        #expect(!entry.result.contains("expiring") && !entry.parameters.contains("expiring"), "the audit keeps no reference text")
    }

    /// Whether the database file or its write-ahead log holds `needle`.
    static func fileContains(_ fixture: Support.Fixture, _ needle: [UInt8]) throws -> Bool {
        for suffix in ["", "-wal"] {
            let path = fixture.databaseFile.path + suffix
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            if Data(data).range(of: Data(needle)) != nil { return true }
        }
        return false
    }
}
