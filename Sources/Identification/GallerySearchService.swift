import FaceEngine
import Foundation
import Gallery
import Installation
import Matching
import Synchronization

/// Enrolment, search, verification and deletion over a ``GalleryStore``, with one in-memory
/// index per gallery, loaded from its snapshot when the service opens (if one reflects the
/// store's current state of the gallery) or rebuilt from the store.
///
/// The store is the truth: enrolment commits to the store first and then adds to the index;
/// deletion erases from the store first and then removes from the index, so a deleted subject
/// is never returned by a search that starts after ``deleteSubject(gallery:reference:)`` returns.
/// Index updates never wait for searches.
///
/// Several services (nodes) may share one store. Every committed change appends an entry to the
/// store's change feed in its own transaction; ``catchUp()`` applies the entries the indexes do
/// not reflect yet (changes made elsewhere; the service's own are applied at once and found
/// already there), and ``GalleryFeedFollower`` calls it whenever the feed may have grown.
///
/// Snapshots: each gallery's store revision changes with every committed change to its subjects
/// and templates, and each feed entry records the revision it made. An index's revision
/// advances with the entries applied to it, so the service knows when its index matches the
/// store's current revision; only then does ``writeSnapshots()`` save it, with its feed
/// position. At open, a snapshot at the current revision is used as it is; an older one with a
/// feed position is brought up to date from the feed, provided the entries' revisions follow on
/// from the snapshot's without a gap and reach the store's revision (otherwise it is rebuilt).
/// Erasing a subject removes the gallery's snapshot at once, so erased templates do not stay on
/// disk until the next write.
public final class GallerySearchService: Sendable {
    /// The durable store.
    public let store: any GalleryStore
    /// The engine that turns images into templates.
    public let engine: FaceEngine
    /// How each gallery's index was obtained when the service opened, in gallery order.
    public var indexReports: [IndexLoadReport] { reports.withLock { $0 } }

    /// How galleries hold their templates in memory.
    public let indexEncoding: IndexEncoding

    let indexes: Mutex<[String: GalleryIndex]>
    let snapshots: GallerySnapshotFolder?
    private let activity = Mutex(Activity())
    private let reports: Mutex<[IndexLoadReport]>
    /// Every feed entry up to here is reflected in the indexes.
    let cursor: Mutex<ChangeFeedPosition>
    /// One catch-up at a time, each continuing where the last stopped.
    let feedGate = SerialGate()
    /// The last feed entry applied, checked against the store's entry at the same position on
    /// the next catch-up: a failover that lost committed changes gives the feed another history.
    let lastApplied = Mutex<ChangeFeedEntry?>(nil)
    let feedDivergences = Mutex(0)

    /// Feed entries read at a time.
    static let feedBatchSize = 512

    /// Changes in flight through the service, so a snapshot is written only when none is.
    private struct Activity {
        var started = 0
        var finished = 0
        /// A store call failed in a way that leaves unknown whether it committed, in a gallery
        /// not known (erasure by identifier): no gallery is trusted until the next open.
        var isUncertain = false
    }

    private init(
        store: any GalleryStore, engine: FaceEngine, indexes: [String: GalleryIndex],
        snapshots: GallerySnapshotFolder?, reports: [IndexLoadReport], indexEncoding: IndexEncoding,
        cursor: ChangeFeedPosition
    ) {
        self.indexEncoding = indexEncoding
        self.store = store
        self.engine = engine
        self.indexes = Mutex(indexes)
        self.snapshots = snapshots
        self.reports = Mutex(reports)
        self.cursor = Mutex(cursor)
    }

