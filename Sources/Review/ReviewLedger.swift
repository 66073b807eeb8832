import Foundation
import Gallery
import Governance
import Imaging

/// Review cases and decisions: a search of a gallery whose purpose needs review becomes a case
/// whose candidates await a reviewer's decision, and an identification exists only where a
/// reviewer recorded `confirmed` (``ReviewCase/identifications``).
///
/// Every write is one store transaction together with its audit entry: the search's entry with
/// its case, candidates and sealed probe crops (``recordSearch(_:by:)``); each decision's
/// `reviewDecision` entry with the decision row (``decide(_:on:in:note:by:)``).
///
/// **A second decision on a candidate is refused** (``ReviewError/alreadyDecided(_:)``), by a
/// unique constraint, so two reviewers racing cannot both succeed. A decision may already have
/// been acted upon (an identification reported, an arrest made), so the record of what was
/// decided, when and by whom must never change; a correction belongs in a new search and case,
/// which the audit log then shows beside the first.
public struct ReviewLedger: Sendable {
    /// The store (opened with ``GovernanceSchema/migrations(for:)`` and ``ReviewSchema/migrations(for:)``).
    public let store: any GalleryStore
    /// Which galleries need review.
    public let policy: ReviewPolicy
    /// The audit log the ledger writes to.
    public let auditLog: AuditLog
    /// Enrolment crops (and the vault that seals probe crops).
    public let crops: CropStore
    /// Enrolment images kept sealed for re-templating.
    public let images: EnrolmentImageStore

    /// The most candidates a case holds.
    public static let maximumCandidates = 200
    /// The most probe faces a case keeps.
    public static let maximumProbeFaces = 16
    /// The longest note accepted, in characters.
    public static let maximumNoteLength = 2_000
    /// The longest queue page.
    public static let maximumQueuePage = 1_000

    /// A ledger on `store`, sealing crops with `vault`.
    public init(store: any GalleryStore, vault: CropVault, policy: ReviewPolicy = ReviewPolicy()) {
        self.store = store
        self.policy = policy
        auditLog = AuditLog(store: store)
        crops = CropStore(store: store, vault: vault)
        images = EnrolmentImageStore(store: store, vault: vault)
    }

    var vault: CropVault { crops.vault }

    // MARK: - Recording searches

    /// Writes a search's audit entry and, when the gallery's purpose needs review, its case
    /// (candidates, sealed probe crops), all in one transaction. The entry's parameters gain
    /// `reviewRequired`. Call it after the search ran and before any result leaves the server.
    public func recordSearch(_ search: SearchRecord, by caller: Caller) async throws(ReviewError) -> RecordedSearch {
        try authorize(caller, .search(search.gallery.name))
        let requiresReview = policy.requiresReview(search.gallery)
        try Self.validate(search, keepsProbeFaces: requiresReview)
        var parameters = search.parameters
        parameters["reviewRequired"] = .bool(requiresReview)
        let event = AuditEvent.search(
            by: caller, gallery: search.gallery, justification: search.justification, probeSHA256: search.probeSHA256,
            parameters: parameters, candidates: search.candidates.map { AuditCandidate(subjectID: $0.subjectID, score: $0.score) })
        let (auditRecord, auditSequence) = try capturingAudit(event)
        var records = [auditRecord]
        let caseID = Captured<Int64>()
        if requiresReview {
            records.append(caseRecord(search, searcher: ReviewActor(caller), auditSequence: auditSequence, caseID: caseID))
            records += search.candidates.map { candidateRecord($0, caseID: caseID) }
            records += search.probeFaces.enumerated().map { probeFaceRecord($1, index: $0, caseID: caseID) }
        }
        do { try await store.appendRecords(records) } catch { throw ReviewError.unwrap(error) }
        guard let sequence = auditSequence.value else {
            throw .malformedRow(table: GovernanceSchema.auditTable, reason: "the store appended no search entry")
        }
        guard requiresReview else { return RecordedSearch(auditSequence: sequence, reviewCase: nil) }
        guard let id = caseID.value else {
            throw .malformedRow(table: ReviewSchema.casesTable, reason: "the store appended no case")
        }
        return RecordedSearch(auditSequence: sequence, reviewCase: try await loadCase(ReviewCase.ID(id)))
    }

