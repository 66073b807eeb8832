import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Operations
import Review
import Synchronization
import Testing

/// Enrolment images kept sealed, and galleries that gain an engine later: the templating job
/// makes the new engine's templates from the kept images, equal to a fresh enrolment's; an
/// engine can be dropped with its templates.
@Suite struct EngineTemplatingTests {
    static let justified = StatedJustification(purpose: "missing-person", caseReference: "CASE-2026-0113")

    /// obama (two photos) and biden enrolled in an SFace-only custody gallery.
    private static func sfaceGallery(_ backend: StoreBackend, keepsImages: Bool? = nil) async throws -> Support.Fixture {
        let fixture = try await Support.fixture(backend, recognisers: try Support.recognisers.get())
        _ = try await fixture.operations.createGallery(
            GalleryDraft(name: "custody", purpose: .custody, keepsEnrolmentImages: keepsImages), by: fixture.admin)
        for (reference, photos) in [("obama", ["obama.jpg", "obama3.jpg"]), ("biden", ["biden.jpg"])] {
            _ = try await fixture.operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: reference, images: try photos.map(Support.photo)),
                by: fixture.enroller)
        }
        return fixture
    }

    private static func keptImageRows(_ store: any GalleryStore, subject: SubjectRecord.ID) async throws -> [StoreRow] {
        try await store.records(
            in: EnrolmentImageStore.table, matching: ["subject_id": .integer(subject.rawValue)], orderedBy: "image_id",
            after: nil, limit: 100)
    }

    @Test("enrolment images are kept sealed with their subject, open to the bytes supplied, and go with the subject's erasure", arguments: StoreBackend.allCases)
    func imagesAreKeptSealed(backend: StoreBackend) async throws {
        let fixture = try await Self.sfaceGallery(backend)
        defer { fixture.cleanUp() }
        let gallery = try await fixture.store.gallery(named: "custody")
        #expect(gallery.settings.keepsEnrolmentImages)
        let obama = try await fixture.store.subject(reference: "obama", in: gallery.id)
        let kept = try await fixture.operations.review.images.images(of: obama.subject.id)
        #expect(kept.map(\.image.bytes) == [try Support.photo("obama.jpg"), try Support.photo("obama3.jpg")])
        #expect(kept.map(\.image.sha256) == obama.templates.map(\.sourceImageSHA256))
        let rows = try await Self.keptImageRows(fixture.store, subject: obama.subject.id)
        #expect(rows.count == 2)
        // Stored encrypted: the photo's bytes appear nowhere in the row.
        guard case .blob(let sealed)? = rows.first?["sealed"] else {
            Issue.record("no sealed column")
            return
        }
        let photo = try Support.photo("obama.jpg")
        #expect(sealed.count == photo.count + 28)
        #expect(sealed.range(of: Data(photo.prefix(64))) == nil)

        _ = try await fixture.operations.eraseSubject("obama", in: "custody", by: fixture.admin)
        #expect(try await Self.keptImageRows(fixture.store, subject: obama.subject.id).isEmpty)
        let biden = try await fixture.store.subject(reference: "biden", in: gallery.id)
        #expect(try await Self.keptImageRows(fixture.store, subject: biden.subject.id).count == 1)
    }

    @Test("a gallery that does not keep images stores none, and a later engine counts its subjects as lacking them")
    func galleryWithoutKeptImages() async throws {
        let fixture = try await Self.sfaceGallery(.sqlite, keepsImages: false)
        defer { fixture.cleanUp() }
        let gallery = try await fixture.store.gallery(named: "custody")
        #expect(!gallery.settings.keepsEnrolmentImages)
        let obama = try await fixture.store.subject(reference: "obama", in: gallery.id)
        #expect(try await Self.keptImageRows(fixture.store, subject: obama.subject.id).isEmpty)

        let job = try await fixture.operations.addEngine("dlib", to: "custody", by: fixture.admin)
        let finished = try await fixture.operations.runEngineJob(job.id, holder: "test")
        #expect(finished.state == .completed)
        #expect(finished.subjectsWithoutImages == 2)
        #expect(finished.templatesMade == 0)
        #expect(try await fixture.store.counts(in: gallery.id).templates == 3)
    }

    @Test("adding dlib makes every subject's dlib template from its kept images, equal to a fresh enrolment's; dlib is refused until the job ends", arguments: StoreBackend.allCases)
    func addEngineTemplatesEverySubject(backend: StoreBackend) async throws {
        let fixture = try await Self.sfaceGallery(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        let job = try await operations.addEngine("dlib", to: "custody", by: fixture.admin)
        #expect(job.state == .running)
        #expect(job.subjectsTotal == 2)
        var gallery = try await fixture.store.gallery(named: "custody")
        #expect(gallery.engine(named: "dlib")?.templatingJob == job.id)

        // Not searchable while templating: its index lacks the subjects enrolled before.
        await #expect {
            try await operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, engine: "dlib"),
                by: fixture.searcher)
        } throws: { error in
            guard case .identification(.engineNotReady(let engine, _, let named))? = error as? OperationError else { return false }
            return engine == "dlib" && named == job.id
        }
        // Enrolled during the job: gets its dlib template at once.
        _ = try await operations.enrol(
            EnrolmentRequest(gallery: "custody", reference: "late", images: [try Support.photo("obama2.jpg")]), by: fixture.enroller)

        let seen = ProgressLog()
        let finished = try await operations.runEngineJob(job.id, holder: "test", batchSize: 1) { seen.append($0) }
        #expect(finished.state == .completed)
        #expect(finished.subjectsDone == 3)
        #expect(finished.subjectsWithoutImages == 0)
        #expect(seen.states.last == .completed)
        #expect(seen.done == [0, 1, 2, 3, 3])
        #expect(try await operations.engineJob(job.id, by: fixture.admin) == finished)
        gallery = try await fixture.store.gallery(named: "custody")
        #expect(gallery.engine(named: "dlib")?.isTemplating == false)

        // One dlib template per subject and image, equal to what enrolling the same photos makes.
        _ = try await operations.createGallery(
            GalleryDraft(name: "fresh", purpose: .custody, engines: ["sface", "dlib"]), by: fixture.admin)
        let fresh = try await fixture.store.gallery(named: "fresh")
        for (reference, photos) in [("obama", ["obama.jpg", "obama3.jpg"]), ("biden", ["biden.jpg"]), ("late", ["obama2.jpg"])] {
            let retemplated = try await fixture.store.subject(reference: reference, in: gallery.id)
            let dlib = retemplated.templates.filter { $0.modelIdentifier == "dlib-resnet-v1" }
            #expect(dlib.count == photos.count, "\(reference)")
            #expect(Set(dlib.map(\.sourceImageSHA256)).count == photos.count)
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "fresh", reference: reference, images: try photos.map(Support.photo)),
                by: fixture.admin)
            let enrolled = try await fixture.store.subject(reference: reference, in: fresh.id)
            for template in enrolled.templates where template.modelIdentifier == "dlib-resnet-v1" {
                let twin = dlib.first { $0.sourceImageSHA256 == template.sourceImageSHA256 }
                #expect(twin?.vector == template.vector, "\(reference): re-templated and enrolled dlib templates differ")
                #expect(twin?.quality == template.quality)
            }
        }

        // Searchable now, and audited from start to end.
        let byDlib = try await operations.search(
            SearchRequest(
                gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5, engine: "dlib"),
            by: fixture.searcher)
        #expect(byDlib.candidates.map(\.subjectReference).contains("obama"))
        #expect(!byDlib.candidates.map(\.subjectReference).contains("biden"))
        let changes = try await operations.auditLog.entries().filter { $0.action == .galleryReconfigured }.map(\.parameters)
        #expect(changes.count == 2)
        #expect(changes.first?.contains("\"engine-added\"") == true)
        #expect(changes.last?.contains("\"engine-templated\"") == true)
        #expect(changes.last?.contains(job.id) == true)
    }

    @Test("a job is run by one process at a time, and a dropped engine takes its templates and stops its job", arguments: StoreBackend.allCases)
    func leaseAndDrop(backend: StoreBackend) async throws {
        let fixture = try await Self.sfaceGallery(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        let job = try await operations.addEngine("dlib", to: "custody", by: fixture.admin)
        _ = try await fixture.store.claimLease("engine-job:\(job.id)", holder: "another node", duration: .seconds(60))
        await #expect {
            try await operations.runEngineJob(job.id, holder: "test")
        } throws: { error in
            guard case .jobHeldElsewhere(_, let holder, _)? = error as? OperationError else { return false }
            return holder == "another node"
        }
        try await fixture.store.releaseLease("engine-job:\(job.id)", holder: "another node")
        #expect(try await operations.runEngineJob(job.id, holder: "test").state == .completed)
        let gallery = try await fixture.store.gallery(named: "custody")
        #expect(try await fixture.store.counts(in: gallery.id).templates == 6)

        // The default engine stays; dlib goes with its three templates.
        await #expect(throws: OperationError.self) { try await operations.dropEngine("sface", from: "custody", by: fixture.admin) }
        await #expect(throws: OperationError.self) { try await operations.dropEngine("dlib", from: "custody", by: fixture.enroller) }
        let receipt = try await operations.dropEngine("dlib", from: "custody", by: fixture.admin)
        #expect(receipt.removedTemplates == 3)
        #expect(receipt.gallery.engines.map(\.identifier) == ["sface"])
        #expect(try await fixture.store.counts(in: gallery.id).templates == 3)
        await #expect(throws: OperationError.self) {
            try await operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, engine: "dlib"),
                by: fixture.searcher)
        }

        // Added again and dropped before its job ran: the job is abandoned, not run.
        let second = try await operations.addEngine("dlib", to: "custody", by: fixture.admin)
        _ = try await operations.dropEngine("dlib", from: "custody", by: fixture.admin)
        let abandoned = try await operations.runEngineJob(second.id, holder: "test")
        #expect(abandoned.state == .abandoned)
        #expect(try await fixture.store.counts(in: gallery.id).templates == 3)
    }
}

/// The states a job reported, in order.
private final class ProgressLog: Sendable {
    private let entries = Mutex<[EngineJob]>([])
    func append(_ job: EngineJob) { entries.withLock { $0.append(job) } }
    var states: [EngineJob.State] { entries.withLock { $0.map(\.state) } }
    var done: [Int] { entries.withLock { $0.map(\.subjectsDone) } }
}