    /// Opens the service over `store`. Each gallery's index is loaded from its snapshot in
    /// `snapshotDirectory` when that reflects the store's current state of the gallery, or an
    /// earlier one the change feed can bring up to date; otherwise (no snapshot folder, no
    /// snapshot, stale without a feed position, damaged, another format, changes missing from
    /// the feed) it is rebuilt from the stored templates and, with a folder, a fresh snapshot
    /// is written. An unusable snapshot is never an error, only a rebuild, reported in
    /// ``indexReports``. The indexes reflect every change committed before the call.
    public static func open(
        store: any GalleryStore, engine: FaceEngine, snapshotDirectory: URL? = nil,
        indexEncoding: IndexEncoding = .default
    ) async throws(IdentificationError) -> GallerySearchService {
        let folder = snapshotDirectory.map(GallerySnapshotFolder.init(directory:))
        var indexes: [String: GalleryIndex] = [:]
        var reports: [IndexLoadReport] = []
        let head: ChangeFeedPosition
        let galleries: [GalleryRecord]
        // The head first: every change after it is in the feed, whatever the walk below sees.
        do { head = try await store.changeFeedHead() } catch { throw .store(error) }
        do { galleries = try await store.galleries() } catch { throw .store(error) }
        folder?.removeSnapshots(notIn: Set(galleries.map(\.id)))
        var openedAt: [GalleryRecord.ID: ContinuousClock.Instant] = [:]
        for gallery in galleries {
            let start = ContinuousClock.now
            let (index, origin, problem) = try await openIndex(
                gallery, encoding: indexEncoding, store: store, folder: folder, head: head)
            openedAt[gallery.id] = start
            indexes[gallery.name] = index
            reports.append(
                IndexLoadReport(
                    gallery: gallery.name, templates: index.templates.count, origin: origin,
                    milliseconds: Self.milliseconds(since: start), snapshotProblem: problem))
        }
        let cursor = indexes.values.map(\.position).min() ?? head
        let service = GallerySearchService(
            store: store, engine: engine, indexes: indexes, snapshots: folder, reports: reports,
            indexEncoding: indexEncoding, cursor: cursor)
        try await service.confirmCurrency(openedAt: openedAt)
        return service
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }

    /// Brings every index up to date from the feed, then checks that the feed accounted for
    /// every change the store counted: an index whose revision stays below the store's revision
    /// (read before the last catch-up, so every entry up to it was readable) is rebuilt.
    private func confirmCurrency(openedAt: [GalleryRecord.ID: ContinuousClock.Instant]) async throws(IdentificationError) {
        let opened = indexes.withLock { $0 }
        try await catchUp()
        var storeRevisions: [GalleryRecord.ID: Int64] = [:]
        for index in indexes.withLock({ Array($0.values) }) {
            do {
                storeRevisions[index.record.id] = try await store.revision(of: index.record.id)
            } catch {
                if case .unknownGallery = error { continue }
                throw .store(error)
            }
        }
        try await catchUp()
        for (name, original) in opened {
            guard let index = indexes.withLock({ $0[name] }) else { continue }
            let record = index.record
            guard let storeRevision = storeRevisions[record.id] else { continue }
            // Replaced during the catch-up: a gap in the feed's revisions made it rebuild.
            let gapped = index !== original
            let revision = gapped ? original.syncState.revision : index.syncState.revision
            let isIncomplete = gapped || revision < storeRevision
            if isIncomplete && !gapped {
                snapshots?.remove(record.id)
                try await replaceWithRebuild(index)
            }
            let current = indexes.withLock { $0[record.name] } ?? index
            let origin = reports.withLock { $0.first { $0.gallery == record.name }?.origin }
            // An index caught up (or rebuilt here) gets a snapshot of its own, as after a rebuild at open.
            var problem: String?
            if let snapshots, isIncomplete || origin.map({ if case .caughtUp = $0 { true } else { false } }) == true {
                switch await writeSnapshot(current, to: snapshots) {
                case .written, .upToDate: break
                case let .skipped(reason), let .failed(reason): problem = reason
                }
            }
            reports.withLock { reports in
                guard let at = reports.firstIndex(where: { $0.gallery == record.name }) else { return }
                reports[at].templates = current.templates.count
                if let start = openedAt[record.id] { reports[at].milliseconds = Self.milliseconds(since: start) }
                if isIncomplete {
                    reports[at].origin = .rebuilt(.feedIncomplete(indexRevision: revision, storeRevision: storeRevision))
                }
                if isIncomplete || problem != nil { reports[at].snapshotProblem = problem }
            }
        }
    }