    private static func validate(_ search: SearchRecord, keepsProbeFaces: Bool) throws(ReviewError) {
        if search.candidates.count > maximumCandidates {
            throw .invalidSearch(reason: "\(search.candidates.count) candidates; at most \(maximumCandidates)")
        }
        var subjects = Set<SubjectRecord.ID>()
        for (position, candidate) in search.candidates.enumerated() {
            if candidate.rank != position + 1 {
                throw .invalidSearch(reason: "candidate \(position + 1) has rank \(candidate.rank); ranks run 1, 2, 3, …")
            }
            if !subjects.insert(candidate.subjectID).inserted {
                throw .invalidSearch(reason: "\(candidate.subjectID) appears twice")
            }
            if !candidate.score.isFinite {
                throw .invalidSearch(reason: "candidate \(candidate.rank) has a non-finite score")
            }
        }
        if !search.threshold.isFinite { throw .invalidSearch(reason: "the threshold is not finite") }
        guard keepsProbeFaces else { return }
        if search.probeFaces.isEmpty {
            throw .invalidSearch(reason: "a search of a gallery that needs review must keep its probe face for the reviewer")
        }
        if search.probeFaces.count > maximumProbeFaces {
            throw .invalidSearch(reason: "\(search.probeFaces.count) probe faces; at most \(maximumProbeFaces)")
        }
        for face in search.probeFaces {
            if face.crop.width != CropVault.cropSide || face.crop.height != CropVault.cropSide {
                throw .crop(.invalidCrop(width: face.crop.width, height: face.crop.height))
            }
            if !face.detectionScore.isFinite || face.quality.values.contains(where: { !$0.isFinite }) {
                throw .invalidSearch(reason: "a probe face has a non-finite detection score or quality measure")
            }
        }
    }

    private func caseRecord(
        _ search: SearchRecord, searcher: ReviewActor, auditSequence: Captured<Int64>, caseID: Captured<Int64>
    ) -> CompanionRecord {
        let table = ReviewSchema.casesTable
        let openedAt = Clock.milliseconds()
        return CompanionRecord(table: table, sequenceColumn: "case_id") { _ in
            guard let sequence = auditSequence.value else {
                throw ReviewError.malformedRow(table: table, reason: "the search entry was not written first")
            }
            // The case takes its search's audit sequence number as identifier: the audit log
            // never reuses one, so neither do cases, even after an erasure removed the last.
            caseID.set(sequence)
            return [
                "case_id": .integer(sequence), "gallery_id": .integer(search.gallery.id.rawValue),
                "gallery_name": .text(search.gallery.name), "search_sequence": .integer(sequence),
                "purpose": .text(search.justification.purpose),
                "case_reference": .text(search.justification.caseReference),
                "probe_sha256": .text(search.probeSHA256),
                "searcher_key_id": searcher.keyID.map { .integer($0.rawValue) } ?? .null,
                "searcher_role": searcher.role.map { .text($0.rawValue) } ?? .null,
                "searcher_system_actor": searcher.systemActor.map { .text($0) } ?? .null,
                "searcher_name": searcher.name.map { .text($0) } ?? .null,
                "threshold": .real(Double(search.threshold)), "opened_at_ms": .integer(openedAt),
                "engine": .text(search.engine), "higher_is_more_alike": .integer(search.higherIsMoreAlike ? 1 : 0),
            ]
        }
    }

    private func candidateRecord(_ candidate: SearchCandidate, caseID: Captured<Int64>) -> CompanionRecord {
        let table = ReviewSchema.candidatesTable
        return CompanionRecord(table: table, sequenceColumn: "case_id") { _ in
            guard let id = caseID.value else {
                throw ReviewError.malformedRow(table: table, reason: "the case was not written first")
            }
            return [
                "case_id": .integer(id), "candidate_rank": .integer(Int64(candidate.rank)),
                "subject_id": .integer(candidate.subjectID.rawValue),
                "subject_reference": .text(candidate.subjectReference),
                "template_id": .integer(candidate.templateID.rawValue), "score": .real(Double(candidate.score)),
            ]
        }
    }

    private func probeFaceRecord(_ face: ProbeFace, index: Int, caseID: Captured<Int64>) -> CompanionRecord {
        let table = ReviewSchema.probeFacesTable
        let vault = self.vault
        return CompanionRecord(table: table, sequenceColumn: "case_id") { _ in
            guard let id = caseID.value else {
                throw ReviewError.malformedRow(table: table, reason: "the case was not written first")
            }
            // Sealed here because the binding names the case, whose identifier this
            // transaction assigns.
            let sealed = try vault.seal(face.crop, for: .probe(case: ReviewCase.ID(id), face: index))
            return [
                "case_id": .integer(id), "face_index": .integer(Int64(index)),
                "detection_score": .real(Double(face.detectionScore)), "quality": .text(try Self.qualityText(face.quality)),
                "key_fingerprint": .text(sealed.keyFingerprint), "sealed": .blob(sealed.combined),
            ]
        }
    }

