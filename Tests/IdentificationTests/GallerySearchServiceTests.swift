import FaceEngine
import Foundation
import Gallery
import Identification
import Imaging
import Testing

@Suite("GallerySearchService on a real SQLite file, real models and ORL photos")
struct GallerySearchServiceTests {
    @Test("photo 1 enrolled, photo 2 searched: every person is the rank-1 candidate")
    func rankOneIdentification() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        #expect(try service.indexedTemplateCount(gallery: "orl") == Support.people.count)
        for person in Support.people {
            let probe = try await service.probeTemplate(imageBytes: try Support.orl(person, 2))
            let candidates = try service.search(gallery: "orl", probes: [probe], k: 3, threshold: -1)
            #expect(candidates.first?.subjectReference == Support.reference(person), "person \(person): \(candidates)")
            #expect(candidates.map(\.rank) == Array(1...candidates.count))
            #expect(zip(candidates, candidates.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }

    @Test("the operating threshold and attribute filter limit the candidates")
    func thresholdAndFilter() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        let probe = try await service.probeTemplate(imageBytes: try Support.orl(2, 2))
        let defaults = try service.search(gallery: "orl", probes: [probe], k: 10)
        let threshold = GalleryRecord.defaultOperatingThreshold
        #expect(defaults.allSatisfy { $0.score >= threshold })
        #expect(defaults.first?.subjectReference == Support.reference(2))
        let everyone = try service.search(gallery: "orl", probes: [probe], k: 10, threshold: -1)
        #expect(everyone.count == Support.people.count)
        let groupB = try service.search(
            gallery: "orl", probes: [probe], k: 10, threshold: -1, attributeFilter: ["group": "b"])
        #expect(Set(groupB.map(\.subjectReference)) == Set((6...10).map(Support.reference)))
    }

    @Test("a deleted subject is never returned again, and leaves the store")
    func deletion() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        let erased = Support.reference(3)
        let erasure = try await service.deleteSubject(gallery: "orl", reference: erased)
        #expect(erasure.templateIDs.count == 1)
        let gallery = try await service.store.gallery(named: "orl")
        #expect(try await service.store.counts(in: gallery.id) == GalleryCounts(subjects: 9, templates: 9))
        #expect(try service.indexedTemplateCount(gallery: "orl") == 9)
        for photo in 1...3 {
            let probe = try await service.probeTemplate(imageBytes: try Support.orl(3, photo))
            let candidates = try service.search(gallery: "orl", probes: [probe], k: 10, threshold: -1)
            #expect(candidates.count == 9)
            #expect(!candidates.contains { $0.subjectReference == erased })
        }
        await #expect(throws: IdentificationError.self) {
            try await service.deleteSubject(gallery: "orl", reference: erased)
        }
        // A reopened service rebuilds from the store and does not bring the subject back.
        let reopened = try await GallerySearchService.open(
            store: try SQLiteGalleryStore(location: database), engine: try Support.engine.get())
        let probe = try await service.probeTemplate(imageBytes: try Support.orl(3, 1))
        let candidates = try reopened.search(gallery: "orl", probes: [probe], k: 10, threshold: -1)
        #expect(!candidates.contains { $0.subjectReference == erased })
    }

    @Test("no face, unreadable bytes and a duplicate reference are refused and change nothing")
    func refusals() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        let gallery = try await service.store.gallery(named: "orl")
        let before = try await service.store.counts(in: gallery.id)

        let grey = try RGBImage(
            width: 160, height: 160, pixels: [UInt8](repeating: 128, count: 160 * 160 * 3)).pngData()
        let valid = try Support.orl(20, 1)
        let attempts: [(reference: String, images: [[UInt8]], expected: EnrolmentRefusal)] = [
            ("grey", [grey], .image(index: 0, reason: .noFace)),
            ("valid-then-grey", [valid, grey], .image(index: 1, reason: .noFace)),
            ("none", [], .noImages),
            (Support.reference(1), [valid], .duplicateReference(Support.reference(1))),
        ]
        for attempt in attempts {
            do {
                try await service.enrol(gallery: "orl", reference: attempt.reference, images: attempt.images)
                Issue.record("\(attempt.reference) was enrolled")
            } catch let IdentificationError.refused(refusal) {
                #expect(refusal == attempt.expected)
            }
        }
        do {
            try await service.enrol(gallery: "orl", reference: "garbage", images: [Array("not an image".utf8)])
            Issue.record("garbage bytes were enrolled")
        } catch let IdentificationError.refused(.image(index, reason)) {
            #expect(index == 0)
            guard case .unreadable = reason else { Issue.record("refused as \(reason)"); return }
        }
        await #expect(throws: IdentificationError.self) {
            try await service.enrol(gallery: "no-such-gallery", reference: "x", images: [valid])
        }
        #expect(try await service.store.counts(in: gallery.id) == before)
        #expect(try service.indexedTemplateCount(gallery: "orl") == before.templates)
    }

    @Test("an index rebuilt from the store on reopen gives the same results")
    func rebuildOnReopen() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        let reopened = try await GallerySearchService.open(
            store: try SQLiteGalleryStore(location: database), engine: try Support.engine.get())
        #expect(reopened.galleryNames == ["orl"])
        #expect(try reopened.indexedTemplateCount(gallery: "orl") == Support.people.count)
        for person in [1, 4, 7, 10] {
            let probe = try await service.probeTemplate(imageBytes: try Support.orl(person, 3))
            let original = try service.search(gallery: "orl", probes: [probe], k: 10, threshold: -1)
            let rebuilt = try reopened.search(gallery: "orl", probes: [probe], k: 10, threshold: -1)
            #expect(original == rebuilt)
            #expect(original.count == Support.people.count)
        }
    }

    @Test("verification: genuine pairs match, impostor pairs do not")
    func verification() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let service = try await Support.enrolledService(database: database)
        for person in Support.people {
            let probe = try await service.probeTemplate(imageBytes: try Support.orl(person, 2))
            let genuine = try await service.verify(
                gallery: "orl", template: probe, subjectReference: Support.reference(person))
            let impostorPerson = person % Support.people.count + 1
            let impostor = try await service.verify(
                gallery: "orl", template: probe, subjectReference: Support.reference(impostorPerson))
            #expect(genuine.isMatch, "person \(person): genuine score \(genuine.score)")
            #expect(!impostor.isMatch, "person \(person) vs \(impostorPerson): impostor score \(impostor.score)")
            #expect(genuine.score > impostor.score)
            #expect(genuine.threshold == GalleryRecord.defaultOperatingThreshold)
        }
    }
}
