import Gallery
import Matching
import Synchronization

/// One gallery's in-memory side: its template index and the subject facts searches report.
final class GalleryIndex: Sendable {
    struct Subject: Sendable {
        var reference: String
        var attributes: [String: String]
    }

    let templates: FlatIndex
    private let subjects: Mutex<[OwnerID: Subject]>
    // The gallery's settings change (threshold) while searches run, so they sit behind a lock.
    private let settings: Mutex<GalleryRecord>

    /// The gallery as last stored.
    var record: GalleryRecord {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }

    init(record: GalleryRecord, subjects: [OwnerID: Subject] = [:]) throws(IdentificationError) {
        self.settings = Mutex(record)
        do { templates = try FlatIndex(dimension: TemplateFormat.dimension) } catch { throw .index(error) }
        self.subjects = Mutex(subjects)
    }

    /// Reads every subject and template of `record` from the store into a new index.
    static func rebuild(_ record: GalleryRecord, from store: any GalleryStore) async throws(IdentificationError) -> GalleryIndex {
        var subjects: [OwnerID: Subject] = [:]
        var cursor: SubjectRecord.ID?
        do {
            repeat {
                let page = try await store.subjects(in: record.id, after: cursor, limit: 1024)
                for subject in page.subjects {
                    subjects[owner(subject.id)] = Subject(reference: subject.externalReference, attributes: subject.attributes)
                }
                cursor = page.nextCursor
            } while cursor != nil
        } catch {
            throw .store(error)
        }
        let index = try GalleryIndex(record: record, subjects: subjects)
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
            $0[owner] = Subject(reference: enrolled.subject.externalReference, attributes: enrolled.subject.attributes)
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
        templates.remove(erasure.templateIDs.map(Self.templateID))
        subjects.withLock { _ = $0.removeValue(forKey: Self.owner(erasure.subject.id)) }
    }

    func subject(_ owner: OwnerID) -> Subject? { subjects.withLock { $0[owner] } }

    func subjectSnapshot() -> [OwnerID: Subject] { subjects.withLock { $0 } }

    private func insert(_ batch: TemplateBatch) throws(IdentificationError) {
        do { try templates.insert(batch) } catch { throw .index(error) }
    }

    // Stored identifiers are positive row numbers, so they fit the index's unsigned identifiers.
    static func owner(_ id: SubjectRecord.ID) -> OwnerID { OwnerID(UInt64(id.rawValue)) }
    static func templateID(_ id: TemplateRecord.ID) -> TemplateID { TemplateID(UInt64(id.rawValue)) }
}
