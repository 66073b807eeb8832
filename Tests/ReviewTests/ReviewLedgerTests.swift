import Foundation
import Gallery
import Governance
import Review
import Testing

/// A custody gallery of three real faces, searched with another photo of one of them.
struct SearchedGallery {
    let gallery: GalleryRecord
    let subjects: [EnrolledSubject]
    let recorded: RecordedSearch
    let reviewCase: ReviewCase

    static func make(_ bench: ReviewBench, name: String = "custody", purpose: GalleryPurpose = .custody) async throws -> SearchedGallery {
        let gallery = try await bench.gallery(name, purpose: purpose)
        let photos = [try await Photos.photo("obama"), try await Photos.photo("biden"), try await Photos.photo("astronaut")]
        let subjects = try await bench.enrol(photos, in: gallery)
        let recorded = try await bench.ledger.recordSearch(
            try bench.search(try await Photos.photo("obama2"), against: Array(zip(subjects, photos)), in: gallery),
            by: People.searcher)
        return SearchedGallery(gallery: gallery, subjects: subjects, recorded: recorded, reviewCase: try #require(recorded.reviewCase))
    }

    func subject(_ index: Int) -> SubjectRecord.ID { subjects[index].subject.id }
}

@Suite struct ReviewLedgerTests {
    @Test(arguments: Backend.allCases)
    func searchOfACustodyGalleryOpensACaseAwaitingReview(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let reviewCase = searched.reviewCase
            let probe = try await Photos.photo("obama2")
            #expect(reviewCase.status == .awaitingReview)
            #expect(reviewCase.identifications.isEmpty)
            #expect(reviewCase.decisions.isEmpty)
            #expect(reviewCase.searchSequence == searched.recorded.auditSequence)
            #expect(reviewCase.galleryID == searched.gallery.id && reviewCase.galleryName == "custody")
            #expect(reviewCase.justification == People.justification)
            #expect(reviewCase.probeSHA256 == probe.sha256)
            #expect(reviewCase.threshold == searched.gallery.operatingThreshold)
            #expect(reviewCase.searcher.keyID == APIKey.ID(4) && reviewCase.searcher.role == .searcher)
            #expect(reviewCase.searcher.name == "S. Earcher")
            // The real scores rank the other Obama photo first.
            #expect(reviewCase.candidates.map(\.rank) == [1, 2, 3])
            #expect(reviewCase.candidates[0].subjectID == searched.subject(0))
            #expect(reviewCase.candidates[0].score == (try probe.score(against: try await Photos.photo("obama"))))
            #expect(reviewCase.candidates[0].score > reviewCase.candidates[1].score)
            #expect(reviewCase.candidates.allSatisfy { $0.decision == nil })
            #expect(reviewCase.probeFaces.map(\.faceIndex) == [0])
            #expect(reviewCase.probeFaces[0].detectionScore == probe.face.detection.score)
            #expect(reviewCase.probeFaces[0].quality["sharpness"] == Float(probe.face.quality.sharpness))

            // Reviewers see the probe and each candidate's enrolment crop, decrypted.
            #expect(try await bench.ledger.probeCrop(of: reviewCase.id, face: 0, for: People.custodyReviewer) == probe.crop)
            #expect(
                try await bench.ledger.candidateCrop(of: reviewCase.id, subject: searched.subject(0), for: People.custodyReviewer)
                    == (try await Photos.photo("obama")).crop)
            #expect(try await bench.ledger.reviewCase(searchSequence: reviewCase.searchSequence, for: People.custodyReviewer) == reviewCase)

            // The search's own audit entry, in the same transaction as the case.
            let search = try #require(try await bench.auditLog.entries().last)
            #expect(search.sequence == reviewCase.searchSequence)
            #expect(search.action == .search)
            #expect(search.caseReference == People.justification.caseReference)
            #expect(search.parameters.contains("\"reviewRequired\":true"))

