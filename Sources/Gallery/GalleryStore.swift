import Foundation

/// Durable storage of galleries, subjects and templates.
///
/// Every mutating operation is one transaction: it commits entirely or changes nothing, and an
/// optional ``CompanionRecord`` (an audit row, say) commits in the same transaction. Reads see
/// a consistent snapshot, so a subject is never seen without the templates it was enrolled with.
/// Deletion is erasure: rows are removed, not flagged. Implementations: ``SQLiteGalleryStore``
/// and ``PostgresGalleryStore``.
public protocol GalleryStore: Sendable {
    // MARK: Galleries

    /// Creates a gallery. Throws ``GalleryError/duplicateGalleryName(_:)`` if the name is taken.
    func createGallery(_ gallery: NewGallery, companion: CompanionRecord?) async throws(GalleryError) -> GalleryRecord

    /// All galleries in identifier order.
    func galleries() async throws(GalleryError) -> [GalleryRecord]

    /// The gallery with this identifier.
    func gallery(_ id: GalleryRecord.ID) async throws(GalleryError) -> GalleryRecord

    /// The gallery with this name.
    func gallery(named name: String) async throws(GalleryError) -> GalleryRecord

    /// Changes a gallery's operating threshold and returns the updated gallery.
    func setOperatingThreshold(
        _ threshold: Float, of gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> GalleryRecord

    /// Changes a gallery's engines or settings (see ``GalleryRecord/reconfigured(by:)`` for what
    /// is refused) in one transaction. Dropping an engine deletes every template it made in the
    /// gallery. A change to the engines advances the gallery's revision; its feed entry is a
    /// ``ChangeKind/thresholdChanged`` (settings changed), on which followers re-read the gallery.
    func reconfigureGallery(
        _ id: GalleryRecord.ID, _ change: GalleryReconfiguration, companion: CompanionRecord?
    ) async throws(GalleryError) -> GalleryReconfigurationReceipt

    /// Erases a gallery with all its subjects and templates.
    func deleteGallery(_ id: GalleryRecord.ID, companion: CompanionRecord?) async throws(GalleryError) -> GalleryErasure

    // MARK: Subjects and templates

    /// Enrols a subject with its templates, all or nothing.
    func enrol(
        _ subject: NewSubject, in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> EnrolledSubject

    /// Enrols several subjects in one transaction, all or none (bulk enrolment and imports:
    /// one commit instead of one per subject). `companion`, if given, appends one row per
    /// subject, each seeing that subject's ``GalleryChange/subjectEnrolled(_:)``.
    func enrolAll(
        _ subjects: [NewSubject], in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [EnrolledSubject]
    /// Adds templates to an enrolled subject, all or nothing, and returns the stored templates.
    func addTemplates(
        _ templates: [NewTemplate], to subject: SubjectRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [TemplateRecord]

    /// Adds templates to enrolled subjects of one gallery in one transaction, all or none, and
    /// returns those stored by subject. A template is skipped when its subject already holds a
    /// template of the same tag made from the same source image, and so is a subject erased
    /// since (so repeating an addition after a crash never duplicates a template). Each subject
    /// given templates is one ``GalleryChange/templatesAdded(subject:templates:)`` in the feed;
    /// `companion` is appended once, after them, with no change in its context.
    func addMissingTemplates(
        _ additions: [TemplateAddition], in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [SubjectRecord.ID: [TemplateRecord]]

    /// A subject with all its templates.
    func subject(_ id: SubjectRecord.ID) async throws(GalleryError) -> EnrolledSubject

    /// The stored quality of each of these templates that still exists, in one read (a search's
    /// candidates name their best template; loading whole subjects for that costs a read each).
    func templateQualities(_ ids: [TemplateRecord.ID]) async throws(GalleryError) -> [TemplateRecord.ID: TemplateQuality]

    /// The subject of a gallery with this external reference, with all its templates.
    func subject(reference: String, in gallery: GalleryRecord.ID) async throws(GalleryError) -> EnrolledSubject

    /// Up to `limit` subjects of a gallery whose identifiers follow `after` (nil: from the start).
    func subjects(
        in gallery: GalleryRecord.ID, after: SubjectRecord.ID?, limit: Int
    ) async throws(GalleryError) -> SubjectPage

    /// Erases a subject and its templates; the receipt lists the template identifiers removed.
    func deleteSubject(_ id: SubjectRecord.ID, companion: CompanionRecord?) async throws(GalleryError) -> SubjectErasure

    /// Up to `limit` subjects, of any gallery, whose retention ended at or before `date`, in
    /// identifier order. A subject expires at the earlier of its own `retainUntil` and its
    /// gallery's days-after-enrolment rule.
    func expiredSubjects(asOf date: Date, limit: Int) async throws(GalleryError) -> [SubjectRecord]

    /// Up to `limit` template vectors of a gallery whose identifiers follow `after`, in
    /// identifier order; see ``GalleryStore/templateBatches(in:batchSize:)`` for the whole gallery.
    func templateVectors(
        in gallery: GalleryRecord.ID, after: TemplateRecord.ID?, limit: Int
    ) async throws(GalleryError) -> TemplateVectorBatch

    /// How many subjects and templates a gallery holds.
    func counts(in gallery: GalleryRecord.ID) async throws(GalleryError) -> GalleryCounts

    /// The gallery's revision: 0 when created, and exactly one more after each committed call
    /// that changes its subjects or templates (``enrol(_:in:companion:)``,
    /// ``enrolAll(_:in:companion:)``, ``addTemplates(_:to:companion:)``,
    /// ``deleteSubject(_:companion:)``), counted in that call's own transaction. Two reads that
    /// return the same revision saw the same subjects and templates, which is how a saved index
    /// is known to be fresh.
    func revision(of gallery: GalleryRecord.ID) async throws(GalleryError) -> Int64

    // MARK: Work leases

    /// Claims the lease `name` for `holder` until `duration` from now, in one transaction: when
    /// nobody holds it, its holder's lease has expired, or `holder` already holds it (a renewal).
    /// Returns the lease as it stands afterwards, which names another holder when the claim
    /// was refused. See ``WorkLease``.
    func claimLease(_ name: String, holder: String, duration: Duration) async throws(GalleryError) -> WorkLease

    /// Ends the lease `name` at once if `holder` holds it (nothing otherwise), so another
    /// process may claim it without waiting for it to expire.
    func releaseLease(_ name: String, holder: String) async throws(GalleryError)

    // MARK: Change feed

    /// Up to `limit` entries of the change feed that follow `position`, in position order. Every
    /// committed change to galleries, subjects and templates appends its entries in its own
    /// transaction, at positions given in commit order without gaps, so reading on from the last
    /// position seen never skips a change.
    func changes(after position: ChangeFeedPosition, limit: Int) async throws(GalleryError) -> [ChangeFeedEntry]

    /// The position of the last committed change (``ChangeFeedPosition/origin`` before the first).
    func changeFeedHead() async throws(GalleryError) -> ChangeFeedPosition

    /// The subjects with these identifiers that still exist, in identifier order (a follower of
    /// the feed reads an enrolment's subject this way).
    func subjectRecords(_ ids: [SubjectRecord.ID]) async throws(GalleryError) -> [SubjectRecord]

    /// The vectors of these templates that still exist, in identifier order, each with its
    /// subject (a follower of the feed reads enrolled and added templates this way).
    func templateVectors(_ ids: [TemplateRecord.ID]) async throws(GalleryError) -> TemplateVectorBatch

    // MARK: Companion records

    /// Appends companion records on their own (for example the audit row of a search, or a key
    /// row and the audit row recording it), in order and in one transaction: all or none. Each
    /// sees the rows appended before it, with the same locking and chaining as a record that
    /// accompanies a change (its context's `change` is nil).
    func appendRecords(_ records: [CompanionRecord]) async throws(GalleryError)

    /// Up to `limit` rows of a companion table whose `sequenceColumn` exceeds `after`, in that order.
    func records(
        in table: String, orderedBy sequenceColumn: String, after: Int64?, limit: Int
    ) async throws(GalleryError) -> [StoreRow]

    /// Up to `limit` rows of a companion table (or view) whose columns equal the values in
    /// `matching` (``StoreValue/null`` matches NULL) and whose `sequenceColumn` exceeds `after`,
    /// in that order. Column names are checked like table names; values travel as bound parameters.
    func records(
        in table: String, matching: [String: StoreValue], orderedBy sequenceColumn: String, after: Int64?, limit: Int
    ) async throws(GalleryError) -> [StoreRow]

    /// The rows of a companion table whose integer `keyColumn` is one of `keys` (at most
    /// ``InputValidation/maximumPageSize`` keys), in key order; keys without a row are skipped.
    func records(in table: String, keyColumn: String, keys: [Int64]) async throws(GalleryError) -> [StoreRow]

    /// The row of a companion table whose columns equal `matching` with the largest
    /// `sequenceColumn`, or nil when none matches (the latest state of something kept as a
    /// sequence of rows, say a job's progress).
    func lastRecord(
        in table: String, matching: [String: StoreValue], orderedBy sequenceColumn: String
    ) async throws(GalleryError) -> StoreRow?

    /// Deletes up to `limit` rows of a companion table whose columns equal the values in
    /// `matching` and whose integer `column` is at most `atMost` (rows that expired), and returns
    /// how many went. Not for the audit log or any chained table: only for rows whose life ended.
    func deleteRecords(
        in table: String, matching: [String: StoreValue], where column: String, atMost: Int64, limit: Int
    ) async throws(GalleryError) -> Int
}

extension GalleryStore {
    /// Creates a gallery without a companion record.
    public func createGallery(_ gallery: NewGallery) async throws(GalleryError) -> GalleryRecord {
        try await createGallery(gallery, companion: nil)
    }

    /// Changes a gallery's operating threshold without a companion record.
    public func setOperatingThreshold(
        _ threshold: Float, of gallery: GalleryRecord.ID
    ) async throws(GalleryError) -> GalleryRecord {
        try await setOperatingThreshold(threshold, of: gallery, companion: nil)
    }

    /// Erases a gallery without a companion record.
    public func deleteGallery(_ id: GalleryRecord.ID) async throws(GalleryError) -> GalleryErasure {
        try await deleteGallery(id, companion: nil)
    }

    /// Enrols a subject without a companion record.
    public func enrol(_ subject: NewSubject, in gallery: GalleryRecord.ID) async throws(GalleryError) -> EnrolledSubject {
        try await enrol(subject, in: gallery, companion: nil)
    }

    /// Adds templates without a companion record.
    public func addTemplates(
        _ templates: [NewTemplate], to subject: SubjectRecord.ID
    ) async throws(GalleryError) -> [TemplateRecord] {
        try await addTemplates(templates, to: subject, companion: nil)
    }

    /// Appends one companion record on its own; see ``appendRecords(_:)``.
    public func appendRecord(_ record: CompanionRecord) async throws(GalleryError) {
        try await appendRecords([record])
    }

    /// Erases a subject without a companion record.
    public func deleteSubject(_ id: SubjectRecord.ID) async throws(GalleryError) -> SubjectErasure {
        try await deleteSubject(id, companion: nil)
    }

    /// Every template vector of a gallery, in identifier order, `batchSize` at a time: the feed
    /// for an index rebuild. Each batch is its own read, so templates enrolled during the walk
    /// appear if their identifiers lie beyond the cursor, and erased ones stop appearing.
    public func templateBatches(in gallery: GalleryRecord.ID, batchSize: Int = 4096) -> TemplateBatchSequence {
        TemplateBatchSequence(store: self, gallery: gallery, batchSize: batchSize)
    }
}

/// The batches of ``GalleryStore/templateBatches(in:batchSize:)``; each `next()` reads one batch.
public struct TemplateBatchSequence: AsyncSequence, Sendable {
    public typealias Element = TemplateVectorBatch
    public typealias Failure = GalleryError

    let store: any GalleryStore
    let gallery: GalleryRecord.ID
    let batchSize: Int

    /// Walks the gallery with a keyset cursor.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = TemplateVectorBatch
        public typealias Failure = GalleryError

        let store: any GalleryStore
        let gallery: GalleryRecord.ID
        let batchSize: Int
        var cursor: TemplateRecord.ID?
        var finished = false

        /// Reads the next non-empty batch, or nil at the end.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(GalleryError) -> TemplateVectorBatch? {
            if finished { return nil }
            let batch = try await store.templateVectors(in: gallery, after: cursor, limit: batchSize)
            if batch.count < batchSize { finished = true }
            guard let last = batch.templateIDs.last else { return nil }
            cursor = last
            return batch
        }

        /// Reads the next non-empty batch, or nil at the end.
        public mutating func next() async throws(GalleryError) -> TemplateVectorBatch? {
            try await next(isolation: nil)
        }
    }

    /// Starts a walk from the gallery's first template.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, gallery: gallery, batchSize: batchSize)
    }
}
