import Foundation
import GRDB
import Gallery
import Testing

/// What only the SQLite file can show: commits that outlive a killed process, and erasure that
/// leaves no template bytes behind in the file.
@Suite struct SQLiteDurabilityTests {
    static let templatesPerSubject = 4

    /// The stress tool sits next to the test binary in the build folder.
    static var stressTool: URL {
        URL(filePath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appending(path: "GalleryStressTool")
    }

    @Test func acknowledgedEnrolmentsSurviveSIGKILL() async throws {
        try await withTemporaryDirectory { directory in
            let database = directory.appending(path: "stress.sqlite")
            var acknowledged: [String] = []
            // Three runs into the same file, each killed at a different point of its write loop.
            for run in 0..<3 {
                acknowledged += try await Self.enrolUntilKilled(
                    database: database, label: "run\(run)", acknowledgementsBeforeKill: 20 + 15 * run)
            }
            #expect(acknowledged.count >= 20 + 35 + 50)

            let store = try SQLiteGalleryStore(location: database)
            let gallery = try await store.gallery(named: "stress")
            for reference in acknowledged {
                let subject = try await store.subject(reference: reference, in: gallery.id)
                #expect(subject.templates.count == Self.templatesPerSubject)
            }
            let counts = try await store.counts(in: gallery.id)
            // Commits whose acknowledgement the kill cut off may also be there, but only whole.
            #expect(counts.subjects >= acknowledged.count)
            #expect(counts.subjects <= acknowledged.count + 3)
            #expect(counts.templates == counts.subjects * Self.templatesPerSubject)

            let queue = try DatabaseQueue(path: database.path)
            try await queue.read { db in
                #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                let partial = try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM subjects s
                        WHERE (SELECT COUNT(*) FROM templates t WHERE t.subject_id = s.id) != ?
                        """,
                    arguments: [Self.templatesPerSubject])
                #expect(partial == 0)
                let orphans = try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM templates WHERE subject_id NOT IN (SELECT id FROM subjects)")
                #expect(orphans == 0)
            }
        }
    }

    /// Runs the stress tool, kills it with SIGKILL once it has acknowledged enough enrolments,
    /// and returns every reference it acknowledged.
    static func enrolUntilKilled(
        database: URL, label: String, acknowledgementsBeforeKill: Int
    ) async throws -> [String] {
        let process = Process()
        process.executableURL = stressTool
        process.arguments = [database.path, label, "1000000", "\(templatesPerSubject)"]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let reader = output.fileHandleForReading
        // Blocking reads happen off the cooperative pool.
        let acknowledged: [String] = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var buffer = Data()
                var references: [String] = []
                var killed = false
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...newline)
                        if line.hasPrefix("ack ") { references.append(String(line.dropFirst(4))) }
                    }
                    if !killed && references.count >= acknowledgementsBeforeKill {
                        kill(process.processIdentifier, SIGKILL)
                        killed = true
                    }
                }
                continuation.resume(returning: references)
            }
        }
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(process.terminationStatus == SIGKILL)
        return acknowledged
    }

    @Test func erasedTemplatesLeaveNoBytesInTheFile() async throws {
        try await withTemporaryDirectory { directory in
            let location = directory.appending(path: "erasure.sqlite")
            let store = try SQLiteGalleryStore(location: location)
            var generator = SeededGenerator(seed: 20)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            let kept = try await store.enrol(Fixtures.subject("kept", templates: 2, &generator), in: gallery.id)
            let erased = try await store.enrol(Fixtures.subject("erased", templates: 3, &generator), in: gallery.id)
            try await store.checkpoint()
            let erasedBytes = erased.templates.map { Self.littleEndianBytes($0.vector) }
            let keptBytes = kept.templates.map { Self.littleEndianBytes($0.vector) }
            // Before erasure the vectors are in the file, so the search below can find them.
            let before = try Data(contentsOf: location)
            #expect(erasedBytes.allSatisfy { before.range(of: $0) != nil })

            _ = try await store.deleteSubject(erased.subject.id)
            try await store.checkpoint()

            let after = try Data(contentsOf: location)
            let log = (try? Data(contentsOf: URL(filePath: location.path + "-wal"))) ?? Data()
            #expect(log.isEmpty)
            #expect(erasedBytes.allSatisfy { after.range(of: $0) == nil })
            #expect(keptBytes.allSatisfy { after.range(of: $0) != nil })
        }
    }

    static func littleEndianBytes(_ vector: [Float]) -> Data {
        var data = Data()
        for component in vector {
            withUnsafeBytes(of: component.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    @Test func reopeningAppliesNoMigrationTwiceAndRejectsNewerSchemas() async throws {
        try await withTemporaryDirectory { directory in
            let location = directory.appending(path: "migrations.sqlite")
            var generator = SeededGenerator(seed: 21)
            let first = try SQLiteGalleryStore(location: location)
            let gallery = try await first.createGallery(Fixtures.gallery("custody"))
            let enrolled = try await first.enrol(Fixtures.subject("M-1", templates: 1, &generator), in: gallery.id)

            let reopened = try SQLiteGalleryStore(location: location)
            #expect(try await reopened.subject(enrolled.subject.id) == enrolled)

            // A migration only a newer build knows makes this build refuse the file.
            let queue = try DatabaseQueue(path: location.path)
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('gallery.v99-from-the-future')")
            }
            do {
                _ = try SQLiteGalleryStore(location: location)
                Issue.record("a store migrated by a newer build opened")
            } catch {
                let expected = GalleryError.unknownSchemaMigrations(["gallery.v99-from-the-future"])
                #expect(String(describing: error) == expected.description)
            }
        }
    }
}
