import Foundation
import Gallery
import Testing

/// `enrolAll`: many subjects in one transaction, all or none, on both stores.
@Suite struct BatchEnrolmentTests {
    @Test(arguments: StoreBackend.allCases)
    func aBatchCommitsWhole(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 3)
            let gallery = try await store.createGallery(Fixtures.gallery("bulk"))
            let subjects = (0..<50).map { Fixtures.subject("BULK-\($0)", templates: 1 + $0 % 3, &generator) }
            let enrolled = try await store.enrolAll(subjects, in: gallery.id, companion: nil)
            #expect(enrolled.map(\.subject.externalReference) == subjects.map(\.externalReference))
            #expect(enrolled.map(\.templates.count) == subjects.map(\.templates.count))
            for (stored, new) in zip(enrolled, subjects) {
                let read = try await store.subject(stored.subject.id)
                #expect(read.templates.map(\.vector) == new.templates.map(\.vector))
            }
            let templateCount = subjects.map(\.templates.count).reduce(0, +)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 50, templates: templateCount))
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func aDuplicateInsideTheBatchStoresNothing(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 4)
            let gallery = try await store.createGallery(Fixtures.gallery("bulk"))
            var subjects = (0..<10).map { Fixtures.subject("BULK-\($0)", templates: 1, &generator) }
            subjects.append(Fixtures.subject("BULK-3", templates: 1, &generator))
            await expectFailure(.duplicateExternalReference("BULK-3", gallery: gallery.id)) { () async throws(GalleryError) in
                _ = try await store.enrolAll(subjects, in: gallery.id, companion: nil)
            }
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 0, templates: 0))
        }
    }
}
