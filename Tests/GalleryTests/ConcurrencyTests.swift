import Foundation
import Gallery
import Synchronization
import Testing

/// Many writers, erasers and readers at once: nobody ever sees a half-written subject.
@Suite struct ConcurrencyTests {
    /// What the concurrent tasks share.
    final class Progress: Sendable {
        let writersDone = Atomic<Int>(0)
        let erased = Mutex<Set<SubjectRecord.ID>>([])
        let observations = Atomic<Int>(0)
    }

    static let writers = 4
    static let subjectsPerWriter = 12
    static let templatesPerSubject = 3

    @Test(arguments: StoreBackend.allCases)
    func readersNeverSeeHalfWrittenSubjects(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let gallery = try await store.createGallery(Fixtures.gallery("busy"))
            let progress = Progress()

            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<Self.writers {
                    group.addTask {
                        var generator = SeededGenerator(seed: 1000 + UInt64(writer))
                        for index in 0..<Self.subjectsPerWriter {
                            let enrolled = try await store.enrol(
                                Fixtures.subject(
                                    "W\(writer)-\(index)", templates: Self.templatesPerSubject, &generator),
                                in: gallery.id)
                            #expect(enrolled.templates.count == Self.templatesPerSubject)
                        }
                        progress.writersDone.add(1, ordering: .sequentiallyConsistent)
                    }
                }
                // The eraser removes every third subject it finds while the writers run.
                group.addTask {
                    var finishedPasses = 0
                    while finishedPasses < 2 {
                        if progress.writersDone.load(ordering: .sequentiallyConsistent) == Self.writers { finishedPasses += 1 }
                        let page = try await store.subjects(in: gallery.id, after: nil, limit: 1000)
                        for subject in page.subjects where subject.id.rawValue % 3 == 0 {
                            if progress.erased.withLock({ $0.contains(subject.id) }) { continue }
                            let receipt = try await store.deleteSubject(subject.id)
                            #expect(receipt.templateIDs.count == Self.templatesPerSubject)
                            progress.erased.withLock { _ = $0.insert(subject.id) }
                        }
                        await Task.yield()
                    }
                }
                for _ in 0..<3 {
                    group.addTask {
                        while progress.writersDone.load(ordering: .sequentiallyConsistent) < Self.writers {
                            try await Self.inspect(store, gallery: gallery.id)
                            progress.observations.add(1, ordering: .relaxed)
                        }
                    }
                }
                try await group.waitForAll()
            }

            let erasedCount = progress.erased.withLock { $0.count }
            let total = Self.writers * Self.subjectsPerWriter
            #expect(erasedCount > 0)
            #expect(progress.observations.load(ordering: .relaxed) > 0)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(
                subjects: total - erasedCount, templates: (total - erasedCount) * Self.templatesPerSubject))
            try await Self.inspect(store, gallery: gallery.id)
        }
    }

    /// Reads the gallery three ways and checks each view is whole.
    static func inspect(_ store: any GalleryStore, gallery: GalleryRecord.ID) async throws {
        let counts = try await store.counts(in: gallery)
        #expect(counts.templates == counts.subjects * templatesPerSubject)

        // One batch is one snapshot: every subject in it has all its templates.
        var perSubject: [SubjectRecord.ID: Int] = [:]
        let batch = try await store.templateVectors(in: gallery, after: nil, limit: 10_000)
        for subject in batch.subjectIDs { perSubject[subject, default: 0] += 1 }
        #expect(perSubject.values.allSatisfy { $0 == templatesPerSubject })

        let page = try await store.subjects(in: gallery, after: nil, limit: 1000)
        for subject in page.subjects.suffix(4) {
            switch await outcome({ () async throws(GalleryError) in try await store.subject(subject.id) }) {
            case .success(let whole):
                #expect(whole.templates.count == templatesPerSubject)
            case .failure(.unknownSubject):
                break  // Erased since the page was read: gone entirely, which is allowed.
            case .failure(let error):
                throw error
            }
        }
    }
}
