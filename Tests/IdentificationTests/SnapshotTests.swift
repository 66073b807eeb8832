import FaceEngine
import Foundation
import Gallery
import GRDB
import Identification
import Testing

/// A database file, its snapshot folder, and the probes and searches the tests compare.
private struct SnapshotBench {
    let database: URL
    var snapshots: URL { database.deletingLastPathComponent().appending(path: "indexes", directoryHint: .isDirectory) }

    init() throws { database = try Support.temporaryDatabase() }

    func cleanUp() { Support.cleanUp(database) }

    /// Opens the service on a fresh store of the database, with or without the snapshot folder.
    func open(
        snapshots useSnapshots: Bool = true, encoding: IndexEncoding = .default
    ) async throws -> (GallerySearchService, SQLiteGalleryStore) {
        let store = try SQLiteGalleryStore(location: database)
        let service = try await GallerySearchService.open(
            store: store, engine: try Support.engine.get(), snapshotDirectory: useSnapshots ? snapshots : nil,
            indexEncoding: encoding)
        return (service, store)
    }

    /// Creates gallery "orl" with photo 1 of every person (groups a and b), writes its snapshot
    /// and closes the store, as a server does on shutdown.
    func enrolAndClose() async throws {
        let (service, store) = try await open()
        _ = try await service.createGallery(name: "orl", purpose: .custody)
        for person in Support.people {
            try await service.enrol(
                gallery: "orl", reference: Support.reference(person), attributes: ["group": person <= 5 ? "a" : "b"],
                images: [try Support.orl(person, 1)])
        }
        let outcomes = await service.writeSnapshots()
        #expect(outcomes == ["orl": .written(revision: Int64(Support.people.count))])
        store.close()
    }

    /// Every person's photo 3 searched against everyone, and group b alone.
    func searches(_ service: GallerySearchService, people: [Int] = Support.people) async throws -> [[Candidate]] {
        var results: [[Candidate]] = []
        for person in people {
            let probe = try await service.probeTemplate(imageBytes: try Support.orl(person, 3))
            results.append(try service.search(gallery: "orl", probes: [probe], k: 20, threshold: -1))
            results.append(
                try service.search(gallery: "orl", probes: [probe], k: 20, threshold: -1, attributeFilter: ["group": "b"]))
        }
        return results
    }

    func files() throws -> [String] {
        guard FileManager.default.fileExists(atPath: snapshots.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: snapshots.path).sorted()
    }
}

@Suite("Gallery index snapshots: loaded when fresh, rebuilt otherwise, never stale")
struct SnapshotTests {
    @Test("a snapshot written at close is loaded on reopen and gives the same results as a rebuild")
    func loadedWhenFresh() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        #expect(try bench.files() == ["gallery-1-r10.index", "gallery-1.manifest"])

        let (loaded, loadedStore) = try await bench.open()
        defer { loadedStore.close() }
        #expect(loaded.indexReports.map(\.origin) == [.snapshot])
        #expect(loaded.indexReports.map(\.templates) == [Support.people.count])
        #expect(loaded.indexReports.map(\.gallery) == ["orl"])
        // Nothing changed since the load, so shutting down rewrites nothing.
        #expect(await loaded.writeSnapshots() == ["orl": .upToDate(revision: 10)])