    /// Replaces a gallery's index with one rebuilt from the store, which then follows the feed
    /// from the head read before the walk (entries after it are applied again, harmlessly).
    func replaceWithRebuild(_ index: GalleryIndex) async throws(IdentificationError) {
        let head: ChangeFeedPosition
        let revision: Int64
        do {
            head = try await store.changeFeedHead()
            revision = try await store.revision(of: index.record.id)
        } catch {
            if case .unknownGallery = error { return }
            throw .store(error)
        }
        let rebuilt = try await GalleryIndex.rebuild(index.record, encoding: indexEncoding, from: store)
        rebuilt.setRevision(revision, position: head)
        indexes.withLock { indexes in
            if indexes[index.record.name] === index { indexes[index.record.name] = rebuilt }
        }
    }

    /// One gallery's index, from its snapshot or the store, with how it was obtained and, after
    /// a rebuild, why no fresh snapshot was written.
    private static func openIndex(
        _ gallery: GalleryRecord, encoding: IndexEncoding, store: any GalleryStore, folder: GallerySnapshotFolder?,
        head: ChangeFeedPosition
    ) async throws(IdentificationError) -> (GalleryIndex, IndexOrigin, String?) {
        let revision: Int64
        do { revision = try await store.revision(of: gallery.id) } catch { throw .store(error) }
        let reason: RebuildReason
        if let folder {
            switch folder.load(gallery, encoding: encoding, storeRevision: revision) {
            case let .loaded(index, snapshotRevision, position):
                index.savedRevision = snapshotRevision
                if snapshotRevision == revision {
                    // A format-1 snapshot has no position: the head was read before the
                    // revision, so entries after it are at most this revision (already in).
                    index.setRevision(revision, position: position ?? head)
                    return (index, .snapshot, nil)
                }
                // Older, at a recorded position: the feed brings it up to date (confirmCurrency checks).
                index.setRevision(snapshotRevision, position: position ?? head)
                return (index, .caughtUp(snapshotRevision: snapshotRevision, storeRevision: revision), nil)
            case let .unavailable(why):
                reason = why
            }
        } else {
            reason = .snapshotsDisabled
        }
        let index = try await GalleryIndex.rebuild(gallery, encoding: encoding, from: store)
        let after: Int64
        do { after = try await store.revision(of: gallery.id) } catch { throw .store(error) }
        // A change committed during the walk may be half in the index; its feed entry lies after
        // the head, so catching up completes it.
        index.setRevision(revision, position: head)
        guard let folder else { return (index, .rebuilt(reason), nil) }
        guard after == revision else {
            folder.remove(gallery.id)
            return (index, .rebuilt(reason), "the gallery changed during the rebuild")
        }
        do {
            try folder.write(index, revision: revision, position: head)
            index.savedRevision = revision
            return (index, .rebuilt(reason), nil)
        } catch {
            folder.remove(gallery.id)
            return (index, .rebuilt(reason), error.description)
        }
    }

    // MARK: Snapshots