            // An immigration gallery needs no review: the search is audited, no case or crop is kept.
            let immigration = try await bench.gallery("immigration", purpose: .immigration)
            let photo = try await Photos.photo("biden")
            let enrolled = try await bench.enrol([photo], in: immigration)
            let unreviewed = try await bench.ledger.recordSearch(
                try bench.search(try await Photos.photo("obama3"), against: [(enrolled[0], photo)], in: immigration),
                by: People.searcher)
            #expect(unreviewed.reviewCase == nil)
            #expect(unreviewed.auditSequence == search.sequence + 1)
            #expect(try await bench.raw.count(ReviewSchema.casesTable) == 1)
            #expect(try await bench.raw.count(ReviewSchema.probeFacesTable) == 1)
            #expect(try await bench.auditLog.entries().last?.parameters.contains("\"reviewRequired\":false") == true)
        }
    }

    @Test(arguments: Backend.allCases)
    func decisionsAreAuditedAndOnlyConfirmedCandidatesIdentify(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let caseID = searched.reviewCase.id
            let rejected = try await bench.ledger.decide(
                .rejected, on: searched.subject(1), in: caseID, note: "  different nose bridge\n", by: People.custodyReviewer)
            #expect(rejected.note == "different nose bridge")
            #expect(rejected.verdict == .rejected && rejected.subjectID == searched.subject(1) && rejected.caseID == caseID)
            #expect(rejected.reviewer.keyID == APIKey.ID(2) && rejected.reviewer.role == .reviewer)
            #expect(rejected.reviewer.name == "R. Custody")
            var current = try await bench.ledger.reviewCase(caseID, for: People.custodyReviewer)
            #expect(current.status == .awaitingReview)
            #expect(current.identifications.isEmpty)
            #expect(current.candidate(searched.subject(1))?.decision == rejected)

            let confirmed = try await bench.ledger.decide(
                .confirmed, on: searched.subject(0), in: caseID, note: "same person: ear and hairline", by: People.custodyReviewer)
            current = try await bench.ledger.reviewCase(caseID, for: People.custodyReviewer)
            #expect(current.identifications.map(\.candidate.subjectID) == [searched.subject(0)])
            #expect(current.identifications.first?.decision == confirmed)
            #expect(current.status == .awaitingReview)

            let inconclusive = try await bench.ledger.decide(
                .inconclusive, on: searched.subject(2), in: caseID, note: "face too small to judge",
                by: .localOperator(name: "duty-officer"))
            #expect(inconclusive.reviewer.systemActor == "cli:duty-officer" && inconclusive.reviewer.keyID == nil)
            current = try await bench.ledger.reviewCase(caseID, for: People.custodyReviewer)
            #expect(current.status == .reviewed)
            #expect(current.decisions == [rejected, confirmed, inconclusive])
            #expect(current.identifications.map(\.candidate.subjectID) == [searched.subject(0)])

            // Each decision has its own audit entry, with the facts the case holds.
            let entries = try await bench.auditLog.entries()
            #expect(entries.map(\.action) == [.search, .reviewDecision, .reviewDecision, .reviewDecision])
            #expect([rejected, confirmed, inconclusive].map(\.auditSequence) == [2, 3, 4])
            let confirmation = entries[2]
            #expect(confirmation.actor == .key(APIKey.ID(2), .reviewer))
            #expect(confirmation.galleryID == searched.gallery.id && confirmation.galleryName == "custody")
            let candidate = try #require(current.candidate(searched.subject(0)))
            #expect(confirmation.parameters == JSONValue.object([
                "searchSequence": .integer(searched.reviewCase.searchSequence),
                "subjectID": .integer(searched.subject(0).rawValue), "note": .string("same person: ear and hairline"),
                "caseID": .integer(caseID.rawValue), "rank": .integer(1), "score": .number(candidate.score),
            ]).canonicalText)
            #expect(confirmation.result == JSONValue.object(["decision": .string("confirmed")]).canonicalText)
            #expect(entries[3].actor == .system("cli:duty-officer"))
            let verification = try await AuditVerifier.verify(bench.auditLog)
            #expect(verification == .intact(entryCount: 4, head: entries.last?.head))
        }
    }

    @Test(arguments: Backend.allCases)
    func refusedDecisionsChangeNothing(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let caseID = searched.reviewCase.id
            let ledger = bench.ledger
            let first = try await ledger.decide(.rejected, on: searched.subject(1), in: caseID, note: "no", by: People.custodyReviewer)
            let entriesBefore = try await bench.auditLog.entries().count

            func expectRefusal(_ expected: ReviewError, _ body: () async throws -> ReviewDecision) async {
                let error = await failure(ReviewError.self, body)
                #expect(error?.description == expected.description)
            }
            let missingCase = ReviewCase.ID(caseID.rawValue + 100)
            await expectRefusal(.unknownCase(missingCase)) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: missingCase, note: "x", by: People.admin)
            }
            await expectRefusal(.candidateNotInCase(caseID, subject: SubjectRecord.ID(9_999))) {
                try await ledger.decide(.confirmed, on: SubjectRecord.ID(9_999), in: caseID, note: "x", by: People.admin)
            }
            await expectRefusal(.invalidDecision(reason: "a decision needs a note saying what it rests on")) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: caseID, note: " \n ", by: People.admin)
            }
            await expectRefusal(.invalidDecision(reason: "the note contains control characters")) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: caseID, note: "ok\u{7}", by: People.admin)
            }
            let unknownVerdict = #expect(throws: ReviewError.self) { try ReviewVerdict.parse("probable") }
            #expect(unknownVerdict?.description == "invalid review decision: 'probable' is not one of confirmed, rejected, inconclusive")
            #expect(try ReviewVerdict.parse(" confirmed") == .confirmed)
            await expectRefusal(.forbidden(.role(.searcher, .review("custody")))) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: caseID, note: "mine", by: People.searcher)
            }
            await expectRefusal(.forbidden(.role(.enroller, .review("custody")))) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: caseID, note: "mine", by: People.enroller)
            }
            await expectRefusal(.forbidden(.gallery("custody", key: APIKey.ID(3)))) {
                try await ledger.decide(.confirmed, on: searched.subject(0), in: caseID, note: "x", by: People.watchlistReviewer)
            }
            // A second decision on a decided candidate is refused, whoever makes it.
            await expectRefusal(.alreadyDecided(first)) {
                try await ledger.decide(.confirmed, on: searched.subject(1), in: caseID, note: "on reflection", by: People.admin)
            }

            #expect(try await bench.auditLog.entries().count == entriesBefore)
            #expect(try await bench.raw.count(ReviewSchema.decisionsTable) == 1)
            let current = try await ledger.reviewCase(caseID, for: People.admin)
            #expect(current.decisions == [first])
            #expect(current.identifications.isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentDecisionsOnOneCandidateLetExactlyOneWin(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let caseID = searched.reviewCase.id
            let subject = searched.subject(0)
            let ledger = bench.ledger
            let outcomes = await withTaskGroup(of: Result<ReviewDecision, ReviewError>.self) { group in
                for attempt in 0..<6 {
                    group.addTask {
                        do throws(ReviewError) {
                            return .success(
                                try await ledger.decide(
                                    attempt.isMultiple(of: 2) ? .confirmed : .rejected, on: subject, in: caseID,
                                    note: "attempt \(attempt)", by: attempt < 3 ? People.admin : People.custodyReviewer))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            for case .failure(let error) in outcomes {
                guard case .alreadyDecided(let existing) = error else {
                    Issue.record("a losing attempt failed with \(error)")
                    continue
                }
                #expect(existing == winners.first)
            }
            #expect(try await bench.raw.count(ReviewSchema.decisionsTable) == 1)
            #expect(try await bench.auditLog.entries().filter { $0.action == .reviewDecision }.count == 1)
            #expect(try await AuditVerifier.verify(bench.auditLog).isIntact)
        }
    }

    @Test(arguments: Backend.allCases)
    func queueShowsEachReviewerTheirGalleriesCasesUntilDecided(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let custody = try await SearchedGallery.make(bench, name: "custody", purpose: .custody)
            let watchlist = try await SearchedGallery.make(bench, name: "watchlist", purpose: .watchlist)
            let photos = [try await Photos.photo("obama"), try await Photos.photo("biden"), try await Photos.photo("astronaut")]
            // Immigration searches are audited but never queued.
            let immigration = try await bench.gallery("immigration", purpose: .immigration)
            let immigrant = try await bench.enrol([photos[1]], in: immigration)
            let unqueued = try await bench.ledger.recordSearch(
                try bench.search(try await Photos.photo("obama2"), against: [(immigrant[0], photos[1])], in: immigration),
                by: People.searcher)
            #expect(unqueued.reviewCase == nil)
            // A second custody search, with a third photo of Obama.
            let second = try #require(
                try await bench.ledger.recordSearch(
                    try bench.search(try await Photos.photo("obama3"), against: Array(zip(custody.subjects, photos)), in: custody.gallery),
                    by: People.searcher
                ).reviewCase)
            let ledger = bench.ledger

            let all = try await ledger.queue(for: People.admin)
            #expect(all.map(\.caseID) == [custody.reviewCase.id, watchlist.reviewCase.id, second.id])
            #expect(all.allSatisfy { $0.candidateCount == 3 && $0.decisionCount == 0 })
            #expect(all[1].galleryName == "watchlist" && all[1].caseReference == People.justification.caseReference)
            #expect(try await ledger.queue(for: .localOperator(name: "ops")).map(\.caseID) == all.map(\.caseID))
            #expect(try await ledger.queue(for: People.custodyReviewer).map(\.caseID) == [custody.reviewCase.id, second.id])
            #expect(try await ledger.queue(for: People.watchlistReviewer).map(\.caseID) == [watchlist.reviewCase.id])
            let bothReviewer = Caller.key(
                Principal(keyID: APIKey.ID(6), name: "both", role: .reviewer, scope: .galleries(["custody", "watchlist"])))
            #expect(try await ledger.queue(for: bothReviewer).map(\.caseID) == all.map(\.caseID))
            #expect(try await ledger.queue(for: bothReviewer, after: all[0].caseID, limit: 1).map(\.caseID) == [all[1].caseID])
            let searcherError = await failure(ReviewError.self) { try await ledger.queue(for: People.searcher) }
            #expect(searcherError?.description == ReviewError.forbidden(.role(.searcher, .review("any gallery"))).description)
            let auditor = Caller.key(Principal(keyID: APIKey.ID(7), name: "auditor", role: .auditor, scope: .galleries([])))
            #expect(await failure(ReviewError.self) { try await ledger.queue(for: auditor) } != nil)

            // Deciding every candidate takes a case out of the queue; partly decided cases stay.
            for (index, candidate) in custody.reviewCase.candidates.enumerated() {
                try await ledger.decide(
                    index == 0 ? .confirmed : .rejected, on: candidate.subjectID, in: custody.reviewCase.id,
                    note: "reviewed", by: People.custodyReviewer)
            }
            try await ledger.decide(
                .inconclusive, on: second.candidates[0].subjectID, in: second.id, note: "poor light", by: People.custodyReviewer)
            let remaining = try await ledger.queue(for: People.custodyReviewer)
            #expect(remaining.map(\.caseID) == [second.id])
            #expect(remaining.first?.decisionCount == 1 && remaining.first?.candidateCount == 3)
            #expect(try await ledger.queue(for: People.admin).map(\.caseID) == [watchlist.reviewCase.id, second.id])
        }
    }

    @Test(arguments: Backend.allCases)
    func readingCasesAndFacesFollowsPermissions(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let caseID = searched.reviewCase.id
            let ledger = bench.ledger
            // The searcher follows up the lead but does not see faces.
            #expect(try await ledger.reviewCase(caseID, for: People.searcher).id == caseID)
            let faces = await failure(ReviewError.self) { try await ledger.probeCrop(of: caseID, face: 0, for: People.searcher) }
            #expect(faces?.description == ReviewError.forbidden(.role(.searcher, .review("custody"))).description)
            let candidateFace = await failure(ReviewError.self) {
                try await ledger.candidateCrop(of: caseID, subject: searched.subject(0), for: People.searcher)
            }
            #expect(candidateFace?.description == ReviewError.forbidden(.role(.searcher, .review("custody"))).description)
            // A reviewer of another gallery sees nothing of this one.
            let other = await failure(ReviewError.self) { try await ledger.reviewCase(caseID, for: People.watchlistReviewer) }
            #expect(other?.description == ReviewError.forbidden(.gallery("custody", key: APIKey.ID(3))).description)
            let noFace = await failure(ReviewError.self) { try await ledger.probeCrop(of: caseID, face: 1, for: People.admin) }
            #expect(noFace?.description == ReviewError.unknownProbeFace(caseID, face: 1).description)
        }
    }

    @Test(arguments: Backend.allCases)
    func cropsAlteredOrSwappedInTheDatabaseFailAsTampered(_ backend: Backend) async throws {
        try await backend.withStore { bench in
            let searched = try await SearchedGallery.make(bench)
            let obamaTemplate = searched.subjects[0].templates[0].id.rawValue
            let bidenTemplate = searched.subjects[1].templates[0].id.rawValue
            let swap = """
                UPDATE template_crops SET sealed = (SELECT sealed FROM template_crops WHERE template_id = \(bidenTemplate))
                WHERE template_id = \(obamaTemplate)
                """
            // Even the database owner's UPDATE is refused by the trigger…
            await #expect(throws: (any Error).self) { try await bench.raw.execute([swap]) }
            // …until the trigger is dropped; then the swapped ciphertext no longer opens.
            let dropTrigger = backend == .sqlite
                ? "DROP TRIGGER template_crops_refuse_update"
                : "DROP TRIGGER template_crops_refuse_update ON template_crops"
            try await bench.raw.execute([dropTrigger, swap])
            let swapped = await failure(ReviewError.self) {
                try await bench.ledger.candidateCrop(of: searched.reviewCase.id, subject: searched.subject(0), for: People.admin)
            }
            #expect(swapped?.description == ReviewError.crop(.tampered(.template(TemplateRecord.ID(obamaTemplate)))).description)

            // One flipped bit in the middle of a crop that stayed on its own row.
            var sealed = try #require(try await bench.crops.sealedEnrolmentCrop(of: TemplateRecord.ID(bidenTemplate))).combined
            sealed[sealed.startIndex + 20_000] ^= 0x10
            try await bench.raw.replaceSealed(in: ReviewSchema.templateCropsTable, keyColumn: "template_id", key: bidenTemplate, with: sealed)
            let altered = await failure(ReviewError.self) { try await bench.crops.enrolmentCrop(of: TemplateRecord.ID(bidenTemplate)) }
            #expect(altered?.description == ReviewError.crop(.tampered(.template(TemplateRecord.ID(bidenTemplate)))).description)
        }
    }

    @Test func policyComesFromTheEnvironment() throws {
        #expect(try ReviewPolicy.fromEnvironment([:]).purposesRequiringReview == [.custody, .watchlist])
        #expect(
            try ReviewPolicy.fromEnvironment([ReviewPolicy.environmentKey: "immigration, custody"]).purposesRequiringReview
                == [.immigration, .custody])
        #expect(try ReviewPolicy.fromEnvironment([ReviewPolicy.environmentKey: "none"]).purposesRequiringReview.isEmpty)
        let error = #expect(throws: ReviewError.self) { try ReviewPolicy.fromEnvironment([ReviewPolicy.environmentKey: "custody,border"]) }
        #expect(error?.description.contains("'border' is not a gallery purpose") == true)
        #expect(throws: ReviewError.self) { try ReviewPolicy.fromEnvironment([ReviewPolicy.environmentKey: " , "]) }
    }
}
