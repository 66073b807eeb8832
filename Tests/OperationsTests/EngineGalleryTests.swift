import DlibEngine
import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Operations
import Testing

/// Galleries of several recognition engines: enrolment makes every engine's template from one
/// detection, searches and verifications run by one engine or by the fused comparison, and the
/// audit log and responses name the engine.
@Suite struct EngineGalleryTests {
    static let justified = StatedJustification(purpose: "missing-person", caseReference: "CASE-2026-0113")

    /// A custody gallery of SFace and dlib (SFace by default) with obama and biden enrolled.
    private static func enrolled(_ backend: StoreBackend) async throws -> Support.Fixture {
        let fixture = try await Support.fixture(backend, recognisers: try Support.recognisers.get())
        _ = try await fixture.operations.createGallery(
            GalleryDraft(name: "custody", purpose: .custody, engines: ["sface", "dlib"], defaultEngine: "sface"),
            by: fixture.admin)
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            _ = try await fixture.operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: reference, images: [try Support.photo(photo)]),
                by: fixture.enroller)
        }
        return fixture
    }

    @Test("a gallery of sface and dlib stores one tagged template per engine and finds obama with each engine and with fusion", arguments: StoreBackend.allCases)
    func searchesByEachEngine(backend: StoreBackend) async throws {
        let fixture = try await Self.enrolled(backend)
        defer { fixture.cleanUp() }
        let record = try await fixture.store.gallery(named: "custody")
        #expect(record.engines.map(\.identifier) == ["sface", "dlib"])
        #expect(record.defaultEngine == "sface")
        #expect(record.operatingThreshold == 0.363)
        #expect(record.operatingThreshold(of: "dlib") == 0.6)
        let obama = try await fixture.store.subject(reference: "obama", in: record.id)
        #expect(obama.templates.map(\.modelIdentifier) == ["sface-2021dec", "dlib-resnet-v1"])
        #expect(try await fixture.store.counts(in: record.id) == GalleryCounts(subjects: 2, templates: 4))

        func search(_ engine: String?) async throws -> SearchOutcome {
            try await fixture.operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5,
                    engine: engine),
                by: fixture.searcher)
        }
        let bySFace = try await search(nil)
        #expect(bySFace.engine == "sface")
        #expect(bySFace.candidates.map(\.subjectReference) == ["obama"])
        #expect((bySFace.candidates.first?.score ?? 0) >= 0.363)

        let byDlib = try await search("dlib")
        #expect(byDlib.engine == "dlib")
        #expect(byDlib.threshold == 0.6)
        // The review case records the engine and its direction: a dlib match lies below 0.6.
        let reviewCase = try #require(byDlib.reviewCase)
        #expect(reviewCase.engine == "dlib" && !reviewCase.higherIsMoreAlike)
        #expect(reviewCase.candidates.allSatisfy { reviewCase.meetsThreshold($0.score) })
        #expect(bySFace.reviewCase?.engine == "sface" && bySFace.reviewCase?.higherIsMoreAlike == true)
        // A distance: obama's is below dlib's 0.6, biden's above it (so biden is no candidate).
        #expect(byDlib.candidates.map(\.subjectReference) == ["obama"])
        let obamaDistance = try #require(byDlib.candidates.first?.score)
        #expect(obamaDistance > 0 && obamaDistance < 0.6)
        #expect(byDlib.candidates.first?.engineScores == ["dlib": obamaDistance])
        // The index ranks dlib's templates by dot product; the distance it reports is the exact one.
        let verified = try await fixture.operations.verify(
            SubjectVerificationRequest(
                gallery: "custody", subjectReference: "obama", image: try Support.photo("obama2.jpg"),
                justification: Self.justified, engine: "dlib"),
            by: fixture.searcher)
        #expect(abs(verified.score - obamaDistance) < 1e-4, "search \(obamaDistance), verify \(verified.score)")

        let fused = try await search("fusion")
        #expect(fused.engine == "fusion")
        #expect(fused.candidates.first?.subjectReference == "obama")
        #expect(fused.candidates.first.map { Set($0.engineScores.keys) } == ["sface", "dlib"])
        #expect(!fused.candidates.map(\.subjectReference).contains("biden"))

        // Each search's audit entry names its engine.
        let searches = try await fixture.operations.auditLog.entries().filter { $0.action == .search }
        let engines = searches.compactMap { entry in
            (try? JSONSerialization.jsonObject(with: Data(entry.parameters.utf8)) as? [String: Any])?["engine"] as? String
        }
        #expect(engines == ["sface", "dlib", "fusion"])
    }

    @Test("verification by dlib: obama pairs below 0.6 match, obama-biden above 0.6 does not", arguments: StoreBackend.allCases)
    func verifiesByDlib(backend: StoreBackend) async throws {
        let fixture = try await Self.enrolled(backend)
        defer { fixture.cleanUp() }
        func verify(_ subject: String, _ photo: String, engine: String?) async throws -> VerificationOutcome {
            try await fixture.operations.verify(
                SubjectVerificationRequest(
                    gallery: "custody", subjectReference: subject, image: try Support.photo(photo),
                    justification: Self.justified, engine: engine),
                by: fixture.searcher)
        }
        for photo in ["obama2.jpg", "obama3.jpg"] {
            let same = try await verify("obama", photo, engine: "dlib")
            #expect(same.engine == "dlib")
            #expect(same.score < 0.6 && same.isMatch, "\(photo): distance \(same.score)")
            let fused = try await verify("obama", photo, engine: "fusion")
            #expect(fused.isMatch, "\(photo): fused \(fused.score)")
        }
        let other = try await verify("biden", "obama2.jpg", engine: "dlib")
        #expect(other.score > 0.6 && !other.isMatch, "distance \(other.score)")
        let otherFused = try await verify("biden", "obama2.jpg", engine: "fusion")
        #expect(!otherFused.isMatch, "fused \(otherFused.score)")
        let bySFace = try await verify("biden", "obama2.jpg", engine: nil)
        #expect(bySFace.engine == "sface" && !bySFace.isMatch)
    }

    @Test("an unknown engine is refused with a clear message and changes nothing", arguments: [StoreBackend.sqlite])
    func unknownEngineRefused(backend: StoreBackend) async throws {
        let fixture = try await Self.enrolled(backend)
        defer { fixture.cleanUp() }
        let auditBefore = try await fixture.auditCount()
        let galleriesBefore = try await fixture.store.galleries()

        let refusedCreation = await #expect(throws: OperationError.self) {
            try await fixture.operations.createGallery(
                GalleryDraft(name: "other", purpose: .other, engines: ["sface", "arcface"]), by: fixture.admin)
        }
        #expect(refusedCreation.map { "\($0)" }?.contains("no engine 'arcface' is installed") == true)
        await #expect(throws: OperationError.self) {
            try await fixture.operations.createGallery(
                GalleryDraft(name: "other", purpose: .other, engines: ["dlib"], defaultEngine: "sface"), by: fixture.admin)
        }
        let refusedSearch = await #expect(throws: OperationError.self) {
            try await fixture.operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified,
                    engine: "arcface"),
                by: fixture.searcher)
        }
        #expect(refusedSearch.map { "\($0)" }?.contains("gallery 'custody' has no engine 'arcface'") == true)
        await #expect(throws: OperationError.self) {
            try await fixture.operations.verify(
                SubjectVerificationRequest(
                    gallery: "custody", subjectReference: "obama", image: try Support.photo("obama2.jpg"),
                    justification: Self.justified, engine: "arcface"),
                by: fixture.searcher)
        }
        // A looser dlib threshold than the gallery's (a larger distance) is refused too.
        await #expect(throws: OperationError.self) {
            try await fixture.operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified,
                    threshold: 0.9, engine: "dlib"),
                by: fixture.searcher)
        }
        #expect(try await fixture.auditCount() == auditBefore)
        #expect(try await fixture.store.galleries() == galleriesBefore)
    }

    @Test("a follower node puts dlib templates enrolled elsewhere into its dlib index", arguments: ClusterPropagationTests.Backend.allCases)
    func followerIndexesEveryEngine(backend: ClusterPropagationTests.Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let recognisers = try Support.recognisers.get()
            let a = try await database.node(recognisers: recognisers)
            let b = try await database.node(recognisers: recognisers)
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(
                GalleryDraft(name: "border", purpose: .immigration, engines: ["dlib", "sface"]), by: keys.admin)
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "obama", images: [try Support.photo("obama.jpg")]),
                by: keys.enroller)
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "biden", images: [try Support.photo("biden.jpg")]),
                by: keys.enroller)
            try await b.operations.identification.catchUp()
            let service = b.operations.identification
            #expect(try service.gallery(named: "border").defaultEngine == "dlib")
            #expect(try service.indexedTemplateCount(gallery: "border") == 4)
            let probes = try await service.probeTemplates(imageBytes: try Support.photo("obama3.jpg"), gallery: "border")
            #expect(probes.map(\.modelIdentifier) == ["dlib-resnet-v1"])
            let found = try service.search(gallery: "border", probes: probes, engine: "dlib", k: 5)
            #expect(found.map(\.subjectReference) == ["obama"])
            #expect((found.first?.score ?? 1) < 0.6)
            // With no threshold to speak of, both subjects rank, obama nearer.
            let ranked = try service.search(gallery: "border", probes: probes, engine: "dlib", k: 5, threshold: 10)
            #expect(ranked.map(\.subjectReference) == ["obama", "biden"])
            #expect((ranked.last?.score ?? 0) > 0.6)
        }
    }

    @Test("a gallery of several engines is saved in one snapshot and loads from it with every engine's index")
    func snapshotHoldsEveryEngine() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "engines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appending(path: "biomatch.sqlite")
        let snapshots = folder.appending(path: "indexes")
        let engine = try Support.engine.get()
        let recognisers = try Support.recognisers.get()
        func open(_ recognisers: RecognitionEngineRegistry?) async throws -> GallerySearchService {
            try await GallerySearchService.open(
                store: try SQLiteGalleryStore(location: database), engine: engine, recognisers: recognisers,
                snapshotDirectory: snapshots)
        }
        let service = try await open(recognisers)
        _ = try await service.createGallery(name: "mixed", purpose: .other, engines: ["sface", "dlib"])
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            try await service.enrol(gallery: "mixed", reference: reference, images: [try Support.photo(photo)])
        }
        #expect(await service.writeSnapshots()["mixed"] == .written(revision: 2))
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: snapshots.path))
        #expect(files == ["gallery-1.manifest", "gallery-1-r2-sface.index", "gallery-1-r2-dlib.index"])

        let reopened = try await open(recognisers)
        #expect(reopened.indexReports.map(\.origin) == [.snapshot])
        #expect(try reopened.indexedTemplateCount(gallery: "mixed") == 4)
        let probes = try await reopened.probeTemplates(
            imageBytes: try Support.photo("obama3.jpg"), gallery: "mixed", engine: GallerySearchService.fusion)
        for name in ["sface", "dlib", GallerySearchService.fusion] {
            let found = try reopened.search(gallery: "mixed", probes: probes, engine: name)
            #expect(found.map(\.subjectReference) == ["obama"], "\(name)")
        }
        // A node without dlib loads the SFace index from the same snapshot.
        let sfaceOnly = try await open(nil)
        #expect(sfaceOnly.indexReports.map(\.origin) == [.snapshot])
        #expect(try sfaceOnly.indexedTemplateCount(gallery: "mixed") == 2)
    }

    @Test("with int8 codes only, dlib's distances from the index stay within 0.01 of the exact ones")
    func codesOnlyDistances() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "engines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let service = try await GallerySearchService.open(
            store: try SQLiteGalleryStore(location: folder.appending(path: "biomatch.sqlite")), engine: try Support.engine.get(),
            recognisers: try Support.recognisers.get(), indexEncoding: .int8)
        _ = try await service.createGallery(name: "mixed", purpose: .other, engines: ["dlib"])
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            try await service.enrol(gallery: "mixed", reference: reference, images: [try Support.photo(photo)])
        }
        for photo in ["obama2.jpg", "obama3.jpg"] {
            let probes = try await service.probeTemplates(imageBytes: try Support.photo(photo), gallery: "mixed")
            let ranked = try service.search(gallery: "mixed", probes: probes, k: 2, threshold: 10)
            #expect(ranked.map(\.subjectReference) == ["obama", "biden"], "\(photo)")
            for candidate in ranked {
                let exact = try await service.verify(
                    gallery: "mixed", probes: probes, subjectReference: candidate.subjectReference, threshold: 10)
                #expect(abs(candidate.score - exact.score) < 0.01, "\(photo) \(candidate.subjectReference): \(candidate.score) vs \(exact.score)")
            }
        }
    }

    @Test("two images are compared by the engine named: dlib's distance is below 0.6 for obama's two photos and above it for obama and biden; fusion and unknown engines are refused")
    func imagesComparedByEngine() async throws {
        let fixture = try await Support.fixture(.sqlite, recognisers: try Support.recognisers.get())
        defer { fixture.cleanUp() }
        func compare(_ first: String, _ second: String, engine: String?) async throws -> VerificationOutcome {
            try await fixture.operations.compare(
                ImageComparisonRequest(
                    first: try Support.photo(first), second: try Support.photo(second), justification: Self.justified,
                    engine: engine),
                by: fixture.admin)
        }
        let same = try await compare("obama.jpg", "obama2.jpg", engine: "dlib")
        #expect(same.engine == "dlib" && same.threshold == 0.6)
        #expect(same.score > 0 && same.score < 0.6 && same.isMatch)
        let other = try await compare("obama.jpg", "biden.jpg", engine: "dlib")
        #expect(other.score > 0.6 && !other.isMatch)
        let bySFace = try await compare("obama.jpg", "obama2.jpg", engine: nil)
        #expect(bySFace.engine == "sface" && bySFace.isMatch && bySFace.score >= 0.363)
        let audited = try await fixture.operations.auditLog.entries().filter { $0.action == .compare }.map(\.parameters)
        #expect(audited.filter { $0.contains("\"engine\":\"dlib\"") }.count == 2)
        await #expect(throws: OperationError.self) { try await compare("obama.jpg", "obama2.jpg", engine: "fusion") }
        await #expect(throws: OperationError.self) { try await compare("obama.jpg", "obama2.jpg", engine: "arcface") }
    }
}