    /// Catches up with the change feed, then saves the snapshot of every gallery whose index
    /// matches the store's current revision, with its feed position (call it on graceful
    /// shutdown, when no change is in flight). A gallery whose index cannot be shown to match (a
    /// change in flight or of unknown outcome, a change committed since the catch-up) is skipped
    /// and its old snapshot removed. Nothing is written without a snapshot folder.
    @discardableResult
    public func writeSnapshots() async -> [String: SnapshotOutcome] {
        guard let snapshots else { return [:] }
        // A failed catch-up leaves indexes behind the store: the revision check below skips them.
        _ = try? await catchUp()
        var outcomes: [String: SnapshotOutcome] = [:]
        for (name, index) in indexes.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            outcomes[name] = await writeSnapshot(index, to: snapshots)
        }
        return outcomes
    }

    private func writeSnapshot(_ index: GalleryIndex, to folder: GallerySnapshotFolder) async -> SnapshotOutcome {
        let id = index.record.id
        let before = activity.withLock { $0 }
        guard !before.isUncertain else {
            folder.remove(id)
            return .skipped("a change of unknown outcome was made since the service opened")
        }
        guard before.started == before.finished else {
            folder.remove(id)
            return .skipped("changes are in flight")
        }
        guard let expected = index.trustedRevision else {
            folder.remove(id)
            return .skipped("the index may differ from the store")
        }
        let current: Int64
        do { current = try await store.revision(of: id) } catch {
            folder.remove(id)
            return .failed(error.description)
        }
        guard current == expected else {
            folder.remove(id)
            return .skipped("the store is at revision \(current), the index at \(expected) (a change since the catch-up)")
        }
        // Loaded or written at this revision and still on disk: rewriting it would copy the same bytes.
        if index.savedRevision == current, FileManager.default.fileExists(atPath: folder.manifestFile(of: id).path) {
            return .upToDate(revision: current)
        }
        do { try folder.write(index, revision: current, position: index.position) } catch {
            folder.remove(id)
            return .failed(error.description)
        }
        // A change that started while the files were written may be half in them.
        guard activity.withLock({ $0.started }) == before.started else {
            folder.remove(id)
            return .skipped("a change started while the snapshot was written")
        }
        index.savedRevision = current
        return .written(revision: current)
    }

    /// Runs a change to subjects or templates, counted so snapshots are not written while it runs.
    func tracked<T>(_ body: () async throws(IdentificationError) -> T) async throws(IdentificationError) -> T {
        activity.withLock { $0.started += 1 }
        defer { activity.withLock { $0.finished += 1 } }
        return try await body()
    }

    /// After a store call failed: a storage failure or a commit of unknown outcome may have
    /// committed anyway, so the index (of `index`, or of every gallery when it is not known) is
    /// no longer trusted to match.
    private func noteFailure(_ error: GalleryError, index: GalleryIndex?) {
        switch error {
        case .storageFailure, .outcomeUnknown: break
        default: return
        }
        if let index { index.distrust() } else { activity.withLock { $0.isUncertain = true } }
    }

    /// The error an enrolment's store failure becomes: a duplicate reference is a refusal.
    private func enrolmentFailure(_ error: GalleryError, index: GalleryIndex) -> IdentificationError {
        noteFailure(error, index: index)
        if case let .duplicateExternalReference(reference, _) = error { return .refused(.duplicateReference(reference)) }
        return .store(error)
    }

    /// Applies a committed change to the index at once (its feed entry, read later, then finds
    /// it there); an index failure leaves the index behind the store, so it is no longer trusted.
    private func apply(to index: GalleryIndex, _ change: () throws(IdentificationError) -> Void) throws(IdentificationError) {
        do {
            try change()
        } catch {
            index.distrust()
            throw error
        }
    }

    // MARK: Galleries

    /// Creates a gallery (with an empty index) for the engine's template model; `companion`
    /// (an audit row) commits in the same transaction.
    public func createGallery(
        name: String, description: String = "", purpose: GalleryPurpose, retention: RetentionPolicy = .indefinite,
        operatingThreshold: Float = GalleryRecord.defaultOperatingThreshold, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryRecord {
        guard operatingThreshold.isFinite, (-1...1).contains(operatingThreshold) else {
            throw .invalidInput(field: "operatingThreshold", reason: "must lie in -1...1, got \(operatingThreshold)")
        }
        let record: GalleryRecord
        do {
            record = try await store.createGallery(
                NewGallery(
                    name: name, description: description, purpose: purpose, retention: retention,
                    operatingThreshold: operatingThreshold, modelIdentifier: engine.templateModelIdentifier),
                companion: companion)
        } catch {
            throw .store(error)
        }
        let index = try GalleryIndex(record: record, encoding: indexEncoding)
        // The feed may have brought it in already (and more since): keep that one.
        indexes.withLock { indexes in
            if let existing = indexes[name], existing.record.id.rawValue >= record.id.rawValue { return }
            indexes[name] = index
        }
        return record
    }

    /// The gallery's current settings.
    public func gallery(named name: String) throws(IdentificationError) -> GalleryRecord {
        try index(of: name).record
    }

    /// Changes a gallery's operating threshold; searches that start afterwards use it.
    @discardableResult
    public func setOperatingThreshold(
        _ threshold: Float, gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryRecord {
        let index = try index(of: gallery)
        guard threshold.isFinite, (-1...1).contains(threshold) else {
            throw .invalidInput(field: "threshold", reason: "must lie in -1...1, got \(threshold)")
        }
        let updated: GalleryRecord
        do {
            updated = try await store.setOperatingThreshold(threshold, of: index.record.id, companion: companion)
        } catch {
            throw .store(error)
        }
        index.record = updated
        return updated
    }

    /// Erases a gallery with every subject and template in it, then drops its index.
    @discardableResult
    public func deleteGallery(_ name: String, companion: CompanionRecord? = nil) async throws(IdentificationError) -> GalleryErasure {
        let index = try index(of: name)
        let erasure: GalleryErasure
        do { erasure = try await store.deleteGallery(index.record.id, companion: companion) } catch { throw .store(error) }
        indexes.withLock { indexes in
            if indexes[name]?.record.id == erasure.gallery.id { indexes.removeValue(forKey: name) }
        }
        snapshots?.remove(index.record.id)
        return erasure
    }

    /// The names of the galleries the service serves, sorted.
    public var galleryNames: [String] { indexes.withLock { $0.keys.sorted() } }

    /// How many templates of a gallery are live in its index.
    public func indexedTemplateCount(gallery: String) throws(IdentificationError) -> Int {
        try index(of: gallery).templates.count
    }

    // MARK: Enrolment

    /// Analyses one image for enrolment: exactly one face of acceptable quality, or the reason not.
    /// - Throws: ``IdentificationError/engine(_:)`` only when the engine itself fails.
    public func examine(imageBytes: [UInt8]) async throws(IdentificationError) -> Result<EnrolmentSample, ImageRefusalReason> {
        let faces: [AnalyzedFace]
        do {
            faces = try await engine.analyze(imageBytes: imageBytes)
        } catch {
            if case let .decoding(decoding) = error { return .failure(.unreadable(decoding.description)) }
            throw .engine(error)
        }
        guard let face = faces.first else { return .failure(.noFace) }
        guard faces.count == 1 else { return .failure(.severalFaces(count: faces.count)) }
        guard face.verdict.isAcceptable else { return .failure(.poorQuality(face.verdict.failures)) }
        return .success(
            EnrolmentSample(
                template: face.template, detectionScore: face.detection.score, quality: face.quality,
                sourceImageSHA256: FileDigest.sha256(of: imageBytes), alignedCrop: face.alignedCrop))
    }

    /// Enrols a subject from images: every image must hold exactly one face of acceptable
    /// quality, otherwise nothing is stored. The subject and its templates commit in one
    /// transaction, then join the gallery's index.
    @discardableResult
    public func enrol(
        gallery: String, reference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        images: [[UInt8]], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> EnrolledSubject {
        _ = try index(of: gallery)
        let samples = try await examineAll(images)
        return try await enrol(
            gallery: gallery, reference: reference, attributes: attributes, retainUntil: retainUntil,
            samples: samples, companion: companion)
    }

    /// Examines every image for enrolment; the first refusal names its image.
    public func examineAll(_ images: [[UInt8]]) async throws(IdentificationError) -> [EnrolmentSample] {
        guard !images.isEmpty else { throw .refused(.noImages) }
        var samples: [EnrolmentSample] = []
        for (position, image) in images.enumerated() {
            switch try await examine(imageBytes: image) {
            case let .success(sample): samples.append(sample)
            case let .failure(reason): throw .refused(.image(index: position, reason: reason))
            }
        }
        return samples
    }

    /// Enrols a subject from samples already examined (see ``examine(imageBytes:)``).
    @discardableResult
    public func enrol(
        gallery: String, reference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        samples: [EnrolmentSample], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> EnrolledSubject {
        let index = try index(of: gallery)
        guard !samples.isEmpty else { throw .refused(.noImages) }
        let subject = NewSubject(
            externalReference: reference, attributes: attributes, retainUntil: retainUntil,
            templates: Self.newTemplates(samples))
        return try await tracked { () async throws(IdentificationError) -> EnrolledSubject in
            let enrolled: EnrolledSubject
            do throws(GalleryError) {
                enrolled = try await store.enrol(subject, in: index.record.id, companion: companion)
            } catch {
                throw enrolmentFailure(error, index: index)
            }
            try apply(to: index) { () throws(IdentificationError) in try index.add(enrolled) }
            return enrolled
        }
    }

    /// Enrols subjects whose templates are already computed (an import, or a synthetic gallery
    /// for a benchmark) in one transaction, all or none; `companion` appends one row per subject.
    @discardableResult
    public func enrolBatch(
        gallery: String, subjects: [NewSubject], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> [EnrolledSubject] {
        let index = try index(of: gallery)
        guard !subjects.isEmpty else { return [] }
        return try await tracked { () async throws(IdentificationError) -> [EnrolledSubject] in
            let enrolled: [EnrolledSubject]
            do throws(GalleryError) {
                enrolled = try await store.enrolAll(subjects, in: index.record.id, companion: companion)
            } catch {
                throw enrolmentFailure(error, index: index)
            }
            try apply(to: index) { () throws(IdentificationError) in
                for subject in enrolled { try index.add(subject) }
            }
            return enrolled
        }
    }

    /// Adds templates from examined samples to an enrolled subject, all or nothing.
    @discardableResult
    public func addTemplates(
        gallery: String, reference: String, samples: [EnrolmentSample], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> [TemplateRecord] {
        let index = try index(of: gallery)
        guard !samples.isEmpty else { throw .refused(.noImages) }
        return try await tracked { () async throws(IdentificationError) -> [TemplateRecord] in
            let added: [TemplateRecord]
            let subjectID: SubjectRecord.ID
            do throws(GalleryError) {
                subjectID = try await store.subject(reference: reference, in: index.record.id).subject.id
                added = try await store.addTemplates(Self.newTemplates(samples), to: subjectID, companion: companion)
            } catch {
                noteFailure(error, index: index)
                throw .store(error)
            }
            try apply(to: index) { () throws(IdentificationError) in try index.add(added, to: subjectID) }
            return added
        }
    }

    private static func newTemplates(_ samples: [EnrolmentSample]) -> [NewTemplate] {
        let now = Date()
        return samples.map { sample in
            NewTemplate(
                modelIdentifier: sample.template.modelIdentifier, vector: sample.template.values,
                quality: TemplateQuality(
                    detectionScore: sample.detectionScore,
                    measures: [
                        "interOcularDistance": Float(sample.quality.interOcularDistance),
                        "yawDegrees": Float(sample.quality.yawDegrees),
                        "rollDegrees": Float(sample.quality.rollDegrees),
                        "sharpness": Float(sample.quality.sharpness),
                        "brightness": Float(sample.quality.brightness),
                        "contrast": Float(sample.quality.contrast),
                    ]),
                sourceImageSHA256: sample.sourceImageSHA256, capturedAt: now)
        }
    }

    // MARK: Search and verification

    /// The template of the largest face in a probe image.
    public func probeTemplate(imageBytes: [UInt8]) async throws(IdentificationError) -> FaceTemplate {
        let faces: [AnalyzedFace]
        do { faces = try await engine.analyze(imageBytes: imageBytes) } catch { throw .engine(error) }
        guard let largest = faces.max(by: { $0.detection.box.area < $1.detection.box.area }) else {
            throw .noFaceInProbe
        }
        return largest.template
    }

    /// The best `k` subjects for the probes, each scored by its best template against its best
    /// probe, best first, keeping those at or above `threshold` (the gallery's operating
    /// threshold when nil) whose attributes contain every pair of `attributeFilter`.
    public func search(
        gallery: String, probes: [FaceTemplate], k: Int = 10, threshold: Float? = nil,
        attributeFilter: [String: String] = [:]
    ) throws(IdentificationError) -> [Candidate] {
        let index = try index(of: gallery)
        guard !probes.isEmpty else { throw .invalidInput(field: "probes", reason: "at least one probe is needed") }
        guard k > 0 else { throw .invalidInput(field: "k", reason: "must be positive, got \(k)") }
        let minimum = threshold ?? index.record.operatingThreshold
        guard minimum.isFinite, (-1...1).contains(minimum) else {
            throw .invalidInput(field: "threshold", reason: "must lie in -1...1, got \(minimum)")
        }
        for probe in probes where probe.modelIdentifier != index.record.modelIdentifier {
            throw .invalidInput(
                field: "probes",
                reason: "template from '\(probe.modelIdentifier)', gallery holds '\(index.record.modelIdentifier)'")
        }
        var filter: SearchFilter?
        if !attributeFilter.isEmpty {
            filter = .owners(index.owners(matching: attributeFilter))
        }
        let parameters = SearchParameters(k: k, minimumScore: minimum, filter: filter)
        var best: [OwnerID: SubjectHit] = [:]
        for probe in probes {
            let hits: [SubjectHit]
            do { hits = try index.templates.searchSubjects(probe.values, parameters: parameters) } catch {
                throw .index(error)
            }
            for hit in hits where (best[hit.owner]?.score ?? -.infinity) < hit.score { best[hit.owner] = hit }
        }
        let ranked = best.values.sorted { ($0.score, $1.owner) > ($1.score, $0.owner) }.prefix(k)
        // A subject erased between the scan and this lookup is left out.
        let reported = ranked.compactMap { hit in index.subject(hit.owner).map { (hit, $0) } }
        return reported.enumerated().map { position, pair in
            Candidate(
                rank: position + 1, subjectReference: pair.1.reference,
                subjectID: SubjectRecord.ID(Int64(pair.0.owner.rawValue)), score: pair.0.score,
                bestTemplateID: TemplateRecord.ID(Int64(pair.0.bestTemplate.rawValue)))
        }
    }

    /// Compares a probe with every stored template of one subject; decides with `threshold`,
    /// or the gallery's operating threshold when nil.
    public func verify(
        gallery: String, template: FaceTemplate, subjectReference: String, threshold: Float? = nil
    ) async throws(IdentificationError) -> Verification {
        let index = try index(of: gallery)
        let enrolled: EnrolledSubject
        do { enrolled = try await store.subject(reference: subjectReference, in: index.record.id) } catch {
            throw .store(error)
        }
        var best: Float = -1
        for stored in enrolled.templates {
            let other: FaceTemplate
            do {
                other = try FaceTemplate(normalizing: stored.vector, modelIdentifier: stored.modelIdentifier)
                best = max(best, try template.cosineSimilarity(to: other))
            } catch {
                throw .engine(error)
            }
        }
        return Verification(
            subjectReference: subjectReference, score: best, threshold: threshold ?? index.record.operatingThreshold)
    }

    // MARK: Deletion

    /// Erases a subject and its templates from the store, then from the index: no search that
    /// starts after this returns finds the subject.
    @discardableResult
    public func deleteSubject(
        gallery: String, reference: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> SubjectErasure {
        let index = try index(of: gallery)
        let subjectID: SubjectRecord.ID
        do { subjectID = try await store.subject(reference: reference, in: index.record.id).subject.id } catch {
            throw .store(error)
        }
        return try await deleteSubject(subjectID, companion: companion)
    }

    /// Erases a subject by identifier (the retention sweeper's way in), then removes it from
    /// its gallery's index and removes the gallery's snapshot, which still holds its templates.
    @discardableResult
    public func deleteSubject(_ id: SubjectRecord.ID, companion: CompanionRecord? = nil) async throws(IdentificationError) -> SubjectErasure {
        try await tracked { () async throws(IdentificationError) -> SubjectErasure in
            let erasure: SubjectErasure
            do throws(GalleryError) { erasure = try await store.deleteSubject(id, companion: companion) } catch {
                noteFailure(error, index: nil)
                throw .store(error)
            }
            index(id: erasure.subject.galleryID)?.remove(erasure)
            snapshots?.remove(erasure.subject.galleryID)
            return erasure
        }
    }

    func index(id: GalleryRecord.ID) -> GalleryIndex? {
        indexes.withLock { $0.values.first { $0.record.id == id } }
    }

    private func index(of gallery: String) throws(IdentificationError) -> GalleryIndex {
        guard let index = indexes.withLock({ $0[gallery] }) else { throw .unknownGallery(gallery) }
        return index
    }
}
