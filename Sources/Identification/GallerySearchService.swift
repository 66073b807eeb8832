import FaceEngine
import Foundation
import Gallery
import Installation
import Matching
import Synchronization

/// Enrolment, search, verification and deletion over a ``GalleryStore``, with one in-memory
/// index per gallery rebuilt from the store when the service opens.
///
/// The store is the truth: enrolment commits to the store first and then adds to the index;
/// deletion erases from the store first and then removes from the index, so a deleted subject
/// is never returned by a search that starts after ``deleteSubject(gallery:reference:)`` returns.
/// Index updates never wait for searches.
public final class GallerySearchService: Sendable {
    /// The durable store.
    public let store: any GalleryStore
    /// The engine that turns images into templates.
    public let engine: FaceEngine

    private let indexes: Mutex<[String: GalleryIndex]>

    private init(store: any GalleryStore, engine: FaceEngine, indexes: [String: GalleryIndex]) {
        self.store = store
        self.engine = engine
        self.indexes = Mutex(indexes)
    }

    /// Opens the service over `store`, rebuilding every gallery's index from the stored templates.
    public static func open(store: any GalleryStore, engine: FaceEngine) async throws(IdentificationError) -> GallerySearchService {
        var indexes: [String: GalleryIndex] = [:]
        let galleries: [GalleryRecord]
        do { galleries = try await store.galleries() } catch { throw .store(error) }
        for gallery in galleries {
            indexes[gallery.name] = try await GalleryIndex.rebuild(gallery, from: store)
        }
        return GallerySearchService(store: store, engine: engine, indexes: indexes)
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
        let index = try GalleryIndex(record: record)
        indexes.withLock { $0[name] = index }
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
        indexes.withLock { _ = $0.removeValue(forKey: name) }
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
        let enrolled: EnrolledSubject
        do {
            enrolled = try await store.enrol(subject, in: index.record.id, companion: companion)
        } catch {
            if case let .duplicateExternalReference(reference, _) = error { throw .refused(.duplicateReference(reference)) }
            throw .store(error)
        }
        try index.add(enrolled)
        return enrolled
    }

    /// Enrols subjects whose templates are already computed (an import, or a synthetic gallery
    /// for a benchmark) in one transaction, all or none; `companion` appends one row per subject.
    @discardableResult
    public func enrolBatch(
        gallery: String, subjects: [NewSubject], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> [EnrolledSubject] {
        let index = try index(of: gallery)
        guard !subjects.isEmpty else { return [] }
        let enrolled: [EnrolledSubject]
        do {
            enrolled = try await store.enrolAll(subjects, in: index.record.id, companion: companion)
        } catch {
            if case let .duplicateExternalReference(reference, _) = error { throw .refused(.duplicateReference(reference)) }
            throw .store(error)
        }
        for subject in enrolled { try index.add(subject) }
        return enrolled
    }

    /// Adds templates from examined samples to an enrolled subject, all or nothing.
    @discardableResult
    public func addTemplates(
        gallery: String, reference: String, samples: [EnrolmentSample], companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> [TemplateRecord] {
        let index = try index(of: gallery)
        guard !samples.isEmpty else { throw .refused(.noImages) }
        let added: [TemplateRecord]
        let subjectID: SubjectRecord.ID
        do {
            subjectID = try await store.subject(reference: reference, in: index.record.id).subject.id
            added = try await store.addTemplates(Self.newTemplates(samples), to: subjectID, companion: companion)
        } catch {
            throw .store(error)
        }
        try index.add(added, to: subjectID)
        return added
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
        let subjects = index.subjectSnapshot()
        var filter: SearchFilter?
        if !attributeFilter.isEmpty {
            let allowed = Set(subjects.compactMap { owner, subject in
                attributeFilter.allSatisfy { subject.attributes[$0.key] == $0.value } ? owner : nil
            })
            filter = .owners(allowed)
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
    /// its gallery's index.
    @discardableResult
    public func deleteSubject(_ id: SubjectRecord.ID, companion: CompanionRecord? = nil) async throws(IdentificationError) -> SubjectErasure {
        let erasure: SubjectErasure
        do { erasure = try await store.deleteSubject(id, companion: companion) } catch { throw .store(error) }
        let index = indexes.withLock { $0.values.first { $0.record.id == erasure.subject.galleryID } }
        index?.remove(erasure)
        return erasure
    }

    private func index(of gallery: String) throws(IdentificationError) -> GalleryIndex {
        guard let index = indexes.withLock({ $0[gallery] }) else { throw .unknownGallery(gallery) }
        return index
    }
}
