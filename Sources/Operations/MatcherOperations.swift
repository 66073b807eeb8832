import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Imaging
import Installation
import Review

/// Every operation of the matcher, governed: the caller is authorised for the gallery, searches
/// and verifications carry a checked purpose and case reference, and each action writes its
/// audit entry (gallery changes in the change's own transaction, searches before any result is
/// returned). The HTTP API and the CLI both go through here, so they cannot drift apart.
public final class MatcherOperations: Sendable {
    /// The identification service (store, engine and indexes).
    public let identification: GallerySearchService
    /// API keys.
    public let keys: KeyRegistry
    /// The audit log.
    public let auditLog: AuditLog
    /// The configured search purposes.
    public let purposes: PurposePolicy
    /// The purposes a subject access may state (``PurposePolicy/subjectAccess(_:)``).
    public let accessPurposes: PurposePolicy
    /// Review cases and decisions, and the sealed face crops reviewers see.
    public let review: ReviewLedger
    /// Called with the stage timings of every image analysed (for metrics).
    let analysisObserver: (@Sendable (StageTimings) -> Void)?
    /// Bounds the image analyses of requests (nil: unbounded, as the CLI runs).
    public let admission: AnalysisAdmission?

    /// The most candidates a search may ask for.
    public static let maximumCandidates = 100
    /// The most subjects a listing returns per page.
    public static let maximumPageSize = 1_000

    /// The store the operations act on.
    public var store: any GalleryStore { identification.store }
    /// The engine that analyses images.
    public var engine: FaceEngine { identification.engine }

    private init(
        identification: GallerySearchService, purposes: PurposePolicy, accessPurposes: PurposePolicy, review: ReviewLedger,
        analysisObserver: (@Sendable (StageTimings) -> Void)?, admission: AnalysisAdmission?
    ) {
        self.admission = admission
        self.identification = identification
        self.keys = KeyRegistry(store: identification.store)
        self.auditLog = AuditLog(store: identification.store)
        self.purposes = purposes
        self.accessPurposes = accessPurposes
        self.review = review
        self.analysisObserver = analysisObserver
    }

