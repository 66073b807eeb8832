import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Review

/// Engines added to and dropped from galleries, and the jobs that template an added engine.
extension MatcherOperations {
    /// What is kept with an enrolment image besides its bytes: the face its templates were made
    /// from and their quality, so an engine added later makes the same template enrolment would.
    struct KeptFace: Codable, Sendable {
        var detection: DetectedFace
        var quality: TemplateQuality
    }

    /// The images of `samples` to keep with their enrolment, when the gallery keeps them.
    func keptImages(_ samples: [EnrolmentSample], gallery: GalleryRecord) throws(OperationError) -> [KeptImage] {
        guard gallery.settings.keepsEnrolmentImages else { return [] }
        var kept: [KeptImage] = []
        for sample in samples {
            guard let bytes = sample.sourceImage, let detection = sample.detection else { continue }
            let face: Data
            do { face = try JSONEncoder().encode(KeptFace(detection: detection, quality: sample.templateQuality)) } catch {
                throw .misconfigured(reason: "cannot encode a detection: \(error)")
            }
            kept.append(KeptImage(bytes: bytes, sha256: sample.sourceImageSHA256, face: String(decoding: face, as: UTF8.self)))
        }
        return kept
    }

    /// Adds an installed engine to a gallery (admin) and records the job that will make its
    /// templates for the subjects already enrolled; run it with ``runEngineJob(_:holder:batchSize:leaseDuration:progress:)``.
    /// Enrolments make the engine's templates from now on; searches may use it once the job ends.
    public func addEngine(_ engine: String, to gallery: String, by caller: Caller) async throws(OperationError) -> EngineJob {
        try authorize(caller, .configureGallery(gallery))
        let record = try galleryRecord(gallery)
        let counts: GalleryCounts
        do { counts = try await store.counts(in: record.id) } catch { throw .identification(.store(error)) }
        let now = EngineJobs.now()
        let job = EngineJob(
            id: "job-" + UUID().uuidString.lowercased(), galleryID: record.id, gallery: gallery, engine: engine,
            state: .running, subjectsTotal: counts.subjects, subjectsDone: 0, templatesMade: 0, subjectsWithoutImages: 0,
            cursor: nil, startedAt: now, updatedAt: now, message: nil)
        var companion = try companion(for: .galleryReconfigured(by: caller))
        companion.followers.append(EngineJobs.companion(job))
        do { try await identification.addEngine(engine, gallery: gallery, job: job.id, companion: companion) } catch {
            throw .identification(error)
        }
        return job
    }

    /// Drops an engine (not the default) from a gallery (admin): its templates and index go,
    /// and a templating job still running for it stops at its next batch.
    public func dropEngine(_ engine: String, from gallery: String, by caller: Caller) async throws(OperationError) -> GalleryReconfigurationReceipt {
        try authorize(caller, .configureGallery(gallery))
        _ = try galleryRecord(gallery)
        let companion = try companion(for: .galleryReconfigured(by: caller))
        do { return try await identification.dropEngine(engine, gallery: gallery, companion: companion) } catch {
            throw .identification(error)
        }
    }

    /// A job as last recorded; the caller must be allowed to read its gallery.
    public func engineJob(_ id: String, by caller: Caller) async throws(OperationError) -> EngineJob {
        let job: EngineJob?
        do { job = try await EngineJobs.job(id, in: store) } catch { throw .identification(.store(error)) }
        guard let job else { throw .unknownJob(id) }
        try authorize(caller, .readGallery(job.gallery))
        return job
    }

    /// The jobs of engines still being templated, in every gallery (a node resumes them).
    public func unfinishedEngineJobs() async throws(OperationError) -> [EngineJob] {
        let galleries: [GalleryRecord]
        do { galleries = try await store.galleries() } catch { throw .identification(.store(error)) }
        var jobs: [EngineJob] = []
        for gallery in galleries {
            for entry in gallery.engines {
                guard let id = entry.templatingJob else { continue }
                do {
                    if let job = try await EngineJobs.job(id, in: store), job.state == .running { jobs.append(job) }
                } catch {
                    throw .identification(.store(error))
                }
            }
        }
        return jobs
    }

