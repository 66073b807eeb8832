import Gallery
import Matching
import Synchronization

/// One gallery's in-memory side: its template index and the subject facts searches report.
final class GalleryIndex: Sendable {
    struct Subject: Sendable {
        var reference: String
        var attributes: [String: String]
    }


    /// Which store revision of the gallery the index reflects, as far as the service knows.
    struct Sync {
        /// The store's revision the index matches, counting the changes made through the service.
        var revision: Int64
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

    /// Sets the store revision the index reflects (after a load or rebuild), or nil for unknown.
    func setRevision(_ revision: Int64?) {
        sync.withLock { $0 = Sync(revision: revision ?? 0, isTrusted: revision != nil) }
    }

    /// The revision of the snapshot last loaded or written for this index, if any.
    var savedRevision: Int64? {
        get { saved.withLock { $0 } }
        set { saved.withLock { $0 = newValue } }
    }

    /// Counts one committed change made through the service and applied to the index.
    func recordChange() { sync.withLock { $0.revision += 1 } }

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

    func add(_ enrolled: EnrolledSubject) throws(IdentificationError) {
        let owner = Self.owner(enrolled.subject.id)
        subjects.withLock {
            _ = $0.set(Subject(reference: enrolled.subject.externalReference, attributes: enrolled.subject.attributes), for: owner)
        }
        try insert(
            TemplateBatch(
                enrolled.templates.map { Template(id: Self.templateID($0.id), owner: owner, vector: $0.vector) },
                dimension: TemplateFormat.dimension))
    }

    func add(_ templates: [TemplateRecord], to subject: SubjectRecord.ID) throws(IdentificationError) {
        let owner = Self.owner(subject)
        try insert(
            TemplateBatch(
                templates.map { Template(id: Self.templateID($0.id), owner: owner, vector: $0.vector) },
                dimension: TemplateFormat.dimension))
    }

    func remove(_ erasure: SubjectErasure) {
        hasRemovedRows.withLock { $0 = true }
        templates.remove(erasure.templateIDs.map(Self.templateID))
        subjects.withLock { $0.remove(Self.owner(erasure.subject.id)) }
    }

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
