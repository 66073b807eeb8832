import Gallery
import Matching
import Synchronization

/// One gallery's in-memory side: its template index and the subject facts searches report.
final class GalleryIndex: Sendable {
    struct Subject: Sendable {
        var reference: String
        var attributes: [String: String]
    }


    /// Which store revision and change-feed position of the gallery the index reflects.
    struct Sync {
        /// The store's revision the index matches: advanced by the change feed's entries.
        var revision: Int64
        /// Every feed entry of this gallery up to here is reflected in the index.
        var position: ChangeFeedPosition = .origin
        /// False once the index may differ from the store at that revision (a change whose
        /// outcome is unknown, or a rebuild that raced another writer): no snapshot is then
        /// written until the next open.
        var isTrusted: Bool
    }

    let templates: FlatIndex
    private let subjects: Mutex<SubjectDirectory>
    // The gallery's settings change (threshold) while searches run, so they sit behind a lock.
    private let settings: Mutex<GalleryRecord>
    private let sync: Mutex<Sync>
    private let saved = Mutex<Int64?>(nil)
    /// Serialises changes to the index, so "apply unless already applied" is one step, and
    /// remembers the subjects erased since the index was made: a change applied late (the
    /// service's own enrolment, or a feed entry read before the erasure) must not bring one back.
    /// Stored identifiers are never reused, so an erased owner stays erased.
    private let changes = Mutex<Set<OwnerID>>([])
    // Erased templates stay in the index as removed rows until compacted; a snapshot must not carry them.
    private let hasRemovedRows: Mutex<Bool>

    /// The gallery as last stored.
    var record: GalleryRecord {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }

    convenience init(
        record: GalleryRecord, encoding: IndexEncoding, subjects: SubjectDirectory = SubjectDirectory(), revision: Int64 = 0
    ) throws(IdentificationError) {
        let templates: FlatIndex
        do { templates = try FlatIndex(dimension: TemplateFormat.dimension, encoding: encoding.flatEncoding) } catch { throw .index(error) }
        try self.init(record: record, templates: templates, subjects: subjects, revision: revision)
    }

    /// An index over templates already loaded (from a snapshot).
    init(record: GalleryRecord, templates: FlatIndex, subjects: SubjectDirectory, revision: Int64 = 0) throws(IdentificationError) {
        self.settings = Mutex(record)
        self.templates = templates
        self.subjects = Mutex(subjects)
        self.sync = Mutex(Sync(revision: revision, isTrusted: true))
        self.hasRemovedRows = Mutex(false)
    }

    /// The store revision the index reflects, or nil when that is not known.
    var trustedRevision: Int64? {
        sync.withLock { $0.isTrusted ? $0.revision : nil }
    }

    /// Sets the store revision and feed position the index reflects (after a load or rebuild);
    /// a nil revision means unknown.
    func setRevision(_ revision: Int64?, position: ChangeFeedPosition) {
        sync.withLock { $0 = Sync(revision: revision ?? 0, position: position, isTrusted: revision != nil) }
    }

    /// The feed position up to which the index reflects this gallery's changes.
    var position: ChangeFeedPosition { sync.withLock { $0.position } }

    /// The revision and position the index reflects, read together.
    var syncState: Sync { sync.withLock { $0 } }

    /// What following a feed entry of this gallery means for the index's revision.
    enum EntryOrder: Equatable {
        /// The index already reflects the entry (its position, or its revision).
        case applied
        /// The entry is the next change: apply it.
        case next
        /// Changes between the index's revision and the entry's are missing from the feed: the
        /// index cannot be brought up to date from it.
        case gap(indexRevision: Int64, entryRevision: Int64)
    }

    /// Where `entry` stands relative to the index; gallery-level entries (no revision change)
    /// are always `next` unless already passed.
    func order(of entry: ChangeFeedEntry) -> EntryOrder {
        sync.withLock { sync in
            if entry.position <= sync.position { return .applied }
            guard let revision = entry.galleryRevision else { return .next }
            switch entry.kind {
            case .galleryCreated, .thresholdChanged, .galleryDeleted: return .next
            case .subjectEnrolled, .templatesAdded, .subjectErased:
                if revision > sync.revision + 1 { return .gap(indexRevision: sync.revision, entryRevision: revision) }
                return .next
            }
        }
    }

    /// Records that the index now reflects `entry` (applied, or found already applied).
    func advance(past entry: ChangeFeedEntry) {
        sync.withLock { sync in
            sync.position = max(sync.position, entry.position)
            if let revision = entry.galleryRevision { sync.revision = max(sync.revision, revision) }
        }
    }

    /// Records that no entry of this gallery up to `position` remains unapplied.
    func advance(to position: ChangeFeedPosition) {
        sync.withLock { $0.position = max($0.position, position) }
    }

    /// The revision of the snapshot last loaded or written for this index, if any.
    var savedRevision: Int64? {
        get { saved.withLock { $0 } }
        set { saved.withLock { $0 = newValue } }
    }

