import Foundation
import Gallery
import Governance
import Operations
import Review
import Testing
import Transparency

@Suite struct TransparencyStatisticsTests {
    /// A scripted history through the real operations, whose figures are known by construction:
    ///
    /// custody (needs review): obama and biden enrolled; criminal-investigation searches with
    /// obama2 (candidate obama: confirmed), biden (candidate biden: rejected) and obama3
    /// (candidate obama: inconclusive); a safeguarding search with the astronaut (no candidate);
    /// one verification; the threshold raised once with a reason; biden erased on request.
    /// evaluation (no review): one missing-person search with obama2 (no one enrolled there but
    /// a short-lived subject, erased by the retention sweep before it).
    @Test(arguments: StoreBackend.allCases) func aScriptedHistoryGivesExactlyItsCounts(backend: StoreBackend) async throws {
        let fixture = try await Support.fixture(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        let admin = fixture.admin
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: admin)
        _ = try await operations.createGallery(GalleryDraft(name: "evaluation", purpose: .other), by: admin)
        let obama = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "obama", images: [try Support.photo("obama.jpg")]), by: admin)
        let biden = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "biden", images: [try Support.photo("biden.jpg")]), by: admin)
        _ = try await operations.enrol(
            EnrolmentRequest(
                gallery: "evaluation", reference: "short-lived", retainUntil: Date().addingTimeInterval(60),
                images: [try Support.photo("obama3.jpg")]),
            by: admin)
        let investigation = StatedJustification(purpose: "criminal-investigation", caseReference: "CASE-1")
        for (photo, subject, verdict) in [
            ("obama2.jpg", obama.subject.id, ReviewVerdict.confirmed), ("biden.jpg", biden.subject.id, .rejected),
            ("obama3.jpg", obama.subject.id, .inconclusive),
        ] {
            let outcome = try await operations.search(
                SearchRequest(gallery: "custody", image: try Support.photo(photo), justification: investigation), by: admin)
            #expect(outcome.candidates.map(\.subjectID) == [subject], "\(photo)")
            let reviewCase = try #require(outcome.reviewCase)
            _ = try await operations.review.decide(verdict, on: subject, in: reviewCase.id, note: "checked", by: admin)
        }
        let none = try await operations.search(
            SearchRequest(
                gallery: "custody", image: try Support.photo("astronaut.png"),
                justification: StatedJustification(purpose: "safeguarding", caseReference: "CASE-2")),
            by: admin)
        #expect(none.candidates.isEmpty)
        _ = try await operations.verify(
            SubjectVerificationRequest(
                gallery: "custody", subjectReference: "obama", image: try Support.photo("obama2.jpg"), justification: investigation),
            by: admin)
        _ = try await operations.setThreshold(0.4, gallery: "custody", reason: "NPL evaluation, FMR 1e-4 on the custody set", by: admin)
        _ = try await operations.eraseSubject("biden", in: "custody", reason: "subject's request", by: admin)
        #expect(try await operations.sweepExpiredSubjects(asOf: Date().addingTimeInterval(3_600)).count == 1)
        let missing = try await operations.search(
            SearchRequest(
                gallery: "evaluation", image: try Support.photo("obama2.jpg"),
                justification: StatedJustification(purpose: "missing-person", caseReference: "CASE-3")),
            by: admin)
        #expect(missing.candidates.isEmpty && missing.reviewCase == nil)

        // A window of three days around now holds everything, whatever the clock's day.
        let from = StatisticsPeriod.day.start(of: Date()).addingTimeInterval(-86_400)
        let to = from.addingTimeInterval(3 * 86_400)
        let report = try await operations.auditLog.transparencyReport(from: from, to: to, period: .day)
        #expect(report.periods.count == 3)
        let activity = Dictionary(uniqueKeysWithValues: report.totalActivity.map { ("\($0.gallery ?? "-")/\($0.purpose ?? "-")", $0.figures) })
        #expect(activity.keys.sorted() == ["custody/criminal-investigation", "custody/safeguarding", "evaluation/missing-person"])
        let custody = try #require(activity["custody/criminal-investigation"])
        #expect(custody.searches == 3 && custody.searchesWithCandidates == 3 && custody.candidatesReturned == 3)
        #expect(custody.verifications == 1)
        #expect(custody.confirmed == 1 && custody.rejected == 1 && custody.inconclusive == 1)
        #expect(custody.rejectedShare == 1.0 / 3.0)
        let safeguarding = try #require(activity["custody/safeguarding"])
        #expect(safeguarding.searches == 1 && safeguarding.searchesWithCandidates == 0 && safeguarding.reviewDecisions == 0)
        #expect(safeguarding.rejectedShare == nil)
        let evaluation = try #require(activity["evaluation/missing-person"])
        #expect(evaluation.searches == 1 && evaluation.searchesWithCandidates == 0)

        let galleries = Dictionary(uniqueKeysWithValues: report.totalGalleries.map { ($0.gallery, $0.figures) })
        let custodyChanges = try #require(galleries["custody"])
        #expect(custodyChanges.thresholdChanges.map(\.reason) == ["NPL evaluation, FMR 1e-4 on the custody set"])
        #expect(custodyChanges.thresholdChanges.first?.threshold == 0.4)
        #expect(custodyChanges.thresholdChanges.first?.previous == 0.363)
        #expect(custodyChanges.erasuresOnRequest == 1 && custodyChanges.erasuresByRetention == 0)
        let evaluationChanges = try #require(galleries["evaluation"])
        #expect(evaluationChanges.erasuresOnRequest == 0 && evaluationChanges.erasuresByRetention == 1)
        #expect(evaluationChanges.thresholdChanges.isEmpty)
        // The periods add up to the totals.
        #expect(report.periods.flatMap(\.activity).map(\.figures.searches).reduce(0, +) == 5)

        // The same figures from an export, by anyone holding it.
        var lines: [String] = []
        try await operations.auditLog.export { lines += $0 }
        let exported = try TransparencyStatistics.report(exportLines: lines, from: from, to: to, period: .day)
        #expect(exported == report)
        #expect(report.basis.treeSize == Int64(lines.count))

        // Counting only up to a tree size leaves out what came after it (the checkpoint's cut).
        let entries = try await operations.auditEntries(after: nil, limit: 1_000, by: fixture.auditor)
        let thresholdEntry = try #require(entries.first { $0.action == .thresholdChanged })
        let earlier = try await operations.auditLog.transparencyReport(
            from: from, to: to, period: .month, upTo: thresholdEntry.sequence - 1)
        #expect(earlier.basis.treeSize == thresholdEntry.sequence - 1)
        #expect(earlier.totalGalleries.allSatisfy { $0.figures.thresholdChanges.isEmpty && $0.figures.erasuresOnRequest == 0 })
        #expect(earlier.totalActivity.map(\.figures.searches).reduce(0, +) == 4)
        #expect(
            try TransparencyStatistics.report(
                exportLines: lines, from: from, to: to, period: .month, upTo: thresholdEntry.sequence - 1) == earlier)

        // A signed checkpoint made part-way: the store's report counts what it covers and states it,
        // and so does the report from the export with the checkpoint given.
        let signer = try NoteSigner.generate(name: "biomatch.test/audit")
        var tree = MerkleFrontier()
        for line in lines.prefix(Int(thresholdEntry.sequence - 1)) { tree.append(leafHash: MerkleHash.leaf(Data(line.utf8))) }
        #expect(earlier.basis.rootHash == tree.root.base64EncodedString())
        #expect(report.basis.checkpoint == nil)
        let checkpoint = try #require(try await operations.makeAuditCheckpoint(signer: signer))
        let atCheckpoint = try await operations.auditLog.transparencyReportAtLatestCheckpoint(from: from, to: to, period: .day)
        #expect(atCheckpoint.basis.checkpoint == checkpoint.note)
        #expect(atCheckpoint.basis.treeSize == checkpoint.checkpoint.size)
        #expect(atCheckpoint.basis.rootHash == checkpoint.checkpoint.rootHash.base64EncodedString())
        #expect(atCheckpoint.totalActivity == report.totalActivity)
        var fromExport = try TransparencyStatistics.report(
            exportLines: lines, from: from, to: to, period: .day, upTo: checkpoint.checkpoint.size)
        try fromExport.attach(checkpoint.note, checkpoint: checkpoint.checkpoint)
        #expect(fromExport == atCheckpoint)
        // Entries that are not the checkpoint's are refused as its basis.
        var shorter = earlier
        #expect(throws: GovernanceError.self) { try shorter.attach(checkpoint.note, checkpoint: checkpoint.checkpoint) }

        // A window before any of it counts nothing, yet lists its periods.
        let before = try await operations.auditLog.transparencyReport(
            from: from.addingTimeInterval(-30 * 86_400), to: from, period: .week)
        #expect(before.entriesInWindow == 0 && before.totalActivity.isEmpty && before.totalGalleries.isEmpty)
        #expect(!before.periods.isEmpty)
    }

    /// Periods are UTC days, ISO weeks from Monday and calendar months.
    @Test func periodsAreCutInUTC() throws {
        let instant = try #require(ISO8601DateFormatter().date(from: "2026-12-10T23:30:00Z"))  // a Thursday
        let iso = ISO8601DateFormatter()
        #expect(iso.string(from: StatisticsPeriod.day.start(of: instant)) == "2026-12-10T00:00:00Z")
        #expect(iso.string(from: StatisticsPeriod.week.start(of: instant)) == "2026-12-07T00:00:00Z")
        #expect(iso.string(from: StatisticsPeriod.month.start(of: instant)) == "2026-12-01T00:00:00Z")
        #expect(iso.string(from: StatisticsPeriod.month.next(after: StatisticsPeriod.month.start(of: instant))) == "2027-01-01T00:00:00Z")
        #expect(iso.string(from: StatisticsPeriod.week.next(after: StatisticsPeriod.week.start(of: instant))) == "2026-12-14T00:00:00Z")
    }
}