    // MARK: - Deciding

    /// Records `verdict` on the candidate `subject` of a case, with the reviewer's note, and its
    /// `reviewDecision` audit entry, in one transaction. The caller needs
    /// ``Permission/review(_:)`` for the case's gallery.
    ///
    /// Throws ``ReviewError/unknownCase(_:)``, ``ReviewError/forbidden(_:)``,
    /// ``ReviewError/candidateNotInCase(_:subject:)``, ``ReviewError/alreadyDecided(_:)`` or
    /// ``ReviewError/invalidDecision(reason:)`` (an empty or overlong note).
    /// `follower`, if given, commits in the decision's transaction, made from the decision (the
    /// stored response of an idempotent request).
    @discardableResult
    public func decide(
        _ verdict: ReviewVerdict, on subject: SubjectRecord.ID, in caseID: ReviewCase.ID, note: String, by caller: Caller,
        follower: DecisionFollower? = nil
    ) async throws(ReviewError) -> ReviewDecision {
        let note = try Self.checkedNote(note)
        let current = try await loadCase(caseID)
        try authorize(caller, .review(current.galleryName))
        guard let candidate = current.candidate(subject) else { throw .candidateNotInCase(caseID, subject: subject) }
        if let existing = candidate.decision { throw .alreadyDecided(existing) }
        let gallery: GalleryRecord
        do { gallery = try await store.gallery(current.galleryID) } catch {
            if case .unknownGallery = error { throw .unknownCase(caseID) }
            throw .store(error)
        }
        var event = AuditEvent.reviewDecision(
            by: caller, gallery: gallery, searchSequence: current.searchSequence, subjectID: subject,
            decision: verdict.rawValue, note: note)
        event.parameters["caseID"] = .integer(caseID.rawValue)
        event.parameters["rank"] = .integer(Int64(candidate.rank))
        event.parameters["score"] = .number(candidate.score)
        let (auditRecord, auditSequence) = try capturingAudit(event)
        let reviewer = ReviewActor(caller)
        let decidedAt = Clock.milliseconds()
        let decisionID = Captured<Int64>()
        let table = ReviewSchema.decisionsTable
        let decisionRecord = CompanionRecord(table: table, sequenceColumn: "decision_id") { _ in
            guard let sequence = auditSequence.value else {
                throw ReviewError.malformedRow(table: table, reason: "the decision's audit entry was not written first")
            }
            // Like cases, decisions are numbered by their audit entries, so no number returns.
            decisionID.set(sequence)
            return [
                "decision_id": .integer(sequence), "case_id": .integer(caseID.rawValue),
                "subject_id": .integer(subject.rawValue), "verdict": .text(verdict.rawValue), "note": .text(note),
                "reviewer_key_id": reviewer.keyID.map { .integer($0.rawValue) } ?? .null,
                "reviewer_role": reviewer.role.map { .text($0.rawValue) } ?? .null,
                "reviewer_system_actor": reviewer.systemActor.map { .text($0) } ?? .null,
                "reviewer_name": .text(reviewer.name ?? reviewer.description),
                "audit_sequence": .integer(sequence), "decided_at_ms": .integer(decidedAt),
            ]
        }
        @Sendable func decision(id: Int64, sequence: Int64) -> ReviewDecision {
            ReviewDecision(
                id: ReviewDecision.ID(id), caseID: caseID, subjectID: subject, verdict: verdict, note: note,
                reviewer: reviewer, auditSequence: sequence, decidedAt: Date(timeIntervalSince1970: Double(decidedAt) / 1000))
        }
        var records = [auditRecord, decisionRecord]
        if let follower {
            records.append(
                CompanionRecord(table: follower.table, sequenceColumn: follower.sequenceColumn) { _ in
                    guard let id = decisionID.value, let sequence = auditSequence.value else {
                        throw ReviewError.malformedRow(table: table, reason: "the decision was not written before its follower")
                    }
                    return try follower.makeRow(decision(id: id, sequence: sequence))
                })
        }
        do {
            try await store.appendRecords(records)
        } catch {
            let mapped = ReviewError.unwrap(error)
            // A decision or an erasure that committed since the case was read makes the insert
            // break the unique or foreign key: report what happened, not the constraint.
            if case .store(.companionRecordFailed(table, _)) = mapped {
                let again = try await loadCase(caseID)
                guard let now = again.candidate(subject) else { throw .candidateNotInCase(caseID, subject: subject) }
                if let existing = now.decision { throw .alreadyDecided(existing) }
            }
            throw mapped
        }
        guard let id = decisionID.value, let sequence = auditSequence.value else {
            throw .malformedRow(table: table, reason: "the store appended no decision")
        }
        return decision(id: id, sequence: sequence)
    }

