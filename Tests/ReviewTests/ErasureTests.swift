import Foundation
import Gallery
import Governance
import Review
import Testing

/// Erasure must destroy crops, candidate rows and decisions, not merely hide them.
@Suite struct ErasureTests {
    @Test(arguments: Backend.allCases)
    func enrolmentCropsRoundTripAndNeedTheirTemplate(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let custody = try await bench.gallery("custody", purpose: .custody)
            let obama = try await Photos.photo("obama")
            let biden = try await Photos.photo("biden")
            let subjects = try await bench.enrol([obama, biden], in: custody)
            #expect(try await bench.crops.enrolmentCrop(of: subjects[0].templates[0].id) == obama.crop)
            #expect(try await bench.crops.enrolmentCrop(of: subjects[1].templates[0].id) == biden.crop)
            #expect(try await bench.raw.count(ReviewSchema.templateCropsTable) == 2)

            // A template enrolled without a crop says so.
            let obama3 = try await Photos.photo("obama3")
            let added = try await bench.store.addTemplates([obama3.newTemplate], to: subjects[0].subject.id)
            let missing = await failure(ReviewError.self) { try await bench.crops.enrolmentCrop(of: added[0].id) }
            #expect(missing?.description == ReviewError.cropMissing(.template(added[0].id)).description)

            // The store's connections enforce the foreign key: no crop without its template, and a
            // batch holding one such crop stores none of its crops.
            let orphan = EnrolmentCrop(templateID: TemplateRecord.ID(9_999), crop: obama3.crop)
            let refused = await failure(ReviewError.self) {
                try await bench.crops.storeEnrolmentCrops([EnrolmentCrop(templateID: added[0].id, crop: obama3.crop), orphan])
            }
            guard case .store(.companionRecordFailed(let table, _))? = refused else {
                Issue.record("expected a refused insert, got \(String(describing: refused))")
                return
            }
            #expect(table == ReviewSchema.templateCropsTable)
            #expect(try await bench.raw.count(ReviewSchema.templateCropsTable) == 2)

            try await bench.crops.storeEnrolmentCrops([EnrolmentCrop(templateID: added[0].id, crop: obama3.crop)])
            #expect(try await bench.crops.enrolmentCrop(of: added[0].id) == obama3.crop)
            // One crop per template: a second is refused rather than replacing the first.
            #expect(await failure(ReviewError.self) {
                try await bench.crops.storeEnrolmentCrops([EnrolmentCrop(templateID: added[0].id, crop: obama.crop)])
            } != nil)
            #expect(try await bench.crops.enrolmentCrop(of: added[0].id) == obama3.crop)
        }
    }

    @Test(arguments: Backend.allCases)
    func erasingASubjectDestroysItsCropsCandidatesAndDecisions(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let custody = try await bench.gallery("custody", purpose: .custody)
            let photos = [try await Photos.photo("obama"), try await Photos.photo("biden"), try await Photos.photo("astronaut")]
            let subjects = try await bench.enrol(photos, in: custody)
            let probe = try await Photos.photo("obama2")
            let recorded = try await bench.ledger.recordSearch(
                try bench.search(probe, against: Array(zip(subjects, photos)), in: custody), by: People.searcher)
            let reviewCase = try #require(recorded.reviewCase)
            let obama = subjects[0]
            let biden = subjects[1]
            #expect(reviewCase.candidates.first?.subjectID == obama.subject.id)
            try await bench.ledger.decide(
                .confirmed, on: obama.subject.id, in: reviewCase.id, note: "same ear shape and hairline", by: People.custodyReviewer)
            try await bench.ledger.decide(
                .rejected, on: biden.subject.id, in: reviewCase.id, note: "different person", by: People.custodyReviewer)
            #expect(try await bench.ledger.reviewCase(reviewCase.id, for: People.admin).identifications.map(\.candidate.subjectID) == [obama.subject.id])

            let obamaSealed = try #require(try await bench.crops.sealedEnrolmentCrop(of: obama.templates[0].id)).combined
            let bidenSealed = try #require(try await bench.crops.sealedEnrolmentCrop(of: biden.templates[0].id)).combined

            // Before erasure, the same search finds the crop's ciphertext in the file.
            if case .sqlite(let location) = bench.raw, let store = bench.store as? SQLiteGalleryStore {
                try await store.checkpoint()
                let before = piecesFound(of: obamaSealed, in: try fileBytes(of: location))
                #expect(before.found * 10 >= before.of * 8, "the crop should be found before erasure: \(before)")
            }

            let erasure = try await bench.store.deleteSubject(
                obama.subject.id,
                companion: bench.auditLog.companion(
                    for: .subjectErased(by: People.enroller, galleryName: custody.name, reason: "acquitted")))
            #expect(erasure.templateIDs == obama.templates.map(\.id))

            // Counted directly in the database, not through the store's API.
            let raw = bench.raw
            #expect(try await raw.count(ReviewSchema.templateCropsTable, where: "template_id", equals: obama.templates[0].id.rawValue) == 0)
            #expect(try await raw.count(ReviewSchema.candidatesTable, where: "subject_id", equals: obama.subject.id.rawValue) == 0)
            #expect(try await raw.count(ReviewSchema.decisionsTable, where: "subject_id", equals: obama.subject.id.rawValue) == 0)
            #expect(try await raw.count("templates", where: "subject_id", equals: obama.subject.id.rawValue) == 0)
            // Everything else stays.
            #expect(try await raw.count(ReviewSchema.templateCropsTable) == 2)
            #expect(try await raw.count(ReviewSchema.candidatesTable) == 2)
            #expect(try await raw.count(ReviewSchema.decisionsTable) == 1)
            #expect(try await raw.count(ReviewSchema.probeFacesTable) == 1)

            // The case no longer reports the erased subject, identified or not.
            let after = try await bench.ledger.reviewCase(reviewCase.id, for: People.admin)
            #expect(after.candidates.map(\.subjectID) == reviewCase.candidates.map(\.subjectID).filter { $0 != obama.subject.id })
            #expect(after.identifications.isEmpty)
            #expect(after.status == .awaitingReview)
            let gone = await failure(ReviewError.self) {
                try await bench.ledger.candidateCrop(of: reviewCase.id, subject: obama.subject.id, for: People.custodyReviewer)
            }
            #expect(gone?.description == ReviewError.candidateNotInCase(reviewCase.id, subject: obama.subject.id).description)

            // The audit keeps the decision and the erasure (identifiers and hashes, no face).
            let entries = try await bench.auditLog.entries()
            #expect(entries.map(\.action) == [.search, .reviewDecision, .reviewDecision, .subjectErased])
            #expect(try await AuditVerifier.verify(bench.auditLog).isIntact)

            guard case .sqlite(let location) = raw, let store = bench.store as? SQLiteGalleryStore else { return }
            try await store.checkpoint()
            let file = try fileBytes(of: location)
            let erased = piecesFound(of: obamaSealed, in: file)
            let kept = piecesFound(of: bidenSealed, in: file)
            #expect(erased.found == 0, "pieces of the erased crop's ciphertext remain in the file")
            #expect(kept.found * 10 >= kept.of * 8, "the control crop should be found: \(kept)")
            #expect(!file.containsBytes(Data(obama.subject.externalReference.utf8)))
            #expect(file.containsBytes(Data(biden.subject.externalReference.utf8)))
        }
    }

    @Test(arguments: Backend.allCases)
    func erasingAGalleryDestroysEveryCaseCropAndDecisionOfIt(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let custody = try await bench.gallery("custody", purpose: .custody)
            let watchlist = try await bench.gallery("watchlist", purpose: .watchlist)
            let photos = [try await Photos.photo("obama"), try await Photos.photo("biden")]
            let custodySubjects = try await bench.enrol(photos, in: custody)
            let watchlistSubjects = try await bench.enrol(photos, in: watchlist)
            let probe = try await Photos.photo("obama3")
            let custodyCase = try #require(
                try await bench.ledger.recordSearch(
                    try bench.search(probe, against: Array(zip(custodySubjects, photos)), in: custody), by: People.searcher
                ).reviewCase)
            let watchlistCase = try #require(
                try await bench.ledger.recordSearch(
                    try bench.search(probe, against: Array(zip(watchlistSubjects, photos)), in: watchlist), by: People.searcher
                ).reviewCase)
            try await bench.ledger.decide(
                .confirmed, on: custodySubjects[0].subject.id, in: custodyCase.id, note: "match", by: People.admin)
            let custodyProbe = try await bench.raw.blobs(
                "SELECT sealed FROM review_probe_faces WHERE case_id = \(custodyCase.id.rawValue)")
            let watchlistProbe = try await bench.raw.blobs(
                "SELECT sealed FROM review_probe_faces WHERE case_id = \(watchlistCase.id.rawValue)")

            _ = try await bench.store.deleteGallery(
                custody.id, companion: bench.auditLog.companion(for: .galleryDeleted(by: People.admin, galleryName: custody.name)))

            let raw = bench.raw
            #expect(try await raw.count(ReviewSchema.casesTable) == 1)
            #expect(try await raw.count(ReviewSchema.casesTable, where: "gallery_id", equals: custody.id.rawValue) == 0)
            #expect(try await raw.count(ReviewSchema.candidatesTable, where: "case_id", equals: custodyCase.id.rawValue) == 0)
            #expect(try await raw.count(ReviewSchema.probeFacesTable, where: "case_id", equals: custodyCase.id.rawValue) == 0)
            #expect(try await raw.count(ReviewSchema.decisionsTable) == 0)
            #expect(try await raw.count(ReviewSchema.templateCropsTable) == 2)
            #expect(try await raw.count(ReviewSchema.candidatesTable) == 2)
            let unknown = await failure(ReviewError.self) { try await bench.ledger.reviewCase(custodyCase.id, for: People.admin) }
            #expect(unknown?.description == ReviewError.unknownCase(custodyCase.id).description)
            #expect(try await bench.ledger.reviewCase(watchlistCase.id, for: People.admin).status == .awaitingReview)
            #expect(try await AuditVerifier.verify(bench.auditLog).isIntact)
            let watchlistSealed = try await bench.raw.blobs(
                "SELECT sealed FROM template_crops WHERE template_id = \(watchlistSubjects[0].templates[0].id.rawValue)")

            // Case numbers are never reused, even once every case is gone: an audit entry naming
            // an erased case can never be taken for a later one.
            _ = try await bench.store.deleteGallery(watchlist.id)
            #expect(try await raw.count(ReviewSchema.casesTable) == 0)
            let later = try await bench.gallery("custody", purpose: .custody)
            let laterSubjects = try await bench.enrol([photos[0]], in: later)
            let laterCase = try #require(
                try await bench.ledger.recordSearch(
                    try bench.search(probe, against: [(laterSubjects[0], photos[0])], in: later), by: People.searcher
                ).reviewCase)
            #expect(laterCase.id > watchlistCase.id && laterCase.id > custodyCase.id)

            guard case .sqlite(let location) = raw, let store = bench.store as? SQLiteGalleryStore else { return }
            try await store.checkpoint()
            let file = try fileBytes(of: location)
            let erased = piecesFound(of: try #require(custodyProbe.first), in: file)
            let erasedWatchlist = piecesFound(of: try #require(watchlistProbe.first), in: file)
            let erasedEnrolment = piecesFound(of: try #require(watchlistSealed.first), in: file)
            let laterSealed = try #require(try await bench.crops.sealedEnrolmentCrop(of: laterSubjects[0].templates[0].id))
            let kept = piecesFound(of: laterSealed.combined, in: file)
            #expect(erased.found == 0, "pieces of the erased probe crop remain in the file")
            #expect(erasedWatchlist.found == 0 && erasedEnrolment.found == 0, "pieces of erased crops remain in the file")
            #expect(kept.found * 10 >= kept.of * 8, "the control crop should be found: \(kept)")
        }
    }
}