        let (rebuilt, rebuiltStore) = try await bench.open(snapshots: false)
        defer { rebuiltStore.close() }
        #expect(rebuilt.indexReports.map(\.origin) == [.rebuilt(.snapshotsDisabled)])
        let fromSnapshot = try await bench.searches(loaded)
        #expect(fromSnapshot == (try await bench.searches(rebuilt)))
        #expect(fromSnapshot[0].first?.subjectReference == Support.reference(1))
        #expect(fromSnapshot[1].allSatisfy { ["orl-s6", "orl-s7", "orl-s8", "orl-s9", "orl-s10"].contains($0.subjectReference) })
        #expect(fromSnapshot[1].count == 5)
    }

    @Test("changes by another writer are caught up from the change feed, without a rebuild, and the snapshot replaced")
    func staleAfterForeignChanges() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()

        // Another process, without snapshots: enrols person 11 and erases person 3.
        let (other, otherStore) = try await bench.open(snapshots: false)
        try await other.enrol(gallery: "orl", reference: Support.reference(11), attributes: ["group": "b"], images: [try Support.orl(11, 1)])
        try await other.deleteSubject(gallery: "orl", reference: Support.reference(3))
        otherStore.close()
        #expect(try bench.files() == ["gallery-1-r10.index", "gallery-1.manifest"])

        let (reopened, reopenedStore) = try await bench.open()
        #expect(reopened.indexReports.map(\.origin) == [.caughtUp(snapshotRevision: 10, storeRevision: 12)])
        #expect(reopened.indexReports.map(\.templates) == [10])
        #expect(reopened.indexReports.map(\.snapshotProblem) == [nil])
        // The old pair (which held the erased subject) was replaced by one for the store's revision.
        #expect(try bench.files() == ["gallery-1-r12.index", "gallery-1.manifest"])
        let people = Support.people.filter { $0 != 3 } + [11]
        let afterRebuild = try await bench.searches(reopened, people: people + [3])
        #expect(afterRebuild.allSatisfy { !$0.contains { $0.subjectReference == Support.reference(3) } })
        #expect(afterRebuild[2 * (people.count - 1)].first?.subjectReference == Support.reference(11))
        reopenedStore.close()

        let (again, againStore) = try await bench.open()
        defer { againStore.close() }
        #expect(again.indexReports.map(\.origin) == [.snapshot])
        #expect(try await bench.searches(again, people: people + [3]) == afterRebuild)
    }

    @Test("changes the change feed cannot account for (entries missing, at the end or in between) make the snapshot rebuilt", arguments: [false, true])
    func feedMissingChanges(missingInBetween: Bool) async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        let (other, otherStore) = try await bench.open(snapshots: false)
        try await other.enrol(gallery: "orl", reference: Support.reference(11), attributes: ["group": "b"], images: [try Support.orl(11, 1)])
        try await other.deleteSubject(gallery: "orl", reference: Support.reference(3))
        otherStore.close()
        // As if a writer without the feed (or a pruned feed) had made the changes: entries 12
        // (person 11) and 13 (the erasure), or only 12, are gone.
        let database = try DatabaseQueue(path: bench.database.path)
        try await database.write { db in
            try db.execute(sql: "DELETE FROM gallery_changes WHERE position = 12 OR (position = 13 AND ?)", arguments: [!missingInBetween])
        }
        try database.close()

        let (reopened, store) = try await bench.open()
        defer { store.close() }
        #expect(reopened.indexReports.map(\.origin) == [.rebuilt(.feedIncomplete(indexRevision: 10, storeRevision: 12))])
        #expect(try reopened.indexedTemplateCount(gallery: "orl") == 10)
        let people = Support.people.filter { $0 != 3 } + [11]
        let results = try await bench.searches(reopened, people: people + [3])
        #expect(results.allSatisfy { !$0.contains { $0.subjectReference == Support.reference(3) } })
        #expect(results[2 * (people.count - 1)].first?.subjectReference == Support.reference(11))
    }

    @Test("an erased subject never comes back after a restart; its gallery's snapshot goes at once")
    func erasureIsNotResurrected() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        let erased = Support.reference(3)

        // Erased, then the process dies without writing snapshots.
        let (service, store) = try await bench.open()
        #expect(service.indexReports.map(\.origin) == [.snapshot])
        try await service.deleteSubject(gallery: "orl", reference: erased)
        #expect(try bench.files() == [])
        store.close()

        let (restarted, restartedStore) = try await bench.open()
        #expect(restarted.indexReports.map(\.origin) == [.rebuilt(.missing)])
        #expect(try restarted.indexedTemplateCount(gallery: "orl") == 9)
        // Another erasure, and this time a graceful close: the snapshot written is compacted.
        try await restarted.deleteSubject(gallery: "orl", reference: Support.reference(4))
        #expect(await restarted.writeSnapshots() == ["orl": .written(revision: 12)])
        restartedStore.close()

        let (loaded, loadedStore) = try await bench.open()
        defer { loadedStore.close() }
        #expect(loaded.indexReports.map(\.origin) == [.snapshot])
        #expect(try loaded.indexedTemplateCount(gallery: "orl") == 8)
        for results in try await bench.searches(loaded) {
            #expect(!results.contains { [erased, Support.reference(4)].contains($0.subjectReference) })
        }
    }

    /// Ways a snapshot on disk can be unusable.
    enum Damage: String, CaseIterable, Sendable {
        case flippedIndexByte, truncatedIndex, truncatedManifest, flippedSubjectByte, newerManifestVersion, missingIndex
    }

    @Test("a damaged, truncated or foreign-format snapshot is rebuilt, still correct, and rewritten", arguments: Damage.allCases)
    func damagedSnapshot(_ damage: Damage) async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        let index = bench.snapshots.appending(path: "gallery-1-r10.index")
        let manifest = bench.snapshots.appending(path: "gallery-1.manifest")
        switch damage {
        case .flippedIndexByte: try flipByte(in: index, fromEnd: 1000)
        case .truncatedIndex: try truncate(index, by: 4096)
        case .truncatedManifest: try truncate(manifest, by: 10)
        case .flippedSubjectByte: try flipByte(in: manifest, fromEnd: 5)
        case .newerManifestVersion:
            var bytes = try Data(contentsOf: manifest)
            bytes[8] = 3
            try bytes.write(to: manifest)
        case .missingIndex: try FileManager.default.removeItem(at: index)
        }

        let (reopened, store) = try await bench.open()
        defer { store.close() }
        guard case .rebuilt(.unusable(let reason)) = reopened.indexReports.first?.origin else {
            Issue.record("origin \(String(describing: reopened.indexReports.first?.origin))")
            return
        }
        #expect(!reason.isEmpty)
        #expect(reopened.indexReports.map(\.snapshotProblem) == [nil])
        let (rebuilt, rebuiltStore) = try await bench.open(snapshots: false)
        defer { rebuiltStore.close() }
        #expect(try await bench.searches(reopened) == (try await bench.searches(rebuilt)))
        // The rebuild wrote a good snapshot again.
        let (loaded, loadedStore) = try await bench.open()
        defer { loadedStore.close() }
        #expect(loaded.indexReports.map(\.origin) == [.snapshot])
    }

    @Test("a codes-only (int8) service rebuilds from a snapshot of the other encoding, then loads its own; results stay within the quantisation bound")
    func codesOnlyEncoding() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()

        let (codes, codesStore) = try await bench.open(encoding: .int8)
        #expect(codes.indexEncoding == .int8)
        guard case .rebuilt(.unusable(let reason)) = codes.indexReports.first?.origin else {
            Issue.record("origin \(String(describing: codes.indexReports.first?.origin))")
            return
        }
        #expect(reason.contains("int8Rerank") && reason.contains("int8"))
        let codesResults = try await bench.searches(codes)
        codesStore.close()

        let (reloaded, reloadedStore) = try await bench.open(encoding: .int8)
        defer { reloadedStore.close() }
        #expect(reloaded.indexReports.map(\.origin) == [.snapshot])
        #expect(try await bench.searches(reloaded) == codesResults)

        let (exact, exactStore) = try await bench.open(snapshots: false)
        defer { exactStore.close() }
        let exactResults = try await bench.searches(exact)
        #expect(codesResults.count == exactResults.count)
        for (approximate, precise) in zip(codesResults, exactResults) {
            // Same subjects found (k covers the whole gallery or its group b), scores within the bound.
            #expect(Set(approximate.map(\.subjectReference)) == Set(precise.map(\.subjectReference)))
            #expect(approximate.first?.subjectReference == precise.first?.subjectReference)
            let exactScores = Dictionary(uniqueKeysWithValues: precise.map { ($0.subjectReference, $0.score) })
            for candidate in approximate {
                #expect(abs(candidate.score - (exactScores[candidate.subjectReference] ?? 9)) < 0.02)
            }
        }
    }

    @Test("a snapshot written after another writer changed the gallery reflects the change (the service catches up first)")
    func writtenAfterCatchingUp() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        let (service, store) = try await bench.open()
        #expect(service.indexReports.map(\.origin) == [.snapshot])
        let (other, otherStore) = try await bench.open(snapshots: false)
        try await other.deleteSubject(gallery: "orl", reference: Support.reference(5))
        otherStore.close()
        #expect(await service.writeSnapshots() == ["orl": .written(revision: 11)])
        #expect(try service.indexedTemplateCount(gallery: "orl") == 9)
        store.close()
        let (loaded, loadedStore) = try await bench.open()
        defer { loadedStore.close() }
        #expect(loaded.indexReports.map(\.origin) == [.snapshot])
        for results in try await bench.searches(loaded) {
            #expect(!results.contains { $0.subjectReference == Support.reference(5) })
        }
    }

    @Test("deleting a gallery removes its snapshot; snapshots of galleries gone from the store are removed at open")
    func galleryDeletion() async throws {
        let bench = try SnapshotBench()
        defer { bench.cleanUp() }
        try await bench.enrolAndClose()
        let (service, store) = try await bench.open()
        _ = try await service.createGallery(name: "second", purpose: .watchlist)
        try await service.enrol(gallery: "second", reference: "x", images: [try Support.orl(20, 1)])
        #expect(await service.writeSnapshots() == ["orl": .upToDate(revision: 10), "second": .written(revision: 1)])
        #expect(try bench.files() == ["gallery-1-r10.index", "gallery-1.manifest", "gallery-2-r1.index", "gallery-2.manifest"])
        try await service.deleteGallery("orl")
        #expect(try bench.files() == ["gallery-2-r1.index", "gallery-2.manifest"])
        store.close()

        // Deleted by a service without snapshots: the next open with them removes the leftovers.
        let (other, otherStore) = try await bench.open(snapshots: false)
        try await other.deleteGallery("second")
        otherStore.close()
        let (reopened, reopenedStore) = try await bench.open()
        defer { reopenedStore.close() }
        #expect(reopened.galleryNames.isEmpty)
        #expect(try bench.files() == [])
    }
}

private func flipByte(in file: URL, fromEnd offset: Int) throws {
    var bytes = try Data(contentsOf: file)
    bytes[bytes.count - offset] ^= 0x5A
    try bytes.write(to: file)
}

private func truncate(_ file: URL, by count: Int) throws {
    let bytes = try Data(contentsOf: file)
    try bytes.prefix(bytes.count - count).write(to: file)
}