    static func checkedNote(_ note: String) throws(ReviewError) -> String {
        let trimmed = note.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw .invalidDecision(reason: "a decision needs a note saying what it rests on") }
        if trimmed.count > maximumNoteLength {
            throw .invalidDecision(reason: "the note is longer than \(maximumNoteLength) characters")
        }
        let allowed: Set<Unicode.Scalar> = ["\n", "\r", "\t"]
        if trimmed.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) && !allowed.contains($0) }) {
            throw .invalidDecision(reason: "the note contains control characters")
        }
        return trimmed
    }

    // MARK: - Reading

    /// A case with its candidates, decisions and probe faces. The caller needs
    /// ``Permission/review(_:)`` or ``Permission/search(_:)`` for the case's gallery (searchers
    /// follow up their own leads; only reviewers see faces, see ``probeCrop(of:face:for:)``).
    public func reviewCase(_ id: ReviewCase.ID, for caller: Caller) async throws(ReviewError) -> ReviewCase {
        let found = try await loadCase(id)
        try authorizeReading(caller, found.galleryName)
        return found
    }

    /// The case opened for the search audited at `searchSequence`; throws
    /// ``ReviewError/unknownCase(_:)`` (with identifier 0) if that search opened none.
    public func reviewCase(searchSequence: Int64, for caller: Caller) async throws(ReviewError) -> ReviewCase {
        let rows = try await rows(ReviewSchema.casesTable, matching: ["search_sequence": .integer(searchSequence)], orderedBy: "case_id", limit: 1)
        guard let row = rows.first else { throw .unknownCase(ReviewCase.ID(0)) }
        let id = try RowReader(row: row, table: ReviewSchema.casesTable).integer("case_id")
        return try await reviewCase(ReviewCase.ID(id), for: caller)
    }

    /// Cases with at least one undecided candidate, oldest first, after `after`, in the galleries
    /// the caller may review (every gallery for admins and local operators). Throws
    /// ``ReviewError/forbidden(_:)`` if the caller's role cannot review at all.
    public func queue(
        for caller: Caller, after: ReviewCase.ID? = nil, limit: Int = 100
    ) async throws(ReviewError) -> [ReviewQueueEntry] {
        guard (1...Self.maximumQueuePage).contains(limit) else {
            throw .invalidPage(reason: "the limit must lie in 1...\(Self.maximumQueuePage), got \(limit)")
        }
        if case .key(let principal) = caller, !Permission.review("").permittedRoles.contains(principal.role) {
            throw .forbidden(.role(principal.role, .review("any gallery")))
        }
        var rows: [StoreRow] = []
        switch caller.scope {
        case .allGalleries:
            rows = try await self.rows(ReviewSchema.queueView, matching: [:], orderedBy: "case_id", after: after?.rawValue, limit: limit)
        case .galleries(let names):
            for name in names.sorted() where caller.may(.review(name)) {
                rows += try await self.rows(
                    ReviewSchema.queueView, matching: ["gallery_name": .text(name)], orderedBy: "case_id",
                    after: after?.rawValue, limit: limit)
            }
        }
        var entries: [ReviewQueueEntry] = []
        for row in rows {
            let reader = RowReader(row: row, table: ReviewSchema.queueView)
            entries.append(
                ReviewQueueEntry(
                    caseID: ReviewCase.ID(try reader.integer("case_id")), searchSequence: try reader.integer("search_sequence"),
                    galleryID: GalleryRecord.ID(try reader.integer("gallery_id")), galleryName: try reader.text("gallery_name"),
                    purpose: try reader.text("purpose"), caseReference: try reader.text("case_reference"),
                    threshold: Float(try reader.real("threshold")), openedAt: try reader.date("opened_at_ms"),
                    candidateCount: Int(try reader.integer("candidate_count")),
                    decisionCount: Int(try reader.integer("decision_count"))))
        }
        return Array(entries.sorted { $0.caseID < $1.caseID }.prefix(limit))
    }

    /// The aligned crop of a probe face of a case, opened (reviewers only: ``Permission/review(_:)``).
    public func probeCrop(of id: ReviewCase.ID, face: Int, for caller: Caller) async throws(ReviewError) -> RGBImage {
        let found = try await loadCase(id)
        try authorize(caller, .review(found.galleryName))
        let rows = try await rows(
            ReviewSchema.probeFacesTable, matching: ["case_id": .integer(id.rawValue), "face_index": .integer(Int64(face))],
            orderedBy: "face_index", limit: 1)
        guard let row = rows.first else { throw .unknownProbeFace(id, face: face) }
        let reader = RowReader(row: row, table: ReviewSchema.probeFacesTable, context: "\(id) face \(face)")
        let sealed = SealedCrop(keyFingerprint: try reader.text("key_fingerprint"), combined: try reader.blob("sealed"))
        do { return try vault.open(sealed, for: .probe(case: id, face: face)) } catch { throw .crop(error) }
    }

    /// The enrolment crop of a candidate's best template, opened (reviewers only).
    public func candidateCrop(
        of id: ReviewCase.ID, subject: SubjectRecord.ID, for caller: Caller
    ) async throws(ReviewError) -> RGBImage {
        let found = try await loadCase(id)
        try authorize(caller, .review(found.galleryName))
        guard let candidate = found.candidate(subject) else { throw .candidateNotInCase(id, subject: subject) }
        return try await crops.enrolmentCrop(of: candidate.templateID)
    }

    // MARK: - Internals

    private func authorize(_ caller: Caller, _ permission: Permission) throws(ReviewError) {
        do { try caller.authorize(permission) } catch {
            if case .forbidden(let reason) = error { throw .forbidden(reason) }
            throw .governance(error)
        }
    }

    private func authorizeReading(_ caller: Caller, _ gallery: String) throws(ReviewError) {
        if caller.may(.search(gallery)) { return }
        try authorize(caller, .review(gallery))
    }

    /// The audit companion for `event`, wrapped to catch the sequence number it is given.
    private func capturingAudit(_ event: AuditEvent) throws(ReviewError) -> (CompanionRecord, Captured<Int64>) {
        let audit: CompanionRecord
        do { audit = try auditLog.companion(for: event) } catch { throw .governance(error) }
        let sequence = Captured<Int64>()
        var record = CompanionRecord(table: audit.table, sequenceColumn: audit.sequenceColumn) { context in
            let row = try audit.makeRow(context)
            guard case .integer(let value)? = row["sequence"] else {
                throw ReviewError.malformedRow(table: audit.table, reason: "the new entry has no sequence number")
            }
            sequence.set(value)
            return row
        }
        // The entry's own followers (its Merkle tree row) commit with it.
        record.followers = audit.followers
        return (record, sequence)
    }

    private func rows(
        _ table: String, matching: [String: StoreValue], orderedBy column: String, after: Int64? = nil, limit: Int
    ) async throws(ReviewError) -> [StoreRow] {
        do { return try await store.records(in: table, matching: matching, orderedBy: column, after: after, limit: limit) } catch {
            throw .store(error)
        }
    }

    /// Reads a case. Decisions are read before candidates: a decision made in between is simply
    /// not seen yet, and a subject erased in between takes its candidate (and so any decision on
    /// it) out of the result, so an erased subject is never reported as identified.
    func loadCase(_ id: ReviewCase.ID) async throws(ReviewError) -> ReviewCase {
        let key: [String: StoreValue] = ["case_id": .integer(id.rawValue)]
        guard let caseRow = try await rows(ReviewSchema.casesTable, matching: key, orderedBy: "case_id", limit: 1).first else {
            throw .unknownCase(id)
        }
        let decisionRows = try await rows(ReviewSchema.decisionsTable, matching: key, orderedBy: "decision_id", limit: Self.maximumCandidates)
        let candidateRows = try await rows(ReviewSchema.candidatesTable, matching: key, orderedBy: "candidate_rank", limit: Self.maximumCandidates)
        let probeRows = try await rows(ReviewSchema.probeFacesTable, matching: key, orderedBy: "face_index", limit: Self.maximumProbeFaces)

        var decisions: [SubjectRecord.ID: ReviewDecision] = [:]
        for row in decisionRows {
            let decision = try Self.decision(row, caseID: id)
            decisions[decision.subjectID] = decision
        }
        var candidates: [ReviewCandidate] = []
        for row in candidateRows {
            let reader = RowReader(row: row, table: ReviewSchema.candidatesTable, context: "\(id)")
            let subject = SubjectRecord.ID(try reader.integer("subject_id"))
            candidates.append(
                ReviewCandidate(
                    rank: Int(try reader.integer("candidate_rank")), subjectID: subject,
                    subjectReference: try reader.text("subject_reference"), score: Float(try reader.real("score")),
                    templateID: TemplateRecord.ID(try reader.integer("template_id")), decision: decisions[subject]))
        }
        var probeFaces: [ProbeFaceSummary] = []
        for row in probeRows {
            let reader = RowReader(row: row, table: ReviewSchema.probeFacesTable, context: "\(id)")
            probeFaces.append(
                ProbeFaceSummary(
                    faceIndex: Int(try reader.integer("face_index")),
                    detectionScore: Float(try reader.real("detection_score")),
                    quality: try Self.quality(from: try reader.text("quality"), reader: reader)))
        }
        let reader = RowReader(row: caseRow, table: ReviewSchema.casesTable, context: "\(id)")
        return ReviewCase(
            id: id, searchSequence: try reader.integer("search_sequence"),
            galleryID: GalleryRecord.ID(try reader.integer("gallery_id")), galleryName: try reader.text("gallery_name"),
            justification: SearchJustification(
                purpose: try reader.text("purpose"), caseReference: try reader.text("case_reference")),
            probeSHA256: try reader.text("probe_sha256"), threshold: Float(try reader.real("threshold")),
            engine: try reader.text("engine"), higherIsMoreAlike: try reader.integer("higher_is_more_alike") != 0,
            searcher: try Self.actor(reader, prefix: "searcher"), openedAt: try reader.date("opened_at_ms"),
            candidates: candidates, probeFaces: probeFaces)
    }

    private static func decision(_ row: StoreRow, caseID: ReviewCase.ID) throws(ReviewError) -> ReviewDecision {
        let reader = RowReader(row: row, table: ReviewSchema.decisionsTable, context: "\(caseID)")
        let verdictText = try reader.text("verdict")
        guard let verdict = ReviewVerdict(rawValue: verdictText) else {
            throw reader.malformed("unknown verdict '\(verdictText)'")
        }
        return ReviewDecision(
            id: ReviewDecision.ID(try reader.integer("decision_id")), caseID: caseID,
            subjectID: SubjectRecord.ID(try reader.integer("subject_id")), verdict: verdict, note: try reader.text("note"),
            reviewer: try actor(reader, prefix: "reviewer"), auditSequence: try reader.integer("audit_sequence"),
            decidedAt: try reader.date("decided_at_ms"))
    }

    private static func actor(_ reader: RowReader, prefix: String) throws(ReviewError) -> ReviewActor {
        let roleText = try reader.optionalText("\(prefix)_role")
        var role: Role?
        if let roleText {
            guard let known = Role(rawValue: roleText) else { throw reader.malformed("unknown role '\(roleText)'") }
            role = known
        }
        return ReviewActor(
            keyID: try reader.optionalInteger("\(prefix)_key_id").map(APIKey.ID.init(rawValue:)), role: role,
            systemActor: try reader.optionalText("\(prefix)_system_actor"), name: try reader.optionalText("\(prefix)_name"))
    }

    private static func qualityText(_ quality: [String: Float]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(quality), as: UTF8.self)
    }

    private static func quality(from text: String, reader: RowReader) throws(ReviewError) -> [String: Float] {
        guard let quality = try? JSONDecoder().decode([String: Float].self, from: Data(text.utf8)) else {
            throw reader.malformed("quality is not a JSON object of numbers")
        }
        return quality
    }
}

/// A record that commits in a review decision's transaction, made from the decision.
public struct DecisionFollower: Sendable {
    /// Its companion table.
    public var table: String
    /// The table's sequence column.
    public var sequenceColumn: String
    /// Builds its row from the decision, inside the transaction.
    public var makeRow: @Sendable (ReviewDecision) throws -> StoreRow

    /// Describes a follower.
    public init(table: String, sequenceColumn: String, makeRow: @escaping @Sendable (ReviewDecision) throws -> StoreRow) {
        self.table = table
        self.sequenceColumn = sequenceColumn
        self.makeRow = makeRow
    }
}