    /// Marks the index as possibly out of step with the store until the next open.
    func distrust() { sync.withLock { $0.isTrusted = false } }

    /// Compacts the templates if any were removed since the last compaction.
    func compactIfNeeded() {
        guard hasRemovedRows.withLock({ flag in defer { flag = false }; return flag }) else { return }
        templates.compact()
    }

    /// Reads every subject and template of `record` from the store into a new index.
    static func rebuild(
        _ record: GalleryRecord, encoding: IndexEncoding, from store: any GalleryStore
    ) async throws(IdentificationError) -> GalleryIndex {
        var subjects = SubjectDirectory()
        var cursor: SubjectRecord.ID?
        do {
            repeat {
                let page = try await store.subjects(in: record.id, after: cursor, limit: 1024)
                for subject in page.subjects {
                    subjects.set(Subject(reference: subject.externalReference, attributes: subject.attributes), for: owner(subject.id))
                }
                cursor = page.nextCursor
            } while cursor != nil
        } catch {
            throw .store(error)
        }
        let index = try GalleryIndex(record: record, encoding: encoding, subjects: subjects)
        var batches = store.templateBatches(in: record.id).makeAsyncIterator()
        while true {
            let batch: TemplateVectorBatch?
            do { batch = try await batches.next() } catch { throw .store(error) }
            guard let batch else { break }
            try index.insert(
                TemplateBatch(
                    ids: batch.templateIDs.map(templateID), owners: batch.subjectIDs.map(owner),
                    vectors: batch.vectors, dimension: TemplateFormat.dimension))
        }
        return index
    }

    /// Adds an enrolled subject and its templates; what the index already holds is kept, and a
    /// subject erased meanwhile is not added, so applying an enrolment twice is harmless.
    func add(_ enrolled: EnrolledSubject) throws(IdentificationError) {
        try add(
            subject: enrolled.subject,
            templates: enrolled.templates.map { Template(id: Self.templateID($0.id), owner: Self.owner($0.subjectID), vector: $0.vector) })
    }

    /// Adds templates of an enrolled subject (skipping those already held, and all of them when
    /// the subject was erased); with `subject`, also its facts.
    func add(subject: SubjectRecord?, templates added: [Template], of owner: OwnerID? = nil) throws(IdentificationError) {
        let owner = subject.map { Self.owner($0.id) } ?? owner
        let outcome: Result<Void, MatchingError> = changes.withLock { erased in
            if let owner, erased.contains(owner) { return .success(()) }
            if let subject, let owner {
                subjects.withLock {
                    _ = $0.set(Subject(reference: subject.externalReference, attributes: subject.attributes), for: owner)
                }
            }
            let missing = added.filter { !templates.contains($0.id) && !erased.contains($0.owner) }
            guard !missing.isEmpty else { return .success(()) }
            do throws(MatchingError) {
                try templates.insert(TemplateBatch(missing, dimension: TemplateFormat.dimension))
            } catch {
                return .failure(error)
            }
            return .success(())
        }
        if case let .failure(error) = outcome { throw .index(error) }
    }

    func add(_ templates: [TemplateRecord], to subject: SubjectRecord.ID) throws(IdentificationError) {
        let owner = Self.owner(subject)
        try add(
            subject: nil, templates: templates.map { Template(id: Self.templateID($0.id), owner: owner, vector: $0.vector) },
            of: owner)
    }

    func remove(_ erasure: SubjectErasure) {
        remove(subject: erasure.subject.id, templates: erasure.templateIDs)
    }

    /// Removes a subject and its templates and remembers it as erased; harmless when absent.
    func remove(subject: SubjectRecord.ID, templates ids: [TemplateRecord.ID]) {
        let owner = Self.owner(subject)
        changes.withLock { erased in
            erased.insert(owner)
            hasRemovedRows.withLock { $0 = true }
            templates.remove(ids.map(Self.templateID))
            subjects.withLock { $0.remove(owner) }
        }
    }

    /// Whether the index holds this subject.
    func holds(_ subject: SubjectRecord.ID) -> Bool { self.subject(Self.owner(subject)) != nil }

    func subject(_ owner: OwnerID) -> Subject? { subjects.withLock { $0[owner] } }

    func subjectSnapshot() -> SubjectDirectory { subjects.withLock { $0 } }

    /// Subjects whose attributes hold every pair of `filter`.
    func owners(matching filter: [String: String]) -> Set<OwnerID> { subjects.withLock { $0.owners(matching: filter) } }

    private func insert(_ batch: TemplateBatch) throws(IdentificationError) {
        do { try templates.insert(batch) } catch { throw .index(error) }
    }

    // Stored identifiers are positive row numbers, so they fit the index's unsigned identifiers.
    static func owner(_ id: SubjectRecord.ID) -> OwnerID { OwnerID(UInt64(id.rawValue)) }
    static func templateID(_ id: TemplateRecord.ID) -> TemplateID { TemplateID(UInt64(id.rawValue)) }
}
