import Foundation
import GRDB
@testable import Gallery
import Logging
import PostgresNIO
import PostgresTestSupport
import Testing

/// Gallery revisions: what tells a saved index whether it is still fresh.
@Suite struct RevisionTests {
    @Test("every committed change to a gallery's subjects or templates adds one to its revision, and nothing else does", arguments: StoreBackend.allCases)
    func revisionCountsChanges(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 41)
            let gallery = try await store.createGallery(Fixtures.gallery("revisions"))
            let other = try await store.createGallery(Fixtures.gallery("untouched"))
            #expect(try await store.revision(of: gallery.id) == 0)

            let first = try await store.enrol(Fixtures.subject("a", templates: 2, &generator), in: gallery.id)
            #expect(try await store.revision(of: gallery.id) == 1)
            _ = try await store.enrolAll(
                [Fixtures.subject("b", templates: 1, &generator), Fixtures.subject("c", templates: 1, &generator)],
                in: gallery.id, companion: nil)
            #expect(try await store.revision(of: gallery.id) == 2)
            _ = try await store.addTemplates([Fixtures.template(&generator)], to: first.subject.id)
            #expect(try await store.revision(of: gallery.id) == 3)
            _ = try await store.deleteSubject(first.subject.id)
            #expect(try await store.revision(of: gallery.id) == 4)

            // Refused or unchanged: no new revision.
            await expectFailure(.duplicateExternalReference("b", gallery: gallery.id)) { () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject("b", templates: 1, &generator), in: gallery.id)
            }
            await expectFailure(.unknownSubject(first.subject.id)) { () async throws(GalleryError) in
                try await store.deleteSubject(first.subject.id)
            }
            _ = try await store.enrolAll([], in: gallery.id, companion: nil)
            _ = try await store.setOperatingThreshold(0.5, of: gallery.id)
            #expect(try await store.revision(of: gallery.id) == 4)
            #expect(try await store.revision(of: other.id) == 0)

            _ = try await store.deleteGallery(gallery.id)
            await expectFailure(.unknownGallery(gallery.id)) { () async throws(GalleryError) in
                try await store.revision(of: gallery.id)
            }
        }
    }

    @Test("a database made before the revision migration opens, migrates, and keeps working", arguments: StoreBackend.allCases)
    func legacyDatabaseMigrates(backend: StoreBackend) async throws {
        switch backend {
        case .sqlite:
            try await withTemporaryDirectory { directory in
                let location = directory.appending(path: "legacy.sqlite")
                // The database as the build before the migration left it: version 1 only.
                let legacy = try DatabaseQueue(path: location.path)
                var migrator = DatabaseMigrator()
                migrator.registerMigration(SQLiteSchema.version1.identifier) { db in
                    for statement in SQLiteSchema.version1.statements { try db.execute(sql: statement) }
                }
                try migrator.migrate(legacy)
                try await legacy.write { db in
                    for statement in Self.legacyRows(vector: "zeroblob(\(TemplateFormat.byteCount))") { try db.execute(sql: statement) }
                }
                try legacy.close()
                let store = try SQLiteGalleryStore(location: location)
                defer { store.close() }
                try await expectWorking(store)
            }
        case .postgresql:
            try await TestPostgresServer.withDatabase { configuration in
                let logger = Logger(label: "biomatch.gallery.tests")
                let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    await Task.yield()
                    try await client.withConnection { connection in
                        try await connection.query(
                            "CREATE TABLE schema_migrations (identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                            logger: logger)
                        for statement in PostgresSchema.version1.statements
                            + Self.legacyRows(vector: "decode(repeat('00', \(TemplateFormat.byteCount)), 'hex')")
                        {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO schema_migrations (identifier) VALUES (\(PostgresSchema.version1.identifier))", logger: logger)
                    }
                    let store = try await PostgresGalleryStore.open(client: client, logger: logger)
                    try await expectWorking(store)
                }
            }
        }
    }

    /// One gallery with one subject and one template, inserted as the old build stored them.
    private static func legacyRows(vector: String) -> [String] {
        [
            """
            INSERT INTO galleries (name, description, purpose, retention_days, operating_threshold, model_identifier, created_at_ms)
            VALUES ('legacy', 'made before revisions', 'custody', NULL, 0.363, '\(Fixtures.model)', 1700000000000)
            """,
            """
            INSERT INTO subjects (gallery_id, external_reference, attributes, created_at_ms, updated_at_ms, retain_until_ms)
            VALUES (1, 'old-subject', '{"site":"north"}', 1700000000000, 1700000000000, NULL)
            """,
            """
            INSERT INTO templates (gallery_id, subject_id, model_identifier, vector, quality, source_image_sha256, captured_at_ms, enrolled_at_ms)
            VALUES (1, 1, '\(Fixtures.model)', \(vector), '{"detectionScore":0.9,"measures":{}}', '\(String(repeating: "ab", count: 32))', 1700000000000, 1700000000000)
            """,
        ]
    }

    private func expectWorking(_ store: any GalleryStore) async throws {
        let gallery = try await store.gallery(named: "legacy")
        #expect(try await store.revision(of: gallery.id) == 0)
        let old = try await store.subject(reference: "old-subject", in: gallery.id)
        #expect(old.subject.attributes == ["site": "north"])
        #expect(old.templates.count == 1)
        #expect(try await store.templateVectors(in: gallery.id, after: nil, limit: 10).count == 1)
        var generator = SeededGenerator(seed: 7)
        _ = try await store.enrol(Fixtures.subject("new-subject", templates: 1, &generator), in: gallery.id)
        #expect(try await store.revision(of: gallery.id) == 1)
        _ = try await store.deleteSubject(old.subject.id)
        #expect(try await store.revision(of: gallery.id) == 2)
        #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 1))
    }
}