    /// The lease that makes one process at a time run a job.
    static func leaseName(of job: String) -> String { "engine-job:\(job)" }

    /// Runs (or resumes) a job until every subject has the engine's templates, then marks the
    /// engine templated; returns the job's final state. Holds the job's lease as `holder`
    /// throughout, renewing it at half its duration; a process killed mid-way leaves the lease
    /// to expire, and the next run resumes after the last batch committed. Each batch of
    /// `batchSize` subjects commits with its progress row, and the store never stores a template
    /// a subject already holds, so no template is lost or duplicated. Cancellation stops the job
    /// between batches (it stays resumable). A job whose engine was dropped, or whose gallery
    /// was erased, is abandoned.
    /// - Throws: ``OperationError/jobHeldElsewhere(job:holder:until:)`` while another live
    ///   process holds the lease.
    @discardableResult
    public func runEngineJob(
        _ id: String, holder: String, batchSize: Int = 16, leaseDuration: Duration = .seconds(30),
        progress: (@Sendable (EngineJob) -> Void)? = nil
    ) async throws(OperationError) -> EngineJob {
        guard (1...1_000).contains(batchSize) else {
            throw .invalidRequest(field: "batchSize", reason: "must lie in 1...1000, got \(batchSize)")
        }
        guard var job = try await storedJob(id) else { throw .unknownJob(id) }
        guard job.state == .running else { return job }
        var leaseRenewal = try await claimLease(job, holder: holder, duration: leaseDuration)
        progress?(job)
        while job.state == .running, !Task.isCancelled {
            guard let record = try? identification.gallery(named: job.gallery), record.id == job.galleryID,
                record.engine(named: job.engine)?.templatingJob == job.id
            else {
                job = try await abandon(job, reason: "the engine was dropped or the gallery erased before the job ended")
                break
            }
            if ContinuousClock.now >= leaseRenewal {
                leaseRenewal = try await claimLease(job, holder: holder, duration: leaseDuration)
            }
            let page: SubjectPage
            do { page = try await store.subjects(in: job.galleryID, after: job.cursor, limit: batchSize) } catch {
                throw .identification(.store(error))
            }
            if page.subjects.isEmpty {
                job = try await complete(job)
            } else {
                job = try await template(page.subjects, of: job)
            }
            progress?(job)
        }
        do { try await store.releaseLease(Self.leaseName(of: id), holder: holder) } catch {
            // An unreleased lease only delays the next claimant until it expires.
        }
        return job
    }

    private func storedJob(_ id: String) async throws(OperationError) -> EngineJob? {
        do { return try await EngineJobs.job(id, in: store) } catch { throw .identification(.store(error)) }
    }

    /// Claims or renews the job's lease; returns when to renew it next.
    private func claimLease(_ job: EngineJob, holder: String, duration: Duration) async throws(OperationError) -> ContinuousClock.Instant {
        let lease: WorkLease
        do { lease = try await store.claimLease(Self.leaseName(of: job.id), holder: holder, duration: duration) } catch {
            throw .identification(.store(error))
        }
        guard lease.holder == holder else { throw .jobHeldElsewhere(job: job.id, holder: lease.holder, until: lease.expiresAt) }
        return ContinuousClock.now + duration / 2
    }

    /// One kept image to template.
    private struct TemplatingWork: Sendable {
        var subject: SubjectRecord.ID
        var image: KeptImage
        var face: KeptFace
    }

