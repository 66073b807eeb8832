import Foundation
@testable import Gallery
import GRDB
import PostgresNIO
import PostgresTestSupport
import Testing

/// Galleries that name their engines: templates checked against their engine's entry, and stores
/// made before engines existed migrated without loss. Both stores run every test.
@Suite struct GalleryEngineTests {
    static let sface = GalleryEngine(identifier: "sface", templateModel: "sface-2021dec", templateLength: 128, unitLength: true)
    static let dlib = GalleryEngine(
        identifier: "dlib", templateModel: "dlib-resnet-v1", templateLength: 128, unitLength: false, operatingThreshold: 0.6)

    /// A raw (not unit-length) vector of norm `norm`, as a Euclidean engine makes.
    static func rawVector(_ generator: inout SeededGenerator, norm: Float) -> [Float] {
        Fixtures.unitVector(&generator).map { $0 * norm }
    }

    @Test("a gallery of two engines stores each engine's tagged template, checked against that engine", arguments: StoreBackend.allCases)
    func templatesPerEngine(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 13)
            let gallery = try await store.createGallery(
                NewGallery(
                    name: "mixed", purpose: .custody, operatingThreshold: 0.363, engines: [Self.sface, Self.dlib],
                    defaultEngine: "sface"))
            #expect(gallery.engines == [Self.sface, Self.dlib])
            #expect(gallery.defaultEngine == "sface")
            #expect(gallery.modelIdentifier == "sface-2021dec")
            #expect(try await store.gallery(named: "mixed") == gallery)

            var dlibTemplate = Fixtures.template(&generator, model: "dlib-resnet-v1")
            dlibTemplate.vector = Self.rawVector(&generator, norm: 0.62)
            let enrolled = try await store.enrol(
                NewSubject(externalReference: "a", templates: [Fixtures.template(&generator), dlibTemplate]), in: gallery.id)
            #expect(enrolled.templates.map(\.modelIdentifier) == ["sface-2021dec", "dlib-resnet-v1"])
            #expect(enrolled.templates[1].vector == dlibTemplate.vector)
            let batch = try await store.templateVectors(enrolled.templates.map(\.id))
            #expect(batch.modelIdentifiers == ["sface-2021dec", "dlib-resnet-v1"])
            #expect(Array(batch.vector(at: 1)) == dlibTemplate.vector)
            let walked = try await store.templateVectors(in: gallery.id, after: nil, limit: 10)
            #expect(walked.modelIdentifiers == ["sface-2021dec", "dlib-resnet-v1"])
            let feed = try await store.changes(after: .origin, limit: 10)
            #expect(feed.last?.templates == enrolled.templates.map(\.id))

