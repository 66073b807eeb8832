import Foundation
@testable import Gallery
import Logging
import PostgresNIO
import PostgresTestSupport
import Synchronization
import Testing

/// The change feed: one entry per committed change, in the change's transaction, at positions
/// given in commit order without gaps.
@Suite struct ChangeFeedTests {
    @Test("every committed change appends its entries, naming gallery, kind, subject, templates and revision", arguments: StoreBackend.allCases)
    func everyChangeIsRecorded(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 7)
            #expect(try await store.changeFeedHead() == .origin)
            let gallery = try await store.createGallery(Fixtures.gallery("feed"))
            let first = try await store.enrol(Fixtures.subject("a", templates: 2, &generator), in: gallery.id)
            let batch = try await store.enrolAll(
                [Fixtures.subject("b", templates: 1, &generator), Fixtures.subject("c", templates: 3, &generator)],
                in: gallery.id, companion: nil)
            let added = try await store.addTemplates([Fixtures.template(&generator)], to: first.subject.id)
            _ = try await store.setOperatingThreshold(0.4, of: gallery.id)
            let erasure = try await store.deleteSubject(first.subject.id)
            _ = try await store.deleteGallery(gallery.id)

            let entries = try await store.changes(after: .origin, limit: 100)
            #expect(entries.map(\.position.rawValue) == Array(1...8))
            #expect(try await store.changeFeedHead() == ChangeFeedPosition(8))
            #expect(entries.allSatisfy { $0.gallery == gallery.id })
            #expect(
                entries.map(\.kind) == [
                    .galleryCreated, .subjectEnrolled, .subjectEnrolled, .subjectEnrolled, .templatesAdded,
                    .thresholdChanged, .subjectErased, .galleryDeleted,
                ])
            #expect(entries.map(\.subject) == [nil, first.subject.id, batch[0].subject.id, batch[1].subject.id,
                first.subject.id, nil, first.subject.id, nil])
            #expect(entries[1].templates == first.templates.map(\.id))
            #expect(entries[3].templates == batch[1].templates.map(\.id))
            #expect(entries[4].templates == added.map(\.id))
            #expect(entries[6].templates == erasure.templateIDs)
            // The gallery's revision once each change committed; one enrolAll shares one.
            #expect(entries.map(\.galleryRevision) == [0, 1, 2, 2, 3, 3, 4, nil])
            // Reading on from a position returns what follows it, bounded by the limit.
            #expect(try await store.changes(after: ChangeFeedPosition(5), limit: 2).map(\.position.rawValue) == [6, 7])
        }
    }

    @Test("a refused or rolled-back change appends nothing", arguments: StoreBackend.allCases)
    func rollbackAppendsNothing(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 8)
            let gallery = try await store.createGallery(Fixtures.gallery("feed"))
            _ = try await store.enrol(Fixtures.subject("a", templates: 1, &generator), in: gallery.id)
            let head = try await store.changeFeedHead()
            await expectFailure(.duplicateExternalReference("a", gallery: gallery.id)) { () async throws(GalleryError) in
                try await store.enrolAll(
                    [Fixtures.subject("z", templates: 1, &generator), Fixtures.subject("a", templates: 1, &generator)],
                    in: gallery.id, companion: nil)
            }
            // A companion record that fails rolls the change back, feed entry included.
            let failing = CompanionRecord(table: "no_such_table", sequenceColumn: "sequence") { _ in ["x": .integer(1)] }
            do {
                _ = try await store.enrol(Fixtures.subject("y", templates: 1, &generator), in: gallery.id, companion: failing)
                Issue.record("an enrolment with a failing companion record succeeded")
            } catch {}
            #expect(try await store.changeFeedHead() == head)
            #expect(try await store.changes(after: head, limit: 10).isEmpty)
            // The next change takes the next position: no gap was left behind.
            _ = try await store.enrol(Fixtures.subject("x", templates: 1, &generator), in: gallery.id)
            #expect(try await store.changes(after: head, limit: 10).map(\.position) == [ChangeFeedPosition(head.rawValue + 1)])
        }
    }

    @Test("the vectors and subjects a follower reads by identifier, only those that still exist")
    func readsByIdentifier() async throws {
        for backend in StoreBackend.allCases {
            try await backend.withStore { store in
                var generator = SeededGenerator(seed: 9)
                let gallery = try await store.createGallery(Fixtures.gallery("feed"))
                let a = try await store.enrol(Fixtures.subject("a", templates: 2, &generator), in: gallery.id)
                let b = try await store.enrol(Fixtures.subject("b", templates: 1, &generator), in: gallery.id)
                _ = try await store.deleteSubject(a.subject.id)
                let ids = (a.templates + b.templates).map(\.id)
                let batch = try await store.templateVectors(ids)
                #expect(batch.templateIDs == b.templates.map(\.id))
                #expect(batch.subjectIDs == [b.subject.id])
                #expect(batch.vectors == b.templates[0].vector)
                #expect(try await store.subjectRecords([a.subject.id, b.subject.id]) == [b.subject])
                #expect(try await store.subjectRecords([]).isEmpty)
            }
        }
    }

    @Test("under concurrent writers through two store instances, positions are gap-free and a reader following the feed misses none", arguments: StoreBackend.allCases)
    func concurrentWritersCommitInPositionOrder(backend: StoreBackend) async throws {
        try await withTwoInstances(of: backend) { first, second in
            let galleries = [
                try await first.createGallery(Fixtures.gallery("one")), try await first.createGallery(Fixtures.gallery("two")),
            ]
            let perWriter = 60
            let done = SharedCount()
            let (seen, enrolled) = try await withThrowingTaskGroup(of: ([ChangeFeedEntry], [SubjectRecord.ID]).self) { group in
                for (writer, store) in [first, second].enumerated() {
                    group.addTask {
                        var generator = SeededGenerator(seed: UInt64(100 + writer))
                        var subjects: [SubjectRecord.ID] = []
                        for number in 0..<perWriter {
                            // Both writers use both galleries, so their transactions overlap.
                            let gallery = galleries[(number + writer) % 2]
                            let subject = Fixtures.subject("w\(writer)-\(number)", templates: 1, &generator)
                            subjects.append(try await store.enrol(subject, in: gallery.id).subject.id)
                        }
                        done.add()
                        return ([], subjects)
                    }
                }
                // A follower reading on from the last position it saw, while the writers commit:
                // an entry committed behind its cursor would be skipped for ever.
                group.addTask {
                    var cursor = ChangeFeedPosition.origin
                    var seen: [ChangeFeedEntry] = []
                    while true {
                        let finished = done.value == 2
                        let entries = try await first.changes(after: cursor, limit: 1000)
                        seen += entries
                        cursor = entries.last?.position ?? cursor
                        if finished && entries.isEmpty { break }
                        if entries.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
                    }
                    return (seen, [])
                }
                var seen: [ChangeFeedEntry] = []
                var enrolled: [SubjectRecord.ID] = []
                for try await (entries, subjects) in group {
                    seen += entries
                    enrolled += subjects
                }
                return (seen, enrolled)
            }
            let head = try await first.changeFeedHead()
            #expect(head.rawValue == Int64(2 + 2 * perWriter))
            #expect(seen.map(\.position.rawValue) == Array(1...head.rawValue))
            #expect(Set(seen.compactMap(\.subject)) == Set(enrolled))
            // Per gallery, the revisions recorded follow the positions: one more each time.
            for gallery in galleries {
                let revisions = seen.filter { $0.gallery == gallery.id && $0.kind == .subjectEnrolled }.compactMap(\.galleryRevision)
                #expect(revisions == Array(1...Int64(perWriter)))
            }
        }
    }

    @Test("PostgreSQL wakes a listener once listening has started and again when a change commits")
    func postgresNotifies() async throws {
        try await StoreBackend.postgresql.withStore { store in
            let notifying = try #require(store as? any ChangeNotifyingStore)
            let wakeUps = SharedCount()
            let listener = Task {
                try await notifying.listenForChanges { wakeUps.add() }
            }
            defer { listener.cancel() }
            // The first wake-up says listening has started.
            try await waitUntil { wakeUps.value >= 1 }
            _ = try await store.createGallery(Fixtures.gallery("notified"))
            try await waitUntil { wakeUps.value >= 2 }
        }
    }
}

/// A counter tasks share.
final class SharedCount: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}

/// Polls `condition` every 10 ms for up to 10 s.
func waitUntil(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("the condition did not hold within 10 s", sourceLocation: sourceLocation)
}

/// Two store instances on one database: two SQLite connections pools on one file, or two
/// PostgreSQL clients on one database (as two nodes have).
func withTwoInstances(
    of backend: StoreBackend, _ body: (any GalleryStore, any GalleryStore) async throws -> Void
) async throws {
    switch backend {
    case .sqlite:
        try await withTemporaryDirectory { directory in
            let location = directory.appending(path: "gallery.sqlite")
            let first = try SQLiteGalleryStore(location: location)
            let second = try SQLiteGalleryStore(location: location)
            try await body(first, second)
        }
    case .postgresql:
        try await TestPostgresServer.withDatabase { configuration in
            try await PostgresGalleryStore.withStore(configuration: configuration) { first in
                try await PostgresGalleryStore.withStore(configuration: configuration) { second in
                    try await body(first, second)
                }
            }
        }
    }
}
