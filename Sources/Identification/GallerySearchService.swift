import FaceEngine
import Foundation
import Gallery
import Imaging
import Installation
import Matching
import Synchronization

/// Enrolment, search, verification and deletion over a ``GalleryStore``, with one in-memory
/// index per gallery and engine (of the engines installed here), loaded from the gallery's
/// snapshot when the service opens (if one reflects the store's current state of the gallery)
/// or rebuilt from the store.
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
    /// The shared detector, whose own recogniser (SFace) makes the templates of its analyses.
    public let engine: FaceEngine
    /// Further recognition engines galleries may name, chosen once by the program (nil: the
    /// detector's SFace only).
    public var recognisers: RecognitionEngineRegistry? { catalogue.registry }
    let catalogue: EngineCatalogue
    /// The identifiers of the engines galleries may name on this service.
    public var installedEngines: [String] { catalogue.installedIdentifiers }
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
        store: any GalleryStore, catalogue: EngineCatalogue, indexes: [String: GalleryIndex],
        snapshots: GallerySnapshotFolder?, reports: [IndexLoadReport], indexEncoding: IndexEncoding,
        cursor: ChangeFeedPosition
    ) {
        self.indexEncoding = indexEncoding
        self.store = store
        self.engine = catalogue.faceEngine
        self.catalogue = catalogue
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
    ///
    /// Each gallery gets one index per engine of it installed here: the detector's SFace, and
    /// the engines of `recognisers`. Templates of an engine not installed stay in the store,
    /// unsearched on this node.
    public static func open(
        store: any GalleryStore, engine: FaceEngine, recognisers: RecognitionEngineRegistry? = nil,
        snapshotDirectory: URL? = nil, indexEncoding: IndexEncoding = .default
    ) async throws(IdentificationError) -> GallerySearchService {
        let catalogue = EngineCatalogue(faceEngine: engine, registry: recognisers)
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
                gallery, layouts: catalogue.layouts(for: gallery), encoding: indexEncoding, store: store, folder: folder,
                head: head)
            openedAt[gallery.id] = start
            indexes[gallery.name] = index
            reports.append(
                IndexLoadReport(
                    gallery: gallery.name, templates: index.templateCount, origin: origin,
                    milliseconds: Self.milliseconds(since: start), snapshotProblem: problem))
        }
        let cursor = indexes.values.map(\.position).min() ?? head
        let service = GallerySearchService(
            store: store, catalogue: catalogue, indexes: indexes, snapshots: folder, reports: reports,
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
                reports[at].templates = current.templateCount
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
        let rebuilt = try await GalleryIndex.rebuild(
            index.record, layouts: catalogue.layouts(for: index.record), encoding: indexEncoding, from: store)
        rebuilt.setRevision(revision, position: head)
        indexes.withLock { indexes in
            if indexes[index.record.name] === index { indexes[index.record.name] = rebuilt }
        }
    }

    /// One gallery's index, from its snapshot or the store, with how it was obtained and, after
    /// a rebuild, why no fresh snapshot was written.
    private static func openIndex(
        _ gallery: GalleryRecord, layouts: [EngineIndexLayout], encoding: IndexEncoding, store: any GalleryStore,
        folder: GallerySnapshotFolder?, head: ChangeFeedPosition
    ) async throws(IdentificationError) -> (GalleryIndex, IndexOrigin, String?) {
        let revision: Int64
        do { revision = try await store.revision(of: gallery.id) } catch { throw .store(error) }
        let reason: RebuildReason
        if let folder {
            switch folder.load(gallery, layouts: layouts, encoding: encoding, storeRevision: revision) {
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
        let index = try await GalleryIndex.rebuild(gallery, layouts: layouts, encoding: encoding, from: store)
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
    func noteFailure(_ error: GalleryError, index: GalleryIndex?) {
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
    func apply(to index: GalleryIndex, _ change: () throws(IdentificationError) -> Void) throws(IdentificationError) {
        do {
            try change()
        } catch {
            index.distrust()
            throw error
        }
    }

    // MARK: Galleries

    /// Creates a gallery (with an empty index per engine) holding the templates of `engines`
    /// (nil: the detector's SFace alone), searched with `defaultEngine` (nil: the first) unless
    /// a search names another; `companion` (an audit row) commits in the same transaction. The
    /// default engine's threshold is `operatingThreshold` (nil: the engine's published one); the
    /// others start at their published thresholds.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for an engine not installed
    ///   here, or a threshold outside the default engine's range.
    public func createGallery(
        name: String, description: String = "", purpose: GalleryPurpose, retention: RetentionPolicy = .indefinite,
        operatingThreshold: Float? = nil, engines: [String]? = nil, defaultEngine: String? = nil,
        settings: GallerySettings = GallerySettings(), companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryRecord {
        let names = engines ?? [GalleryEngine.legacyIdentifier]
        guard !names.isEmpty else { throw .invalidInput(field: "engines", reason: "at least one engine is required") }
        var entries: [GalleryEngine] = []
        for name in names {
            guard var entry = catalogue.galleryEngine(named: name) else { throw unknownEngine(name, field: "engines") }
            entry.operatingThreshold = catalogue.publishedThreshold(of: name)
            entries.append(entry)
        }
        let chosen = defaultEngine ?? names[0]
        guard let defaultIndex = entries.firstIndex(where: { $0.identifier == chosen }) else {
            throw .invalidInput(
                field: "defaultEngine", reason: "'\(chosen)' is not one of the gallery's engines (\(names.joined(separator: ", ")))")
        }
        entries[defaultIndex].operatingThreshold = nil
        let threshold = operatingThreshold ?? catalogue.publishedThreshold(of: chosen)
        try Self.validate(threshold: threshold, comparison: catalogue.comparison(of: entries[defaultIndex]) ?? .cosineSimilarity)
        var gallery = NewGallery(
            name: name, description: description, purpose: purpose, retention: retention,
            operatingThreshold: threshold, engines: entries, defaultEngine: chosen)
        gallery.settings = settings
        let record: GalleryRecord
        do {
            record = try await store.createGallery(gallery, companion: companion)
        } catch {
            throw .store(error)
        }
        let index = try GalleryIndex(record: record, layouts: catalogue.layouts(for: record), encoding: indexEncoding)
        // The feed may have brought it in already (and more since): keep that one.
        indexes.withLock { indexes in
            if let existing = indexes[name], existing.record.id.rawValue >= record.id.rawValue { return }
            indexes[name] = index
        }
        return record
    }

    /// The refusal of an engine name no engine installed here answers to.
    func unknownEngine(_ name: String, field: String = "engine") -> IdentificationError {
        .invalidInput(
            field: field,
            reason: "no engine '\(name)' is installed (installed: \(catalogue.installedIdentifiers.joined(separator: ", ")))")
    }

    /// A threshold in an engine's native units: a cosine in -1...1, or a distance in 0...1 for
    /// a Euclidean engine (the stores keep thresholds in -1...1).
    static func validate(threshold: Float, comparison: TemplateComparison, field: String = "operatingThreshold") throws(IdentificationError) {
        let range: ClosedRange<Float> = comparison == .cosineSimilarity ? -1...1 : 0...1
        guard threshold.isFinite, range.contains(threshold) else {
            throw .invalidInput(
                field: field,
                reason: "must lie in \(range.lowerBound)...\(range.upperBound) (\(comparison.rawValue)), got \(threshold)")
        }
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
        try Self.validate(threshold: threshold, comparison: comparison(of: index.record.defaultEngine, in: index.record), field: "threshold")
        let updated: GalleryRecord
        do {
            updated = try await store.setOperatingThreshold(threshold, of: index.record.id, companion: companion)
        } catch {
            throw .store(error)
        }
        index.record = updated
        return updated
    }

    /// Sets the operating threshold of one of a gallery's engines other than its default, in
    /// the engine's native units (nil: the engine's published threshold); searches and
    /// verifications by that engine that start afterwards use it. The default engine's threshold
    /// is the gallery's (``setOperatingThreshold(_:gallery:companion:)``).
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for an engine the gallery
    ///   lacks, its default, or a threshold outside the engine's range.
    @discardableResult
    public func setEngineThreshold(
        _ threshold: Float?, engine: String, gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryRecord {
        let index = try index(of: gallery)
        let record = index.record
        guard record.engine(named: engine) != nil else {
            throw .invalidInput(
                field: "engine",
                reason: "gallery '\(gallery)' has no engine '\(engine)' (its engines: \(record.engines.map(\.identifier).joined(separator: ", ")))")
        }
        guard engine != record.defaultEngine else {
            throw .invalidInput(
                field: "engine", reason: "'\(engine)' is the gallery's default engine: its threshold is the gallery's operating threshold")
        }
        if let threshold { try Self.validate(threshold: threshold, comparison: comparison(of: engine, in: record), field: "threshold") }
        return try await reconfigure(index, .engineThreshold(engine, threshold), companion: companion)
    }

    /// Records how the gallery's engines are fused (nil: back to the engines' published impostor
    /// statistics and ``fusionThreshold``); fused searches and verifications that start
    /// afterwards, on every node once it has read the change from the feed, use it.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` when the calibration does not
    ///   cover exactly the gallery's engines (at least two), or its figures are out of range.
    @discardableResult
    public func recordFusionCalibration(
        _ calibration: FusionCalibration?, gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryRecord {
        let index = try index(of: gallery)
        if let calibration { try Self.check(calibration, for: index.record) }
        return try await reconfigure(index, .fusionCalibration(calibration), companion: companion)
    }

    /// A calibration fits a gallery when it names exactly the gallery's engines, two or more,
    /// with usable figures.
    static func check(_ calibration: FusionCalibration, for record: GalleryRecord) throws(IdentificationError) {
        let fitted = Set(calibration.statistics.keys)
        let held = Set(record.engines.map(\.identifier))
        guard fitted.count >= 2 else {
            throw .invalidInput(field: "statistics", reason: "a fusion calibration needs two engines or more, got \(fitted.count)")
        }
        guard fitted == held else {
            throw .invalidInput(
                field: "statistics",
                reason: "the calibration was fitted on engines \(fitted.sorted().joined(separator: ", ")) but gallery "
                    + "'\(record.name)' has \(record.engines.map(\.identifier).joined(separator: ", "))")
        }
        guard calibration.threshold.isFinite else {
            throw .invalidInput(field: "threshold", reason: "must be a number, got \(calibration.threshold)")
        }
        guard calibration.targetFalseMatchRate > 0, calibration.targetFalseMatchRate < 1 else {
            throw .invalidInput(
                field: "targetFalseMatchRate", reason: "must lie strictly between 0 and 1, got \(calibration.targetFalseMatchRate)")
        }
        for (engine, statistics) in calibration.statistics.sorted(by: { $0.key < $1.key }) {
            guard statistics.mean.isFinite, statistics.deviation.isFinite, statistics.deviation > 0 else {
                throw .invalidInput(
                    field: "statistics", reason: "engine '\(engine)' needs a finite impostor mean and a positive deviation")
            }
        }
    }

    /// How an engine of a gallery compares: as installed here, else as its templates say
    /// (unit-length templates compare by cosine).
    private func comparison(of engine: String, in record: GalleryRecord) -> TemplateComparison {
        guard let entry = record.engine(named: engine) else { return .cosineSimilarity }
        return catalogue.comparison(of: entry) ?? (entry.unitLength ? .cosineSimilarity : .euclideanDistance)
    }

    /// Applies a change to a gallery's settings (not its engines) and adopts the stored result.
    private func reconfigure(
        _ index: GalleryIndex, _ change: GalleryReconfiguration, companion: CompanionRecord?
    ) async throws(IdentificationError) -> GalleryRecord {
        let receipt: GalleryReconfigurationReceipt
        do { receipt = try await store.reconfigureGallery(index.record.id, change, companion: companion) } catch {
            throw .store(error)
        }
        index.record = receipt.gallery
        return receipt.gallery
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
        try index(of: gallery).templateCount
    }

    // MARK: Enrolment

    /// Analyses one image for enrolment: exactly one face of acceptable quality, or the reason
    /// not. The face is detected once and every engine of `gallery` (nil: every engine
    /// installed here) makes its template from that same detection.
    /// - Throws: ``IdentificationError/engine(_:)`` only when an engine itself fails, and
    ///   ``IdentificationError/invalidInput(field:reason:)`` when the gallery names an engine not
    ///   installed here.
    public func examine(
        imageBytes: [UInt8], gallery: String? = nil
    ) async throws(IdentificationError) -> Result<EnrolmentSample, ImageRefusalReason> {
        let recognisers = try enrolmentRecognisers(gallery: gallery)
        let image: RGBImage
        do { image = try ImageDecoder(limits: engine.configuration.decodingLimits).decode(imageBytes) } catch {
            return .failure(.unreadable(error.description))
        }
        let faces: [AnalyzedFace]
        do { faces = try await engine.analyze(image: image) } catch { throw .engine(error) }
        guard let face = faces.first else { return .failure(.noFace) }
        guard faces.count == 1 else { return .failure(.severalFaces(count: faces.count)) }
        guard face.verdict.isAcceptable else { return .failure(.poorQuality(face.verdict.failures)) }
        var additional: [FaceTemplate] = []
        for recogniser in recognisers {
            do { additional += try await recogniser.templates(for: [face.detection], in: image) } catch { throw .engine(error) }
        }
        var sample = EnrolmentSample(
            template: face.template, detectionScore: face.detection.score, quality: face.quality,
            sourceImageSHA256: FileDigest.sha256(of: imageBytes), alignedCrop: face.alignedCrop,
            additionalTemplates: additional)
        sample.detection = face.detection
        sample.sourceImage = imageBytes
        return .success(sample)
    }

    /// The engines beyond the detector's own that enrolment in `gallery` (nil: any gallery) runs.
    private func enrolmentRecognisers(gallery: String?) throws(IdentificationError) -> [any RecognitionEngine] {
        guard let gallery else {
            return (catalogue.registry?.engines ?? []).filter { $0.profile.templateModel != engine.templateModelIdentifier }
        }
        let record = try index(of: gallery).record
        var recognisers: [any RecognitionEngine] = []
        for entry in record.engines where !catalogue.isDetectorRecogniser(entry) {
            guard let recogniser = catalogue.engine(for: entry) else {
                throw .invalidInput(
                    field: "gallery", reason: "gallery '\(gallery)' uses engine '\(entry.identifier)', which is not installed here")
            }
            recognisers.append(recogniser)
        }
        return recognisers
    }

    /// Enrols a subject from images: every image must hold exactly one face of acceptable
    /// quality, otherwise nothing is stored. Every engine of the gallery makes a template of
    /// each image from the same detection; the subject and all its templates commit in one
    /// transaction, then join the gallery's indexes.
    @discardableResult
    public func enrol(
        gallery: String, reference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        images: [[UInt8]], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> EnrolledSubject {
        _ = try index(of: gallery)
        let samples = try await examineAll(images, gallery: gallery)
        return try await enrol(
            gallery: gallery, reference: reference, attributes: attributes, retainUntil: retainUntil,
            samples: samples, companion: companion)
    }

    /// Examines every image for enrolment in `gallery` (nil: with every engine installed
    /// here); the first refusal names its image.
    public func examineAll(_ images: [[UInt8]], gallery: String? = nil) async throws(IdentificationError) -> [EnrolmentSample] {
        guard !images.isEmpty else { throw .refused(.noImages) }
        var samples: [EnrolmentSample] = []
        for (position, image) in images.enumerated() {
            switch try await examine(imageBytes: image, gallery: gallery) {
            case let .success(sample): samples.append(sample)
            case let .failure(reason): throw .refused(.image(index: position, reason: reason))
            }
        }
        return samples
    }

    /// Enrols a subject from samples already examined (see ``examine(imageBytes:gallery:)``).
    @discardableResult
    public func enrol(
        gallery: String, reference: String, attributes: [String: String] = [:], retainUntil: Date? = nil,
        samples: [EnrolmentSample], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> EnrolledSubject {
        let index = try index(of: gallery)
        guard !samples.isEmpty else { throw .refused(.noImages) }
        let subject = NewSubject(
            externalReference: reference, attributes: attributes, retainUntil: retainUntil,
            templates: try Self.newTemplates(samples, for: index.record))
        try index.checkFits(subject.templates)
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
        let templates = try Self.newTemplates(samples, for: index.record)
        try index.checkFits(templates)
        return try await tracked { () async throws(IdentificationError) -> [TemplateRecord] in
            let added: [TemplateRecord]
            let subjectID: SubjectRecord.ID
            do throws(GalleryError) {
                subjectID = try await store.subject(reference: reference, in: index.record.id).subject.id
                added = try await store.addTemplates(templates, to: subjectID, companion: companion)
            } catch {
                noteFailure(error, index: index)
                throw .store(error)
            }
            try apply(to: index) { () throws(IdentificationError) in try index.add(added, to: subjectID) }
            return added
        }
    }

    /// The templates to store for `samples` in a gallery: one per sample and engine of the
    /// gallery, in sample order.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` when a sample lacks an
    ///   engine's template (it was examined for another gallery).
    private static func newTemplates(_ samples: [EnrolmentSample], for gallery: GalleryRecord) throws(IdentificationError) -> [NewTemplate] {
        let now = Date()
        var templates: [NewTemplate] = []
        for (position, sample) in samples.enumerated() {
            let quality = sample.templateQuality
            for entry in gallery.engines {
                guard let template = sample.allTemplates.first(where: { $0.modelIdentifier == entry.templateModel }) else {
                    throw .invalidInput(
                        field: "samples", reason: "sample \(position + 1) has no '\(entry.identifier)' template")
                }
                templates.append(
                    NewTemplate(
                        modelIdentifier: template.modelIdentifier, vector: template.values, quality: quality,
                        sourceImageSHA256: sample.sourceImageSHA256, capturedAt: now))
            }
        }
        return templates
    }

    // MARK: Search and verification

    /// The engine name that asks for the fused comparison of a gallery's engines.
    public static let fusion = "fusion"

    /// The fused score at or above which a fused comparison reads as the same person, when the
    /// request names no threshold and the gallery has no recorded ``FusionCalibration``: the
    /// average of the engines' z-scores (each similarity
    /// against the engine's own impostor distribution, ``RecognitionEngineProfile/impostorSimilarity``).
    /// SFace and dlib on ORL: FMR at most 1e-4 at 3.098 (FNMR 1/1,800), so 3.1.
    public static let fusionThreshold: Float = 3.1

    /// The engine a request means in a gallery: `engine` when the gallery has it (or ``fusion``),
    /// the gallery's default for nil.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for an engine the gallery
    ///   does not name, ``IdentificationError/unknownGallery(_:)``.
    public func resolvedEngine(gallery: String, engine requested: String?) throws(IdentificationError) -> String {
        let record = try index(of: gallery).record
        let name = requested ?? record.defaultEngine
        guard name == Self.fusion || record.engine(named: name) != nil else {
            throw .invalidInput(
                field: "engine",
                reason: "gallery '\(gallery)' has no engine '\(name)' (its engines: "
                    + "\(record.engines.map(\.identifier).joined(separator: ", ")); or '\(Self.fusion)')")
        }
        if let entry = record.engine(named: name), let job = entry.templatingJob {
            throw .engineNotReady(engine: name, gallery: gallery, job: job)
        }
        return name
    }

    /// The template of the largest face in a probe image (the detector's SFace).
    public func probeTemplate(imageBytes: [UInt8]) async throws(IdentificationError) -> FaceTemplate {
        let faces: [AnalyzedFace]
        do { faces = try await engine.analyze(imageBytes: imageBytes) } catch { throw .engine(error) }
        guard let largest = faces.max(by: { $0.detection.box.area < $1.detection.box.area }) else {
            throw .noFaceInProbe
        }
        return largest.template
    }

    /// The templates of the largest face in a probe image that searching `gallery` with
    /// `engine` (nil: its default; ``fusion``: all its engines) needs, all from one detection.
    public func probeTemplates(
        imageBytes: [UInt8], gallery: String, engine requested: String? = nil
    ) async throws(IdentificationError) -> [FaceTemplate] {
        let faces: [AnalyzedFace]
        do { faces = try await engine.analyze(imageBytes: imageBytes) } catch { throw .engine(error) }
        guard let largest = faces.max(by: { $0.detection.box.area < $1.detection.box.area }) else {
            throw .noFaceInProbe
        }
        return try await probeTemplates(of: largest, imageBytes: imageBytes, gallery: gallery, engine: requested)
    }

    /// The templates of an analysed probe face that searching `gallery` with `engine` needs:
    /// the analysis's own SFace template, and each other engine's made from the face's
    /// detection (the image is decoded again only when another engine is needed). For
    /// ``fusion``, engines not installed here are left out.
    public func probeTemplates(
        of face: AnalyzedFace, imageBytes: [UInt8], gallery: String, engine requested: String? = nil
    ) async throws(IdentificationError) -> [FaceTemplate] {
        let record = try index(of: gallery).record
        let name = try resolvedEngine(gallery: gallery, engine: requested)
        let entries = name == Self.fusion ? record.engines : record.engines.filter { $0.identifier == name }
        var image: RGBImage?
        var templates: [FaceTemplate] = []
        for entry in entries {
            if catalogue.isDetectorRecogniser(entry) {
                templates.append(face.template)
            } else if let recogniser = catalogue.engine(for: entry) {
                if image == nil {
                    do { image = try ImageDecoder(limits: engine.configuration.decodingLimits).decode(imageBytes) } catch {
                        throw .engine(.decoding(error))
                    }
                }
                guard let image else { continue }
                do { templates += try await recogniser.templates(for: [face.detection], in: image) } catch {
                    throw .engine(error)
                }
            } else if name != Self.fusion {
                throw notInstalled(entry.identifier, gallery: gallery)
            }
        }
        return templates
    }

    /// A gallery's threshold for an engine (for ``fusion``: its recorded calibration's, else
    /// ``fusionThreshold``) and whether a higher score is more alike.
    public func operatingPoint(gallery: GalleryRecord, engine name: String) -> (threshold: Float, higherIsMoreAlike: Bool) {
        guard name != Self.fusion, let entry = gallery.engine(named: name) else {
            return (gallery.settings.fusion?.threshold ?? Self.fusionThreshold, true)
        }
        let threshold = gallery.operatingThreshold(of: name) ?? catalogue.publishedThreshold(of: name)
        return (threshold, catalogue.comparison(of: entry)?.higherIsMoreAlike ?? true)
    }

    private func notInstalled(_ engine: String, gallery: String) -> IdentificationError {
        .invalidInput(field: "engine", reason: "engine '\(engine)' of gallery '\(gallery)' is not installed on this node")
    }

    /// The best `k` subjects for the probes, best first, keeping those whose attributes contain
    /// every pair of `attributeFilter`, by `engine` (nil: the gallery's default):
    ///
    /// - one engine: each subject scored by its best template of that engine against its best
    ///   probe of that engine, in the engine's native unit (SFace: cosine, at or above
    ///   `threshold`; dlib: distance, below it), `threshold` defaulting to the gallery's for the
    ///   engine;
    /// - ``fusion``: each engine's best `4k` subjects, their union scored exactly by every engine
    ///   and each similarity turned into a z-score against the engine's impostor distribution;
    ///   a subject's fused score is the mean of its engines' z-scores, kept at or above
    ///   `threshold` (default: the gallery's recorded ``FusionCalibration``'s threshold, else
    ///   ``fusionThreshold``); the impostor distributions are the calibration's when the
    ///   gallery has one, the engines' published ones otherwise.
    public func search(
        gallery: String, probes: [FaceTemplate], engine requested: String? = nil, k: Int = 10, threshold: Float? = nil,
        attributeFilter: [String: String] = [:]
    ) throws(IdentificationError) -> [Candidate] {
        let index = try index(of: gallery)
        guard !probes.isEmpty else { throw .invalidInput(field: "probes", reason: "at least one probe is needed") }
        guard k > 0 else { throw .invalidInput(field: "k", reason: "must be positive, got \(k)") }
        let name = try resolvedEngine(gallery: gallery, engine: requested)
        var filter: SearchFilter?
        if !attributeFilter.isEmpty {
            filter = .owners(index.owners(matching: attributeFilter))
        }
        if name == Self.fusion {
            return try fusedSearch(index, probes: probes, k: k, threshold: threshold, filter: filter)
        }
        guard let templates = index.templates(of: name) else { throw notInstalled(name, gallery: gallery) }
        let minimum = threshold ?? index.record.operatingThreshold(of: name) ?? catalogue.publishedThreshold(of: name)
        try Self.validateSearch(threshold: minimum, comparison: templates.layout.comparison)
        let hits = try engineHits(
            templates, probes: try engineProbes(probes, templates.layout), k: k, threshold: minimum, filter: filter)
        let ranked = hits.sorted { ($0.value.similarity, $1.key) > ($1.value.similarity, $0.key) }.prefix(k)
        return candidates(
            ranked.map { owner, hit in (owner, hit.native, hit.template, [name: hit.native]) }, index: index)
    }

    /// A search threshold: a cosine in -1...1, or any non-negative distance.
    private static func validateSearch(threshold: Float, comparison: TemplateComparison) throws(IdentificationError) {
        let valid = comparison == .cosineSimilarity ? (-1...1).contains(threshold) : threshold >= 0
        guard threshold.isFinite, valid else {
            throw .invalidInput(
                field: "threshold",
                reason: comparison == .cosineSimilarity
                    ? "must lie in -1...1, got \(threshold)" : "must be a distance of at least 0, got \(threshold)")
        }
    }

    /// The probes of one engine, or why there are none.
    private func engineProbes(_ probes: [FaceTemplate], _ layout: EngineIndexLayout) throws(IdentificationError) -> [FaceTemplate] {
        let own = probes.filter { $0.modelIdentifier == layout.engine.templateModel }
        guard !own.isEmpty else {
            throw .invalidInput(
                field: "probes",
                reason: "no template from '\(layout.engine.templateModel)' (engine '\(layout.engine.identifier)'); "
                    + "given: \(Set(probes.map(\.modelIdentifier)).sorted().joined(separator: ", "))")
        }
        return own
    }

    /// One subject's best template of one engine against the best probe.
    private struct EngineHit {
        var native: Float
        var similarity: Float
        var template: TemplateRecord.ID
    }

    /// Each subject's best hit in one engine's index over the probes, among the best `k`
    /// subjects per probe; with a threshold, only hits that meet it.
    private func engineHits(
        _ templates: GalleryIndex.EngineTemplates, probes: [FaceTemplate], k: Int, threshold: Float?, filter: SearchFilter?
    ) throws(IdentificationError) -> [OwnerID: EngineHit] {
        let layout = templates.layout
        var best: [OwnerID: EngineHit] = [:]
        for probe in probes {
            let minimum = threshold.map { layout.minimumIndexScore(threshold: $0, probe: probe.values) } ?? -.infinity
            let hits: [SubjectHit]
            do {
                hits = try templates.index.searchSubjects(
                    layout.query(for: probe.values), parameters: SearchParameters(k: k, minimumScore: minimum, filter: filter))
            } catch {
                throw .index(error)
            }
            for hit in hits {
                let native = layout.native(indexScore: hit.score, probe: probe.values)
                if let threshold, !layout.comparison.isMatch(native, threshold: threshold) { continue }
                let similarity = layout.comparison.similarity(fromNative: native)
                if (best[hit.owner]?.similarity ?? -.infinity) < similarity {
                    best[hit.owner] = EngineHit(
                        native: native, similarity: similarity, template: TemplateRecord.ID(Int64(hit.bestTemplate.rawValue)))
                }
            }
        }
        return best
    }

    /// How a gallery's engines are fused here: each part's index and the impostor distribution
    /// its similarities are normalised against, and the fused threshold.
    struct FusionSetup {
        var parts: [(templates: GalleryIndex.EngineTemplates, impostors: ScoreDistribution)]
        var threshold: Float
    }

    /// The fusion of a gallery on this node. With a recorded ``FusionCalibration``, its engines
    /// with its statistics and threshold (every one of them must be installed here: the threshold
    /// holds for those engines together only; an engine added since is not fused until the
    /// gallery is calibrated again); without one, the gallery's engines installed here with
    /// published impostor figures, and ``fusionThreshold``.
    func fusionSetup(_ index: GalleryIndex) throws(IdentificationError) -> FusionSetup {
        let record = index.record
        if let calibration = record.settings.fusion {
            var parts: [(templates: GalleryIndex.EngineTemplates, impostors: ScoreDistribution)] = []
            for entry in record.engines {
                guard let statistics = calibration.statistics[entry.identifier] else { continue }
                guard let templates = index.templates(of: entry.identifier) else {
                    throw .invalidInput(
                        field: "engine",
                        reason: "gallery '\(record.name)''s fusion calibration covers engine '\(entry.identifier)', "
                            + "which is not installed on this node")
                }
                parts.append(
                    (templates, ScoreDistribution(mean: statistics.mean, deviation: statistics.deviation, source: calibration.source)))
            }
            guard parts.count == calibration.statistics.count, parts.count >= 2 else {
                throw .invalidInput(
                    field: "engine",
                    reason: "gallery '\(record.name)''s fusion calibration covers engines "
                        + "\(calibration.statistics.keys.sorted().joined(separator: ", ")); the gallery has "
                        + "\(record.engines.map(\.identifier).joined(separator: ", ")): calibrate it again")
            }
            return FusionSetup(parts: parts, threshold: calibration.threshold)
        }
        // An engine still being templated would fuse some subjects over fewer engines than others.
        let parts = record.engines.filter { !$0.isTemplating }.compactMap {
            entry -> (templates: GalleryIndex.EngineTemplates, impostors: ScoreDistribution)? in
            guard let templates = index.templates(of: entry.identifier),
                let impostors = catalogue.engine(for: entry)?.profile.impostorSimilarity
            else { return nil }
            return (templates, impostors)
        }
        guard parts.count >= 2 else {
            throw .invalidInput(
                field: "engine",
                reason: "fusion needs two engines of gallery '\(record.name)' installed here with impostor figures; "
                    + "it has \(parts.count)")
        }
        return FusionSetup(parts: parts, threshold: Self.fusionThreshold)
    }

    private func fusedSearch(
        _ index: GalleryIndex, probes: [FaceTemplate], k: Int, threshold: Float?, filter: SearchFilter?
    ) throws(IdentificationError) -> [Candidate] {
        let setup = try fusionSetup(index)
        let parts = setup.parts
        let minimum = threshold ?? setup.threshold
        guard minimum.isFinite else { throw .invalidInput(field: "threshold", reason: "must be a number, got \(minimum)") }
        let partProbes = try parts.map { part throws(IdentificationError) in try engineProbes(probes, part.0.layout) }
        var perEngine: [[OwnerID: EngineHit]] = []
        for (part, own) in zip(parts, partProbes) {
            perEngine.append(try engineHits(part.0, probes: own, k: k * 4, threshold: nil, filter: filter))
        }
        // Every engine scores every subject another engine found (those already filtered).
        let union = perEngine.reduce(into: Set<OwnerID>()) { $0.formUnion($1.keys) }
        for position in parts.indices {
            let missing = union.subtracting(perEngine[position].keys)
            guard !missing.isEmpty else { continue }
            let found = try engineHits(
                parts[position].0, probes: partProbes[position], k: missing.count, threshold: nil, filter: .owners(missing))
            perEngine[position].merge(found) { current, _ in current }
        }
        var fused: [(OwnerID, Float, TemplateRecord.ID, [String: Float])] = []
        for owner in union {
            var total: Float = 0
            var count = 0
            var scores: [String: Float] = [:]
            var template: TemplateRecord.ID?
            for (position, part) in parts.enumerated() {
                // A subject without a template of this engine is fused over the others.
                guard let hit = perEngine[position][owner] else { continue }
                total += part.1.normalised(hit.similarity)
                count += 1
                scores[part.0.layout.engine.identifier] = hit.native
                template = template ?? hit.template
            }
            guard count > 0, let template else { continue }
            let score = total / Float(count)
            if score >= minimum { fused.append((owner, score, template, scores)) }
        }
        fused.sort { ($0.1, $1.0) > ($1.1, $0.0) }
        return candidates(Array(fused.prefix(k)), index: index)
    }

    /// Candidates in rank order from ranked (owner, score, best template, per-engine scores);
    /// a subject erased between the scan and this lookup is left out.
    private func candidates(
        _ ranked: [(OwnerID, Float, TemplateRecord.ID, [String: Float])], index: GalleryIndex
    ) -> [Candidate] {
        let reported = ranked.compactMap { hit in index.subject(hit.0).map { (hit, $0) } }
        return reported.enumerated().map { position, pair in
            Candidate(
                rank: position + 1, subjectReference: pair.1.reference,
                subjectID: SubjectRecord.ID(Int64(pair.0.0.rawValue)), score: pair.0.1, bestTemplateID: pair.0.2,
                engineScores: pair.0.3)
        }
    }

    /// Compares a probe with every stored template of one subject; decides with `threshold`,
    /// or the gallery's operating threshold when nil (the gallery's default engine).
    public func verify(
        gallery: String, template: FaceTemplate, subjectReference: String, threshold: Float? = nil
    ) async throws(IdentificationError) -> Verification {
        try await verify(gallery: gallery, probes: [template], subjectReference: subjectReference, threshold: threshold)
    }

    /// Compares probes with every stored template of one subject by `engine` (nil: the
    /// gallery's default; ``fusion``: every engine, z-scores averaged as in
    /// ``search(gallery:probes:engine:k:threshold:attributeFilter:)``). The score is the best
    /// pair's, in the engine's native unit; the decision uses `threshold`, or the gallery's for
    /// the engine (for fusion: its recorded calibration's, else ``fusionThreshold``) when nil.
    public func verify(
        gallery: String, probes: [FaceTemplate], subjectReference: String, engine requested: String? = nil,
        threshold: Float? = nil
    ) async throws(IdentificationError) -> Verification {
        let index = try index(of: gallery)
        let name = try resolvedEngine(gallery: gallery, engine: requested)
        let parts: [(GalleryIndex.EngineTemplates, ScoreDistribution?)]
        var fusedThreshold = Self.fusionThreshold
        if name == Self.fusion {
            let setup = try fusionSetup(index)
            parts = setup.parts.map { ($0.templates, $0.impostors) }
            fusedThreshold = setup.threshold
        } else {
            guard let templates = index.templates(of: name) else { throw notInstalled(name, gallery: gallery) }
            parts = [(templates, nil)]
        }
        let enrolled: EnrolledSubject
        do { enrolled = try await store.subject(reference: subjectReference, in: index.record.id) } catch {
            throw .store(error)
        }
        var scores: [String: Float] = [:]
        var fusedTotal: Float = 0
        var fusedCount = 0
        var single: (native: Float, comparison: TemplateComparison)?
        for (templates, impostors) in parts {
            let layout = templates.layout
            let own = try engineProbes(probes, layout)
            var best: Float?
            for stored in enrolled.templates where stored.modelIdentifier == layout.engine.templateModel {
                for probe in own where probe.values.count == stored.vector.count {
                    let similarity = layout.comparison.similarity(
                        fromNative: layout.comparison.score(probe.values, stored.vector))
                    best = max(best ?? -.infinity, similarity)
                }
            }
            guard let best else { continue }
            let native = layout.comparison.native(fromSimilarity: best)
            scores[layout.engine.identifier] = native
            if let impostors {
                fusedTotal += impostors.normalised(best)
                fusedCount += 1
            } else {
                single = (native, layout.comparison)
            }
        }
        if name == Self.fusion {
            let decision = threshold ?? fusedThreshold
            let score = fusedCount > 0 ? fusedTotal / Float(fusedCount) : -.infinity
            return Verification(
                subjectReference: subjectReference, engine: name, score: score, threshold: decision,
                isMatch: score >= decision, engineScores: scores)
        }
        let comparison = parts[0].0.layout.comparison
        let decision = threshold ?? index.record.operatingThreshold(of: name) ?? catalogue.publishedThreshold(of: name)
        try Self.validateSearch(threshold: decision, comparison: comparison)
        guard let single else {
            throw .invalidInput(
                field: "subjectReference", reason: "subject '\(subjectReference)' has no '\(name)' template")
        }
        return Verification(
            subjectReference: subjectReference, engine: name, score: single.native, threshold: decision,
            isMatch: single.comparison.isMatch(single.native, threshold: decision), engineScores: scores)
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

    func index(of gallery: String) throws(IdentificationError) -> GalleryIndex {
        guard let index = indexes.withLock({ $0[gallery] }) else { throw .unknownGallery(gallery) }
        return index
    }
}
