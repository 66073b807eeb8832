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

    /// One engine's templates of the gallery and how they are laid out in its index.
    struct EngineTemplates: Sendable {
        let layout: EngineIndexLayout
        let index: FlatIndex
    }

    /// The index of each engine of the gallery this service can search, by engine identifier
    /// (an engine not installed here has none: its templates are not held).
    let engines: [String: EngineTemplates]
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

    /// An empty index for each of `layouts`.
    convenience init(
        record: GalleryRecord, layouts: [EngineIndexLayout], encoding: IndexEncoding,
        subjects: SubjectDirectory = SubjectDirectory(), revision: Int64 = 0
    ) throws(IdentificationError) {
        var engines: [String: EngineTemplates] = [:]
        for layout in layouts {
            do {
                engines[layout.engine.identifier] = EngineTemplates(
                    layout: layout, index: try FlatIndex(dimension: layout.dimension, encoding: encoding.flatEncoding))
            } catch {
                throw .index(error)
            }
        }
        self.init(record: record, engines: engines, subjects: subjects, revision: revision)
    }

    /// An index over templates already loaded (from a snapshot).
    init(record: GalleryRecord, engines: [String: EngineTemplates], subjects: SubjectDirectory, revision: Int64 = 0) {
        self.settings = Mutex(record)
        self.engines = engines
        self.subjects = Mutex(subjects)
        self.sync = Mutex(Sync(revision: revision, isTrusted: true))
        self.hasRemovedRows = Mutex(false)
    }

    /// The engine's templates, when this service holds them.
    func templates(of engine: String) -> EngineTemplates? { engines[engine] }

    /// The only engine index of a gallery of one engine (the one snapshots save), else nil.
    var singleEngineTemplates: EngineTemplates? {
        guard record.engines.count == 1, engines.count == 1 else { return nil }
        return engines.values.first
    }

    /// Live templates over every engine.
    var templateCount: Int { engines.values.reduce(0) { $0 + $1.index.count } }

    /// Whether any engine's index holds this template.
    func contains(_ id: TemplateRecord.ID) -> Bool {
        let key = Self.templateID(id)
        return engines.values.contains { $0.index.contains(key) }
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
        for engine in engines.values { engine.index.compact() }
    }

    /// Reads every subject and template of `record` from the store into a new index.
    static func rebuild(
        _ record: GalleryRecord, layouts: [EngineIndexLayout], encoding: IndexEncoding, from store: any GalleryStore
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
        let index = try GalleryIndex(record: record, layouts: layouts, encoding: encoding, subjects: subjects)
        var batches = store.templateBatches(in: record.id).makeAsyncIterator()
        while true {
            let batch: TemplateVectorBatch?
            do { batch = try await batches.next() } catch { throw .store(error) }
            guard let batch else { break }
            try index.insert(batch)
        }
        return index
    }

    /// Inserts a batch read from the store, each row into its engine's index (rows of engines
    /// not held here are left out).
    private func insert(_ batch: TemplateVectorBatch) throws(IdentificationError) {
        for engine in engines.values {
            let model = engine.layout.engine.templateModel
            let rows = batch.modelIdentifiers.indices.filter { batch.modelIdentifiers[$0] == model }
            guard !rows.isEmpty else { continue }
            var vectors: [Float] = []
            vectors.reserveCapacity(rows.count * engine.layout.dimension)
            for row in rows { vectors += try engine.layout.row(for: Array(batch.vector(at: row))) }
            do {
                try engine.index.insert(
                    TemplateBatch(
                        ids: rows.map { Self.templateID(batch.templateIDs[$0]) }, owners: rows.map { Self.owner(batch.subjectIDs[$0]) },
                        vectors: vectors, dimension: engine.layout.dimension))
            } catch {
                throw .index(error)
            }
        }
    }

    /// Adds an enrolled subject and its templates; what the index already holds is kept, and a
    /// subject erased meanwhile is not added, so applying an enrolment twice is harmless.
    func add(_ enrolled: EnrolledSubject) throws(IdentificationError) {
        try add(
            subject: enrolled.subject,
            templates: enrolled.templates.map {
                IndexedTemplate(id: $0.id, owner: $0.subjectID, model: $0.modelIdentifier, vector: $0.vector)
            })
    }

    /// Checks that every template fits its engine's index, before it is stored: a template the
    /// index would refuse after the commit would leave the index behind the store.
    func checkFits(_ templates: [NewTemplate]) throws(IdentificationError) {
        for template in templates {
            guard let engine = engines.values.first(where: { $0.layout.engine.templateModel == template.modelIdentifier }) else {
                continue
            }
            _ = try engine.layout.row(for: template.vector)
        }
    }

    /// A stored template on its way into the index.
    struct IndexedTemplate: Sendable {
        var id: TemplateRecord.ID
        var owner: SubjectRecord.ID
        /// The template tag: which engine's index it joins.
        var model: String
        var vector: [Float]
    }

    /// Adds templates of an enrolled subject, each to its engine's index (skipping those
    /// already held, those of engines not held here, and all of them when the subject was
    /// erased); with `subject`, also its facts.
    func add(subject: SubjectRecord?, templates added: [IndexedTemplate], of owner: OwnerID? = nil) throws(IdentificationError) {
        let owner = subject.map { Self.owner($0.id) } ?? owner
        // Rows are made before taking the lock: a refused template changes nothing.
        var batches: [(FlatIndex, [Template], Int)] = []
        for engine in engines.values {
            let model = engine.layout.engine.templateModel
            var rows: [Template] = []
            for template in added where template.model == model {
                rows.append(
                    Template(
                        id: Self.templateID(template.id), owner: Self.owner(template.owner),
                        vector: try engine.layout.row(for: template.vector)))
            }
            if !rows.isEmpty { batches.append((engine.index, rows, engine.layout.dimension)) }
        }
        let outcome: Result<Void, MatchingError> = changes.withLock { erased in
            if let owner, erased.contains(owner) { return .success(()) }
            if let subject, let owner {
                subjects.withLock {
                    _ = $0.set(Subject(reference: subject.externalReference, attributes: subject.attributes), for: owner)
                }
            }
            for (index, rows, dimension) in batches {
                let missing = rows.filter { !index.contains($0.id) && !erased.contains($0.owner) }
                guard !missing.isEmpty else { continue }
                do throws(MatchingError) {
                    try index.insert(TemplateBatch(missing, dimension: dimension))
                } catch {
                    return .failure(error)
                }
            }
            return .success(())
        }
        if case let .failure(error) = outcome { throw .index(error) }
    }

    func add(_ templates: [TemplateRecord], to subject: SubjectRecord.ID) throws(IdentificationError) {
        try add(
            subject: nil,
            templates: templates.map { IndexedTemplate(id: $0.id, owner: subject, model: $0.modelIdentifier, vector: $0.vector) },
            of: Self.owner(subject))
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
            let keys = ids.map(Self.templateID)
            for engine in engines.values { _ = engine.index.remove(keys) }
            subjects.withLock { $0.remove(owner) }
        }
    }

    /// Whether the index holds this subject.
    func holds(_ subject: SubjectRecord.ID) -> Bool { self.subject(Self.owner(subject)) != nil }

    func subject(_ owner: OwnerID) -> Subject? { subjects.withLock { $0[owner] } }

    func subjectSnapshot() -> SubjectDirectory { subjects.withLock { $0 } }

    /// Subjects whose attributes hold every pair of `filter`.
    func owners(matching filter: [String: String]) -> Set<OwnerID> { subjects.withLock { $0.owners(matching: filter) } }

    // Stored identifiers are positive row numbers, so they fit the index's unsigned identifiers.
    static func owner(_ id: SubjectRecord.ID) -> OwnerID { OwnerID(UInt64(id.rawValue)) }
    static func templateID(_ id: TemplateRecord.ID) -> TemplateID { TemplateID(UInt64(id.rawValue)) }
}