            // A unit-length engine refuses a raw vector; an engine the gallery lacks is refused.
            var rawSFace = Fixtures.template(&generator)
            rawSFace.vector = Self.rawVector(&generator, norm: 0.62)
            let rawNorm = rawSFace.vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            await expectFailure(.templateNotNormalised(norm: rawNorm)) {
                () async throws(GalleryError) in
                try await store.addTemplates([rawSFace], to: enrolled.subject.id)
            }
            let foreign = Fixtures.template(&generator, model: "arcface-r100")
            await expectFailure(.wrongModelIdentifier(expected: "sface-2021dec or dlib-resnet-v1", actual: "arcface-r100")) {
                () async throws(GalleryError) in
                try await store.addTemplates([foreign], to: enrolled.subject.id)
            }
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 2))

            // Engine lists are checked before anything is stored.
            await expectFailure(.invalidInput(field: "defaultEngine", reason: "'sface' is not one of the gallery's engines (dlib)")) {
                () async throws(GalleryError) in
                try await store.createGallery(
                    NewGallery(name: "x", purpose: .other, operatingThreshold: 0.6, engines: [Self.dlib], defaultEngine: "sface"))
            }
            await expectFailure(.invalidInput(field: "engines", reason: "'dlib' is named twice")) {
                () async throws(GalleryError) in
                try await store.createGallery(
                    NewGallery(name: "x", purpose: .other, operatingThreshold: 0.6, engines: [Self.dlib, Self.dlib], defaultEngine: "dlib"))
            }
            var long = Self.dlib
            long.templateLength = 512
            await expectFailure(
                .invalidInput(field: "engines", reason: "'dlib' makes 512-value templates; the store holds 128-value vectors")
            ) {
                () async throws(GalleryError) in
                try await store.createGallery(
                    NewGallery(name: "x", purpose: .other, operatingThreshold: 0.6, engines: [long], defaultEngine: "dlib"))
            }
            #expect(try await store.galleries().map(\.name) == ["mixed"])
        }
    }

    @Test("a store made with the schema before engines migrates: its gallery holds engine sface, its templates are untouched", arguments: StoreBackend.allCases)
    func oldSchemaMigrates(backend: StoreBackend) async throws {
        var generator = SeededGenerator(seed: 2026)
        let vector = Fixtures.unitVector(&generator)
        let blob = vector.withUnsafeBufferPointer { Data(buffer: $0) }
        let digest = String(repeating: "b", count: 64)
        let earlier = { (migrations: [SchemaMigration]) in
            migrations.filter { $0.identifier != GalleryEngineMigration.identifier }
        }
        // The rows as the store wrote them before engines existed.
        let rows = [
            """
            INSERT INTO galleries (name, description, purpose, operating_threshold, model_identifier, created_at_ms, revision)
            VALUES ('legacy', '', 'custody', 0.4, 'sface-2021dec', 1700000000000, 1)
            """,
            """
            INSERT INTO subjects (gallery_id, external_reference, attributes, created_at_ms, updated_at_ms)
            VALUES (1, 'subject-1', '{}', 1700000000000, 1700000000000)
            """,
        ]
        let template = """
            INSERT INTO templates (gallery_id, subject_id, model_identifier, vector, quality, source_image_sha256,
                                   captured_at_ms, enrolled_at_ms)
            """

        func check(_ store: any GalleryStore) async throws {
            let gallery = try await store.gallery(named: "legacy")
            #expect(gallery.engines == [Self.sface])
            #expect(gallery.defaultEngine == "sface")
            #expect(gallery.operatingThreshold == 0.4)
            #expect(gallery.operatingThreshold(of: "sface") == 0.4)
            let subject = try await store.subject(reference: "subject-1", in: gallery.id)
            #expect(subject.templates.map(\.vector) == [vector])
            #expect(subject.templates.map(\.modelIdentifier) == ["sface-2021dec"])
            #expect(try await store.revision(of: gallery.id) == 1)
            _ = try await store.enrol(Fixtures.subject("subject-2", templates: 1, &generator), in: gallery.id)
            let dlibTemplate = Fixtures.template(&generator, model: "dlib-resnet-v1")
            await expectFailure(.wrongModelIdentifier(expected: "sface-2021dec", actual: "dlib-resnet-v1")) {
                () async throws(GalleryError) in
                try await store.addTemplates([dlibTemplate], to: subject.subject.id)
            }
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 2, templates: 2))
        }

        switch backend {
        case .sqlite:
            try await withTemporaryDirectory { directory in
                let file = directory.appending(path: "gallery.sqlite")
                let queue = try DatabaseQueue(path: file.path)
                var migrator = DatabaseMigrator()
                for migration in earlier(SQLiteSchema.migrations) {
                    migrator.registerMigration(migration.identifier) { db in
                        for statement in migration.statements { try db.execute(sql: statement) }
                    }
                }
                try migrator.migrate(queue)
                try await queue.write { db in
                    for row in rows { try db.execute(sql: row) }
                    try db.execute(
                        sql: template + " VALUES (1, 1, 'sface-2021dec', ?, '{\"detectionScore\":0.9,\"measures\":{}}', ?, 1, 1)",
                        arguments: [blob, digest])
                }
                try queue.close()
                try await check(try SQLiteGalleryStore(location: file))
            }
        case .postgresql:
            try await TestPostgresServer.withDatabase { configuration in
                let client = PostgresClient(configuration: configuration)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    await Task.yield()
                    try await client.query(
                        "CREATE TABLE schema_migrations (identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                    for migration in earlier(PostgresSchema.migrations) {
                        for statement in migration.statements { try await client.query(PostgresQuery(unsafeSQL: statement)) }
                        try await client.query("INSERT INTO schema_migrations (identifier) VALUES (\(migration.identifier))")
                    }
                    for row in rows { try await client.query(PostgresQuery(unsafeSQL: row)) }
                    try await client.query(
                        PostgresQuery(
                            unsafeSQL: template + " VALUES (1, 1, 'sface-2021dec', $1, "
                                + "'{\"detectionScore\":0.9,\"measures\":{}}', $2, 1, 1)",
                            binds: try {
                                var binds = PostgresBindings()
                                try binds.append(blob)
                                binds.append(digest)
                                return binds
                            }()))
                    try await check(try await PostgresGalleryStore.open(client: client))
                }
            }
        }
    }
}
