import FaceEngine
import Foundation
@testable import Gallery
import GRDB
import Identification
import Testing

/// A store made before galleries named their engines keeps working after the migration.
@Suite struct EngineMigrationTests {
    static func photo(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: Support.installation.testPhotosDirectory.appending(path: name)))
    }

    @Test("a store of the schema before engines migrates: its gallery holds engine sface, its SFace templates still search")
    func oldStoreMigrates() async throws {
        let database = try Support.temporaryDatabase()
        defer { Support.cleanUp(database) }
        let engine = try Support.engine.get()
        let obama = try #require(try await engine.analyze(imageBytes: try Self.photo("obama.jpg")).first).template

        // The schema as shipped before engines (every earlier migration, as the store ran them)...
        let queue = try DatabaseQueue(path: database.path)
        var migrator = DatabaseMigrator()
        for migration in SQLiteSchema.migrations where migration.identifier != GalleryEngineMigration.identifier {
            migrator.registerMigration(migration.identifier) { db in
                for statement in migration.statements { try db.execute(sql: statement) }
            }
        }
        try migrator.migrate(queue)
        // ...with a gallery and obama's SFace template written in its columns.
        let vector = obama.values.withUnsafeBufferPointer { Data(buffer: $0) }
        try await queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO galleries (name, description, purpose, operating_threshold, model_identifier, created_at_ms, revision)
                    VALUES ('legacy', '', 'custody', 0.363, ?, 1, 1)
                    """, arguments: [engine.templateModelIdentifier])
            try db.execute(
                sql: """
                    INSERT INTO subjects (gallery_id, external_reference, attributes, created_at_ms, updated_at_ms)
                    VALUES (1, 'obama', '{}', 1, 1)
                    """)
            try db.execute(
                sql: """
                    INSERT INTO templates (gallery_id, subject_id, model_identifier, vector, quality, source_image_sha256,
                                           captured_at_ms, enrolled_at_ms)
                    VALUES (1, 1, ?, ?, '{"detectionScore":0.9,"measures":{}}', ?, 1, 1)
                    """, arguments: [engine.templateModelIdentifier, vector, String(repeating: "a", count: 64)])
        }
        try queue.close()

        let store = try SQLiteGalleryStore(location: database)
        let record = try await store.gallery(named: "legacy")
        #expect(record.engines == [GalleryEngine(identifier: "sface", templateModel: "sface-2021dec", templateLength: 128, unitLength: true)])
        #expect(record.defaultEngine == "sface")
        #expect(record.operatingThreshold(of: "sface") == 0.363)
        #expect(try await store.subject(reference: "obama", in: record.id).templates.map(\.vector) == [obama.values])

        let service = try await GallerySearchService.open(store: store, engine: engine)
        let probe = try await service.probeTemplate(imageBytes: try Self.photo("obama2.jpg"))
        let found = try service.search(gallery: "legacy", probes: [probe])
        #expect(found.map(\.subjectReference) == ["obama"])
        #expect(found.first?.engineScores.keys.sorted() == ["sface"])
        try await service.enrol(gallery: "legacy", reference: "biden", images: [try Self.photo("biden.jpg")])
        #expect(try await store.counts(in: record.id) == GalleryCounts(subjects: 2, templates: 2))
        #expect(try service.search(gallery: "legacy", probes: [probe]).map(\.subjectReference) == ["obama"])
    }
}