    /// Makes and stores the engine's templates for one page of subjects, with the job's progress:
    /// the images are templated on every core at once (each engine session runs one thread),
    /// then stored in one transaction.
    private func template(_ subjects: [SubjectRecord], of job: EngineJob) async throws(OperationError) -> EngineJob {
        var job = job
        var work: [TemplatingWork] = []
        for subject in subjects {
            let images: [EnrolmentImage]
            do { images = try await review.images.images(of: subject.id) } catch { throw .review(error) }
            guard !images.isEmpty else {
                job.subjectsWithoutImages += 1
                continue
            }
            var seen = Set<String>()
            for kept in images where seen.insert(kept.image.sha256).inserted {
                let face: KeptFace
                do { face = try JSONDecoder().decode(KeptFace.self, from: Data(kept.image.face.utf8)) } catch {
                    throw .review(.malformedRow(table: EnrolmentImageStore.table, reason: "image \(kept.id): \(error)"))
                }
                work.append(TemplatingWork(subject: subject.id, image: kept.image, face: face))
            }
        }
        let templates = try await templates(of: work, engine: job.engine, gallery: job.gallery)
        var additions: [TemplateAddition] = []
        for (item, template) in zip(work, templates) {
            let new = NewTemplate(
                modelIdentifier: template.modelIdentifier, vector: template.values, quality: item.face.quality,
                sourceImageSHA256: item.image.sha256, capturedAt: Date())
            if additions.last?.subject == item.subject {
                additions[additions.count - 1].templates.append(new)
            } else {
                additions.append(TemplateAddition(subject: item.subject, templates: [new]))
            }
        }
        job.templatesMade += templates.count
        job.subjectsDone += subjects.count
        job.cursor = subjects.last?.id
        job.updatedAt = EngineJobs.now()
        do {
            _ = try await identification.addMissingTemplates(additions, gallery: job.gallery, companion: EngineJobs.companion(job))
        } catch {
            throw .identification(error)
        }
        return job
    }

    /// The engine's template of each item, in order, made on as many concurrent tasks as cores.
    private func templates(of work: [TemplatingWork], engine: String, gallery: String) async throws(OperationError) -> [FaceTemplate] {
        let identification = identification
        let workers = max(ProcessInfo.processInfo.activeProcessorCount, 1)
        do {
            return try await withThrowingTaskGroup(of: (Int, FaceTemplate).self) { group in
                var next = 0
                func submit() {
                    let position = next
                    let item = work[position]
                    next += 1
                    group.addTask {
                        let template = try await identification.template(
                            of: item.face.detection, imageBytes: item.image.bytes, engine: engine, gallery: gallery)
                        return (position, template)
                    }
                }
                while next < min(workers, work.count) { submit() }
                var made = [FaceTemplate?](repeating: nil, count: work.count)
                while let (position, template) = try await group.next() {
                    made[position] = template
                    if next < work.count { submit() }
                }
                return made.compactMap { $0 }
            }
        } catch let error as IdentificationError {
            throw .identification(error)
        } catch {
            throw .misconfigured(reason: "templating stopped: \(error)")
        }
    }

    /// Marks the engine templated, with the job's last row and its audit entry, in one transaction.
    private func complete(_ job: EngineJob) async throws(OperationError) -> EngineJob {
        var job = job
        job.state = .completed
        job.updatedAt = EngineJobs.now()
        var companion = try companion(
            for: .engineTemplated(
                job: job.id,
                figures: [
                    "subjectsDone": .integer(Int64(job.subjectsDone)), "templatesMade": .integer(Int64(job.templatesMade)),
                    "subjectsWithoutImages": .integer(Int64(job.subjectsWithoutImages)),
                ]))
        companion.followers.append(EngineJobs.companion(job))
        do { try await identification.completeEngine(job.engine, gallery: job.gallery, companion: companion) } catch {
            throw .identification(error)
        }
        return job
    }

    /// Records that a job stopped for good (when its gallery still exists to hold the row).
    private func abandon(_ job: EngineJob, reason: String) async throws(OperationError) -> EngineJob {
        var job = job
        job.state = .abandoned
        job.message = reason
        job.updatedAt = EngineJobs.now()
        do { try await store.appendRecord(EngineJobs.companion(job)) } catch {
            // The gallery was erased with the job's rows: nothing is left to record.
        }
        return job
    }
}