    /// The migrations a store needs before operations open on it: the audit log, keys and review tables.
    public static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        GovernanceSchema.migrations(for: dialect) + ReviewSchema.migrations(for: dialect)
            + IdempotencyRecords.migrations(for: dialect) + EnrolmentImageStore.migrations(for: dialect)
            + EngineJobs.migrations(for: dialect)
    }

    /// The stored outcomes of requests made with an idempotency key.
    public var idempotency: IdempotencyRecords { IdempotencyRecords(store: store) }

    /// Opens the operations over a store opened with ``migrations(for:)``, loading every
    /// gallery's index from its snapshot in `snapshotDirectory` when that is fresh and rebuilding
    /// it otherwise (always, when nil; see ``GallerySearchService/open(store:engine:snapshotDirectory:indexEncoding:)``),
    /// holding templates as `indexEncoding` says.
    /// The engine must keep aligned crops (reviewers are shown them); the
    /// vault seals them (``CropVault/fromEnvironment(_:installation:)`` when nil); the review
    /// policy says which galleries need review (``ReviewPolicy/fromEnvironment(_:)`` when nil).
    /// `recognisers` are the engines beyond the detector's SFace that galleries may name.
    /// `accessPurposes` are those a subject access may state.
    public static func open(
        store: any GalleryStore, engine: FaceEngine, recognisers: RecognitionEngineRegistry? = nil,
        purposes: PurposePolicy = .fromEnvironment(), accessPurposes: PurposePolicy = .subjectAccess(),
        reviewPolicy: ReviewPolicy? = nil, cropVault: CropVault? = nil, snapshotDirectory: URL? = nil,
        indexEncoding: IndexEncoding = .default, analysisObserver: (@Sendable (StageTimings) -> Void)? = nil,
        admission: AnalysisAdmission? = nil
    ) async throws(OperationError) -> MatcherOperations {
        guard engine.configuration.keepsAlignedCrops else {
            throw .misconfigured(reason: "the engine must keep aligned crops (FaceEngineConfiguration.keepsAlignedCrops) so reviewers can see faces")
        }
        let vault: CropVault
        if let cropVault {
            vault = cropVault
        } else {
            do { vault = try CropVault.fromEnvironment() } catch { throw .review(.crop(error)) }
        }
        let policy: ReviewPolicy
        if let reviewPolicy {
            policy = reviewPolicy
        } else {
            do { policy = try ReviewPolicy.fromEnvironment() } catch { throw .review(error) }
        }
        // Entries written before the audit log kept its Merkle tree (or by an older node) get
        // their tree rows now, before this node appends any.
        do { try await AuditLog(store: store).completeTree() } catch { throw .governance(error) }
        let identification: GallerySearchService
        do {
            identification = try await GallerySearchService.open(
                store: store, engine: engine, recognisers: recognisers, snapshotDirectory: snapshotDirectory,
                indexEncoding: indexEncoding)
        } catch {
            throw .identification(error)
        }
        return MatcherOperations(
            identification: identification, purposes: purposes, accessPurposes: accessPurposes,
            review: ReviewLedger(store: store, vault: vault, policy: policy), analysisObserver: analysisObserver,
            admission: admission)
    }

    // MARK: - Galleries

    /// Creates a gallery (admin).
    public func createGallery(_ draft: GalleryDraft, by caller: Caller) async throws(OperationError) -> GalleryRecord {
        try authorize(caller, .createGallery)
        let retention: RetentionPolicy
        switch draft.retentionDays {
        case nil: retention = .indefinite
        case let days?:
            guard days > 0 else { throw .invalidRequest(field: "retentionDays", reason: "must be positive, got \(days)") }
            retention = .daysAfterEnrolment(days)
        }
        let companion = try companion(for: .galleryCreated(by: caller))
        do {
            return try await identification.createGallery(
                name: draft.name, description: draft.description, purpose: draft.purpose, retention: retention,
                operatingThreshold: draft.operatingThreshold, engines: draft.engines, defaultEngine: draft.defaultEngine,
                settings: GallerySettings(keepsEnrolmentImages: draft.keepsEnrolmentImages ?? true), companion: companion)
        } catch {
            throw .identification(error)
        }
    }

    /// The galleries the caller may read, by name, with their sizes.
    public func galleries(visibleTo caller: Caller) async throws(OperationError) -> [GallerySummary] {
        var summaries: [GallerySummary] = []
        for name in identification.galleryNames where caller.may(.readGallery(name)) {
            // A gallery erased while the list is built is left out.
            if let summary = try? await gallerySummary(name) { summaries.append(summary) }
        }
        return summaries
    }

    /// One gallery with its size.
    public func gallery(_ name: String, by caller: Caller) async throws(OperationError) -> GallerySummary {
        try authorize(caller, .readGallery(name))
        return try await gallerySummary(name)
    }

    /// Sets a gallery's operating threshold (admin), recording the reason in the audit log.
    public func setThreshold(
        _ threshold: Float, gallery: String, reason: String, by caller: Caller
    ) async throws(OperationError) -> GalleryRecord {
        try authorize(caller, .configureGallery(gallery))
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .invalidRequest(field: "reason", reason: "a threshold change needs a reason")
        }
        let companion = try companion(for: .thresholdChanged(by: caller, reason: reason))
        do { return try await identification.setOperatingThreshold(threshold, gallery: gallery, companion: companion) } catch {
            throw .identification(error)
        }
    }

    /// Sets the operating threshold of one engine of a gallery (admin), in the engine's native
    /// units, recording the reason in the audit log. The default engine's (`engine` nil or the
    /// default) is the gallery's operating threshold (``setThreshold(_:gallery:reason:by:)``);
    /// another engine's is a reconfiguration of the gallery, and nil restores the engine's
    /// published threshold.
    public func setThreshold(
        _ threshold: Float?, engine: String?, gallery: String, reason: String, by caller: Caller
    ) async throws(OperationError) -> GalleryRecord {
        try authorize(caller, .configureGallery(gallery))
        let record = try galleryRecord(gallery)
        guard let engine, engine != record.defaultEngine else {
            guard let threshold else {
                throw .invalidRequest(field: "threshold", reason: "the default engine's threshold cannot be unset")
            }
            return try await setThreshold(threshold, gallery: gallery, reason: reason, by: caller)
        }
        let companion = try companion(for: .galleryReconfigured(by: caller, reason: try Self.checkedReason(reason)))
        do {
            return try await identification.setEngineThreshold(threshold, engine: engine, gallery: gallery, companion: companion)
        } catch {
            throw .identification(error)
        }
    }

    /// Records how a gallery fuses its engines (admin): the impostor statistics of each engine
    /// and the fused threshold, as `biomatch calibrate --engine fusion` measures them (nil: back
    /// to the engines' published figures). The calibration must cover exactly the gallery's
    /// engines; the reason (what it was measured on) goes to the audit log with its figures.
    public func recordFusionCalibration(
        _ calibration: FusionCalibration?, gallery: String, reason: String, by caller: Caller
    ) async throws(OperationError) -> GalleryRecord {
        try authorize(caller, .configureGallery(gallery))
        let companion = try companion(for: .galleryReconfigured(by: caller, reason: try Self.checkedReason(reason)))
        do { return try await identification.recordFusionCalibration(calibration, gallery: gallery, companion: companion) } catch {
            throw .identification(error)
        }
    }

    /// A change's stated reason, which must say something.
    private static func checkedReason(_ reason: String) throws(OperationError) -> String {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .invalidRequest(field: "reason", reason: "a calibration or threshold change needs a reason")
        }
        return reason
    }

    /// Erases a gallery and everything in it (admin).
    public func deleteGallery(_ name: String, by caller: Caller) async throws(OperationError) -> GalleryErasure {
        try authorize(caller, .configureGallery(name))
        let companion = try companion(for: .galleryDeleted(by: caller, galleryName: name))
        do { return try await identification.deleteGallery(name, companion: companion) } catch {
            throw .identification(error)
        }
    }

    // MARK: - Subjects

    /// Enrols a subject: every photo must hold exactly one face of acceptable quality, or
    /// nothing is stored.
    /// `outcome`, if given, commits in the enrolment's transaction after its audit record (the
    /// stored response of an idempotent request: ``IdempotencyRecords``).
    @discardableResult
    public func enrol(
        _ request: EnrolmentRequest, by caller: Caller, outcome: CompanionRecord? = nil
    ) async throws(OperationError) -> EnrolledSubject {
        try authorize(caller, .enrol(request.gallery))
        _ = try galleryRecord(request.gallery)
        let samples = try await examineAll(request.images, gallery: request.gallery)
        return try await enrol(request, samples: samples, by: caller, outcome: outcome)
    }

    /// Enrols a subject from samples already examined (bulk enrolment examines photos in
    /// parallel, then stores them in order).
    @discardableResult
    public func enrol(
        _ request: EnrolmentRequest, samples: [EnrolmentSample], by caller: Caller, outcome: CompanionRecord? = nil
    ) async throws(OperationError) -> EnrolledSubject {
        try authorize(caller, .enrol(request.gallery))
        let record = try galleryRecord(request.gallery)
        var companion = try companion(for: .subjectEnrolled(by: caller, galleryName: request.gallery))
        companion.followers += review.images.companions(for: try keptImages(samples, gallery: record))
        if let outcome { companion.followers.append(outcome) }
        let enrolled: EnrolledSubject
        do {
            enrolled = try await identification.enrol(
                gallery: request.gallery, reference: request.reference, attributes: request.attributes,
                retainUntil: request.retainUntil, samples: samples, companion: companion)
        } catch {
            throw .identification(error)
        }
        try await storeCrops(of: enrolled.templates, from: samples)
        return enrolled
    }

    /// Seals each template's aligned crop for reviewers. A separate transaction after the
    /// enrolment: a crash between the two leaves a template without a crop (shown to reviewers
    /// as missing), never a crop without a template.
    /// Each sample made one template per engine of the gallery, stored sample by sample, so
    /// every engine's template of a sample gets that sample's crop.
    private func storeCrops(of templates: [TemplateRecord], from samples: [EnrolmentSample]) async throws(OperationError) {
        guard !samples.isEmpty else { return }
        let perSample = max(templates.count / samples.count, 1)
        let crops = templates.enumerated().compactMap { position, template in
            samples[min(position / perSample, samples.count - 1)].alignedCrop.map {
                EnrolmentCrop(templateID: template.id, crop: $0)
            }
        }
        guard !crops.isEmpty else { return }
        do { try await review.crops.storeEnrolmentCrops(crops) } catch { throw .review(error) }
    }

    /// Examines one photo for enrolment in `gallery` (nil: with every engine installed), for
    /// callers that report refusals image by image.
    public func examine(
        imageBytes: [UInt8], gallery: String? = nil
    ) async throws(OperationError) -> Result<EnrolmentSample, ImageRefusalReason> {
        do { return try await identification.examine(imageBytes: imageBytes, gallery: gallery) } catch {
            throw .identification(error)
        }
    }

    /// Adds photos to an enrolled subject, all or nothing.
    /// `outcome` as for ``enrol(_:by:outcome:)``.
    public func addImages(
        gallery: String, reference: String, images: [[UInt8]], by caller: Caller, outcome: CompanionRecord? = nil
    ) async throws(OperationError) -> [TemplateRecord] {
        try authorize(caller, .enrol(gallery))
        let record = try galleryRecord(gallery)
        let samples = try await examineAll(images, gallery: gallery)
        var companion = try companion(for: .templatesAdded(by: caller, galleryName: gallery))
        companion.followers += review.images.companions(for: try keptImages(samples, gallery: record))
        if let outcome { companion.followers.append(outcome) }
        let added: [TemplateRecord]
        do {
            added = try await identification.addTemplates(
                gallery: gallery, reference: reference, samples: samples, companion: companion)
        } catch {
            throw .identification(error)
        }
        try await storeCrops(of: added, from: samples)
        return added
    }

    /// A page of a gallery's subjects, in identifier order after `cursor`.
    public func subjects(
        in gallery: String, after cursor: SubjectRecord.ID?, limit: Int, by caller: Caller
    ) async throws(OperationError) -> SubjectPage {
        try authorize(caller, .readGallery(gallery))
        guard (1...Self.maximumPageSize).contains(limit) else {
            throw .invalidRequest(field: "limit", reason: "must lie in 1...\(Self.maximumPageSize), got \(limit)")
        }
        let record = try galleryRecord(gallery)
        do { return try await store.subjects(in: record.id, after: cursor, limit: limit) } catch {
            throw .identification(.store(error))
        }
    }

    /// One subject with its templates.
    public func subject(_ reference: String, in gallery: String, by caller: Caller) async throws(OperationError) -> EnrolledSubject {
        try authorize(caller, .readGallery(gallery))
        let record = try galleryRecord(gallery)
        do { return try await store.subject(reference: reference, in: record.id) } catch {
            throw .identification(.store(error))
        }
    }

    /// Erases a subject at once: its rows, its index entries; the audit keeps hashes only.
    public func eraseSubject(
        _ reference: String, in gallery: String, reason: String = "erasure requested", by caller: Caller
    ) async throws(OperationError) -> SubjectErasure {
        try authorize(caller, .eraseSubject(gallery))
        let companion = try companion(for: .subjectErased(by: caller, galleryName: gallery, reason: reason))
        do { return try await identification.deleteSubject(gallery: gallery, reference: reference, companion: companion) } catch {
            throw .identification(error)
        }
    }

    // MARK: - Detection, search, verification

    /// Detects and assesses every face in an image. Audited with the image's hash.
    public func detect(imageBytes: [UInt8], by caller: Caller) async throws(OperationError) -> DetectionOutcome {
        try authorize(caller, .detect)
        let analysis = try await analyse(imageBytes)
        let digest = FileDigest.sha256(of: imageBytes)
        try await record(.detection(by: caller, probeSHA256: digest, faceCount: analysis.faces.count))
        return DetectionOutcome(
            imageWidth: analysis.imageWidth, imageHeight: analysis.imageHeight,
            faces: Self.probeFaces(analysis.faces), imageSHA256: digest)
    }

    /// Searches a gallery with one face of a probe photo. The search is audited (purpose, case
    /// reference, probe hash, parameters, candidates) before the candidates are returned.
    public func search(_ request: SearchRequest, by caller: Caller) async throws(OperationError) -> SearchOutcome {
        try authorize(caller, .search(request.gallery))
        let gallery = try galleryRecord(request.gallery)
        let justification = try justify(request.justification, gallery: gallery)
        guard (1...Self.maximumCandidates).contains(request.k) else {
            throw .invalidRequest(field: "k", reason: "must lie in 1...\(Self.maximumCandidates), got \(request.k)")
        }
        let engineName = try resolvedEngine(request.engine, gallery: request.gallery)
        let threshold = try narrowedThreshold(request.threshold, engine: engineName, gallery: gallery)
        let analysis = try await analyse(request.image)
        let chosen = try Self.choose(request.faceIndex, among: analysis.faces, field: "image")
        var candidates: [Candidate]
        do {
            let probes = try await identification.probeTemplates(
                of: analysis.faces[chosen], imageBytes: request.image, gallery: request.gallery, engine: engineName)
            candidates = try identification.search(
                gallery: request.gallery, probes: probes, engine: engineName, k: request.k,
                threshold: threshold, attributeFilter: request.attributeFilter)
        } catch {
            throw .identification(error)
        }
        // This node's index may not reflect yet an erasure acknowledged elsewhere (another node,
        // another process): keep only candidates whose best template the store still holds (an
        // erased subject's templates go with it), read with their qualities in one read. An
        // erasure that commits after this read is caught when the review case is written below.
        let qualities: [TemplateRecord.ID: TemplateQuality]
        do { qualities = try await store.templateQualities(candidates.map(\.bestTemplateID)) } catch {
            throw .identification(.store(error))
        }
        candidates = Self.ranked(candidates.filter { qualities[$0.bestTemplateID] != nil })
        let digest = FileDigest.sha256(of: request.image)
        var parameters: [String: JSONValue] = [
            "k": .integer(Int64(request.k)), "threshold": .number(threshold), "faceIndex": .integer(Int64(chosen)),
            "faceCount": .integer(Int64(analysis.faces.count)), "engine": .string(engineName),
        ]
        if !request.attributeFilter.isEmpty {
            parameters["attributeFilter"] = .object(request.attributeFilter.mapValues { .string($0) })
        }
        let searched = analysis.faces[chosen]
        let probeFaces = searched.alignedCrop.map { crop in
            [ProbeFace(crop: crop, detectionScore: searched.detection.score, quality: Self.qualityMeasures(searched.quality))]
        } ?? []
        let recorded: RecordedSearch
        var attempts = 0
        while true {
            do {
                recorded = try await review.recordSearch(
                    SearchRecord(
                        gallery: gallery, justification: justification, probeSHA256: digest, threshold: threshold,
                        parameters: parameters,
                        candidates: candidates.map {
                            SearchCandidate(
                                rank: $0.rank, subjectID: $0.subjectID, subjectReference: $0.subjectReference, score: $0.score,
                                templateID: $0.bestTemplateID)
                        },
                        probeFaces: probeFaces, engine: engineName,
                        higherIsMoreAlike: identification.operatingPoint(gallery: gallery, engine: engineName).higherIsMoreAlike),
                    by: caller)
                break
            } catch {
                // A candidate's subject erased between the scan and this write (another request,
                // another node) fails the review case's references to it: leave such candidates
                // out and write again, rather than fail the search.
                attempts += 1
                let enrolled = await stillEnrolled(candidates)
                guard attempts < 3, enrolled.count < candidates.count else { throw .review(error) }
                candidates = enrolled
            }
        }
        let ranked = candidates.map { candidate in
            RankedCandidate(
                rank: candidate.rank, subjectReference: candidate.subjectReference, subjectID: candidate.subjectID,
                score: candidate.score, bestTemplateID: candidate.bestTemplateID,
                templateQuality: qualities[candidate.bestTemplateID], engineScores: candidate.engineScores)
        }
        return SearchOutcome(
            gallery: gallery, engine: engineName, faces: Self.probeFaces(analysis.faces), searchedFace: chosen, candidates: ranked,
            threshold: threshold, k: request.k, probeSHA256: digest, auditSequence: recorded.auditSequence,
            justification: justification, reviewCase: recorded.reviewCase)
    }

    /// The candidates ranked again from 1, in their order.
    private static func ranked(_ candidates: [Candidate]) -> [Candidate] {
        candidates.enumerated().map { position, candidate in
            var ranked = candidate
            ranked.rank = position + 1
            return ranked
        }
    }

    /// The candidates whose subjects the store still holds, ranked again from 1.
    private func stillEnrolled(_ candidates: [Candidate]) async -> [Candidate] {
        var enrolled: [Candidate] = []
        for candidate in candidates {
            do {
                _ = try await store.subject(candidate.subjectID)
            } catch {
                if case .unknownSubject = error { continue }
            }
            var kept = candidate
            kept.rank = enrolled.count + 1
            enrolled.append(kept)
        }
        return enrolled
    }

    /// Verifies one face of a probe photo against an enrolled subject; audited.
    public func verify(_ request: SubjectVerificationRequest, by caller: Caller) async throws(OperationError) -> VerificationOutcome {
        try authorize(caller, .verify(request.gallery))
        let gallery = try galleryRecord(request.gallery)
        let justification = try justify(request.justification, gallery: gallery)
        let engineName = try resolvedEngine(request.engine, gallery: request.gallery)
        if let threshold = request.threshold, !threshold.isFinite {
            throw .invalidRequest(field: "threshold", reason: "must be a number, got \(threshold)")
        }
        let analysis = try await analyse(request.image)
        let chosen = try Self.choose(request.faceIndex, among: analysis.faces, field: "image")
        let subjectID: SubjectRecord.ID
        do { subjectID = try await store.subject(reference: request.subjectReference, in: gallery.id).subject.id } catch {
            throw .identification(.store(error))
        }
        let verification: Verification
        do {
            let probes = try await identification.probeTemplates(
                of: analysis.faces[chosen], imageBytes: request.image, gallery: request.gallery, engine: engineName)
            verification = try await identification.verify(
                gallery: request.gallery, probes: probes, subjectReference: request.subjectReference, engine: engineName,
                threshold: request.threshold)
        } catch {
            throw .identification(error)
        }
        let entry = try await record(
            .verification(
                by: caller, gallery: gallery, justification: justification,
                probeSHA256: FileDigest.sha256(of: request.image), subjectID: subjectID, score: verification.score,
                threshold: verification.threshold, engine: engineName, isMatch: verification.isMatch))
        return VerificationOutcome(
            subjectReference: request.subjectReference, score: verification.score, threshold: verification.threshold,
            isMatch: verification.isMatch, faces: Self.probeFaces(analysis.faces), comparedFace: chosen,
            auditSequence: entry.sequence, engine: engineName, engineScores: verification.engineScores)
    }

    /// Compares the largest faces of two photos; audited with both hashes.
    public func compare(_ request: ImageComparisonRequest, by caller: Caller) async throws(OperationError) -> VerificationOutcome {
        try authorize(caller, .compareImages)
        let justification = try justify(request.justification, gallery: nil)
        let engineName = request.engine ?? GalleryEngine.legacyIdentifier
        let comparison: TemplateComparison
        do { comparison = try identification.comparison(ofEngine: engineName) } catch { throw .identification(error) }
        let threshold = try checkedThreshold(request.threshold ?? identification.publishedThreshold(ofEngine: engineName))
        let first = try await analyse(request.first)
        let second = try await analyse(request.second)
        let firstFace = try Self.choose(nil, among: first.faces, field: "first image")
        let secondFace = try Self.choose(nil, among: second.faces, field: "second image")
        let score: Float
        if engineName == GalleryEngine.legacyIdentifier {
            do { score = try first.faces[firstFace].template.cosineSimilarity(to: second.faces[secondFace].template) } catch {
                throw .identification(.engine(error))
            }
        } else {
            do {
                let left = try await identification.template(
                    of: first.faces[firstFace].detection, imageBytes: request.first, engine: engineName)
                let right = try await identification.template(
                    of: second.faces[secondFace].detection, imageBytes: request.second, engine: engineName)
                score = comparison.score(left.values, right.values)
            } catch {
                throw .identification(error)
            }
        }
        let isMatch = comparison.isMatch(score, threshold: threshold)
        let entry = try await record(
            .comparison(
                by: caller, justification: justification, probeSHA256: FileDigest.sha256(of: request.first),
                otherImageSHA256: FileDigest.sha256(of: request.second), score: score, threshold: threshold, engine: engineName,
                isMatch: isMatch))
        return VerificationOutcome(
            subjectReference: nil, score: score, threshold: threshold, isMatch: isMatch,
            faces: Self.probeFaces(first.faces), comparedFace: firstFace, auditSequence: entry.sequence, engine: engineName,
            engineScores: [engineName: score])
    }

    // MARK: - Retention

    /// Erases every subject whose retention ended at or before `date` (its own retain-until
    /// date, or its gallery's days-after-enrolment rule), each with its `retentionErasure` audit
    /// entry in the same transaction, and returns the erasures. Runs in batches of `batchSize`
    /// until none are left; the retention sweeper calls it periodically.
    ///
    /// With `stopBy`, no new batch starts at or after that instant (a node sweeping under a lease
    /// stops before the lease would run out, renews it, and sweeps on); check ``hasExpiredSubjects(asOf:)``.
    @discardableResult
    public func sweepExpiredSubjects(
        asOf date: Date = Date(), batchSize: Int = 500, stopBy: ContinuousClock.Instant? = nil
    ) async throws(OperationError) -> [SubjectErasure] {
        var erasures: [SubjectErasure] = []
        while true {
            if let stopBy, ContinuousClock.now >= stopBy { return erasures }
            let expired: [SubjectRecord]
            do { expired = try await store.expiredSubjects(asOf: date, limit: batchSize) } catch {
                throw .identification(.store(error))
            }
            if expired.isEmpty { return erasures }
            for subject in expired {
                let galleryName = identification.galleryNames.first { name in
                    (try? identification.gallery(named: name).id) == subject.galleryID
                }
                let companion = try companion(
                    for: .retentionErasure(galleryName: galleryName, retainedUntil: subject.retainUntil ?? date))
                do { erasures.append(try await identification.deleteSubject(subject.id, companion: companion)) } catch {
                    // Erased by someone else since the listing: nothing left to do for it.
                    if case .store(.unknownSubject) = error { continue }
                    throw .identification(error)
                }
            }
        }
    }

    /// Deletes change-feed entries committed at or before `cutoff`, oldest first, always keeping
    /// the newest entry (a follower checks its last applied entry against it), and returns how
    /// many went. A node whose indexes were further behind than that finds its entries gone and
    /// rebuilds from the store, so this loses nothing; it keeps the feed from growing for ever.
    @discardableResult
    public func pruneChangeFeed(committedAtOrBefore cutoff: Date, batchSize: Int = 500) async throws(OperationError) -> Int {
        let cutoffMilliseconds = Int64((cutoff.timeIntervalSince1970 * 1_000).rounded(.down))
        var pruned = 0
        do {
            let head = try await store.changeFeedHead()
            while true {
                let oldest = try await store.records(
                    in: ChangeFeedEntry.table, orderedBy: "position", after: nil, limit: batchSize)
                var last: Int64?
                for row in oldest {
                    guard case .integer(let position)? = row["position"], case .integer(let committed)? = row["committed_at_ms"],
                        position < head.rawValue, committed <= cutoffMilliseconds
                    else { break }
                    last = position
                }
                guard let last else { return pruned }
                let deleted = try await store.deleteRecords(
                    in: ChangeFeedEntry.table, matching: [:], where: "position", atMost: last, limit: batchSize)
                pruned += deleted
                if deleted == 0 { return pruned }
            }
        } catch {
            throw .identification(.store(error))
        }
    }

    /// True when some subject's retention ended at or before `date`.
    public func hasExpiredSubjects(asOf date: Date = Date()) async throws(OperationError) -> Bool {
        do { return try await !store.expiredSubjects(asOf: date, limit: 1).isEmpty } catch {
            throw .identification(.store(error))
        }
    }

    // MARK: - Audit

    /// Up to `limit` audit entries after `position` (auditors and admins).
    public func auditEntries(after position: Int64?, limit: Int, by caller: Caller) async throws(OperationError) -> [AuditEntry] {
        try authorize(caller, .readAudit)
        guard (1...Self.maximumPageSize).contains(limit) else {
            throw .invalidRequest(field: "limit", reason: "must lie in 1...\(Self.maximumPageSize), got \(limit)")
        }
        do { return try await auditLog.entries(after: position, limit: limit) } catch { throw .governance(error) }
    }

    // MARK: - Helpers

    func authorize(_ caller: Caller, _ permission: Permission) throws(OperationError) {
        do { try caller.authorize(permission) } catch { throw .governance(error) }
    }

    func galleryRecord(_ name: String) throws(OperationError) -> GalleryRecord {
        do { return try identification.gallery(named: name) } catch { throw .identification(error) }
    }

    private func gallerySummary(_ name: String) async throws(OperationError) -> GallerySummary {
        let record = try galleryRecord(name)
        do { return GallerySummary(gallery: record, counts: try await store.counts(in: record.id)) } catch {
            throw .identification(.store(error))
        }
    }

    private func justify(_ stated: StatedJustification, gallery: GalleryRecord?) throws(OperationError) -> SearchJustification {
        do { return try purposes.justify(purpose: stated.purpose, caseReference: stated.caseReference, gallery: gallery) } catch {
            throw .governance(error)
        }
    }

    /// The engine a request names in a gallery (nil: the gallery's default), or why not.
    private func resolvedEngine(_ requested: String?, gallery: String) throws(OperationError) -> String {
        do { return try identification.resolvedEngine(gallery: gallery, engine: requested) } catch {
            throw .identification(error)
        }
    }

    /// A search's threshold: the gallery's for the engine when nil, and never looser than it
    /// (below it for a cosine or the fusion, above it for a distance).
    private func narrowedThreshold(_ requested: Float?, engine: String, gallery: GalleryRecord) throws(OperationError) -> Float {
        let (base, higherIsMoreAlike) = identification.operatingPoint(gallery: gallery, engine: engine)
        let threshold = requested ?? base
        let upper: Float = engine == GallerySearchService.fusion ? .greatestFiniteMagnitude : 1
        let valid = higherIsMoreAlike ? (base...upper).contains(threshold) : (0...base).contains(threshold)
        guard threshold.isFinite, valid else {
            let range = higherIsMoreAlike ? "\(base) or above" : "0...\(base)"
            throw .invalidRequest(
                field: "threshold",
                reason: "must be \(range) for engine '\(engine)' (no looser than the gallery's operating threshold), got \(threshold)")
        }
        return threshold
    }

    private func checkedThreshold(_ threshold: Float) throws(OperationError) -> Float {
        guard threshold.isFinite, (-1...1).contains(threshold) else {
            throw .invalidRequest(field: "threshold", reason: "must lie in -1...1, got \(threshold)")
        }
        return threshold
    }

    func companion(for event: AuditEvent) throws(OperationError) -> CompanionRecord {
        do { return try auditLog.companion(for: event) } catch { throw .governance(error) }
    }

    @discardableResult
    private func record(_ event: AuditEvent) async throws(OperationError) -> AuditEntry {
        do { return try await auditLog.record(event) } catch { throw .governance(error) }
    }

    private func examineAll(_ images: [[UInt8]], gallery: String) async throws(OperationError) -> [EnrolmentSample] {
        try await admitted { () async throws(OperationError) -> [EnrolmentSample] in
            do throws(IdentificationError) {
                return try await identification.examineAll(images, gallery: gallery)
            } catch {
                throw .identification(error)
            }
        }
    }

    private func analyse(_ imageBytes: [UInt8]) async throws(OperationError) -> ImageAnalysis {
        let analysis = try await admitted { () async throws(OperationError) -> ImageAnalysis in
            do throws(FaceEngineError) {
                return try await engine.analysis(ofImageBytes: imageBytes)
            } catch {
                throw .identification(.engine(error))
            }
        }
        analysisObserver?(analysis.timings)
        return analysis
    }

    /// Runs CPU-heavy image work through ``admission`` when there is one.
    func admitted<T: Sendable>(_ body: () async throws(OperationError) -> T) async throws(OperationError) -> T {
        guard let admission else { return try await body() }
        return try await admission.admit(body)
    }

    /// The face a request named, or the largest one.
    static func choose(_ requested: Int?, among faces: [AnalyzedFace], field: String) throws(OperationError) -> Int {
        guard !faces.isEmpty else { throw .noFaceInImage(field: field) }
        if let requested {
            guard faces.indices.contains(requested) else { throw .noSuchFace(index: requested, faceCount: faces.count) }
            return requested
        }
        var largest = 0
        for index in faces.indices where faces[index].detection.box.area > faces[largest].detection.box.area {
            largest = index
        }
        return largest
    }

    static func probeFaces(_ faces: [AnalyzedFace]) -> [DetectedProbeFace] {
        faces.enumerated().map { index, face in
            DetectedProbeFace(index: index, detection: face.detection, quality: face.quality, verdict: face.verdict)
        }
    }

    /// The quality measures stored with a template or a review case, by name.
    static func qualityMeasures(_ quality: FaceQuality) -> [String: Float] {
        [
            "interOcularDistance": Float(quality.interOcularDistance), "yawDegrees": Float(quality.yawDegrees),
            "rollDegrees": Float(quality.rollDegrees), "sharpness": Float(quality.sharpness),
            "brightness": Float(quality.brightness), "contrast": Float(quality.contrast),
        ]
    }
}

extension GalleryStoreLocation {
    /// Opens the store at this location with the tables operations need (``MatcherOperations/migrations(for:)``).
    public func openForOperations(
        snapshotDirectory: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
        installation: Installation = .fromEnvironment(), settings: PostgresPrimaryLocator.Settings = .init(),
        waitForPrimary: Duration = .zero
    ) async throws(GalleryError) -> OpenedGalleryStore {
        try await open(
            sqliteMigrations: MatcherOperations.migrations(for: .sqlite),
            postgresMigrations: MatcherOperations.migrations(for: .postgresql), snapshotDirectory: snapshotDirectory,
            environment: environment, installation: installation, settings: settings, waitForPrimary: waitForPrimary)
    }
}
