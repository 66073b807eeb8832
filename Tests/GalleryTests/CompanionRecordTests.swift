import Foundation
import Gallery
import Testing

/// The hook the audit log will use: a row appended in the same transaction as a change.
@Suite struct CompanionRecordTests {
    /// A journal shaped like an audit chain: each row names the kind of the row before it.
    static func journal(for backend: StoreBackend) -> SchemaMigration {
        let blob = backend == .sqlite ? "BLOB" : "bytea"
        return SchemaMigration(
            identifier: "tests.v1-journal",
            statements: [
                """
                CREATE TABLE test_journal (
                    sequence BIGINT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    subject_id BIGINT,
                    previous_kind TEXT,
                    weight DOUBLE PRECISION,
                    payload \(blob)
                )
                """
            ])
    }

    /// Describes each change in a row chained to the previous one.
    static let chained = CompanionRecord(table: "test_journal", sequenceColumn: "sequence") { context in
        var sequence: Int64 = 1
        var previousKind = StoreValue.null
        if let previous = context.previousRow {
            guard case .integer(let last)? = previous["sequence"] else { throw JournalError.malformedPrevious }
            sequence = last + 1
            previousKind = previous["kind"] ?? .null
        }
        var subject = StoreValue.null
        let kind: String
        switch context.change {
        case .subjectEnrolled(let enrolled)?:
            kind = "subjectEnrolled"
            subject = .integer(enrolled.subject.id.rawValue)
        case .subjectDeleted(let erasure)?:
            kind = "subjectDeleted"
            subject = .integer(erasure.subject.id.rawValue)
        case .templatesAdded(let subjectRecord, _)?:
            kind = "templatesAdded"
            subject = .integer(subjectRecord.id.rawValue)
        case .thresholdChanged(_, let previous)?:
            kind = "thresholdChanged from \(previous)"
        case .galleryCreated?:
            kind = "galleryCreated"
        case .galleryDeleted?:
            kind = "galleryDeleted"
        case .galleryReconfigured?:
            kind = "galleryReconfigured"
        case nil:
            kind = "search"
        }
        return [
            "sequence": .integer(sequence), "kind": .text(kind), "subject_id": subject,
            "previous_kind": previousKind, "weight": .real(Double(sequence) / 3),
            "payload": .blob(Data([0, 1, 2, UInt8(sequence)])),
        ]
    }

    enum JournalError: Error { case malformedPrevious, refused }

    static func journalRows(_ store: any GalleryStore) async throws -> [StoreRow] {
        try await store.records(in: "test_journal", orderedBy: "sequence", after: nil, limit: 1000)
    }

    @Test(arguments: StoreBackend.allCases)
    func recordsCommitWithTheirChanges(backend: StoreBackend) async throws {
        try await backend.withStore(additionalMigrations: [Self.journal(for: backend)]) { store in
            var generator = SeededGenerator(seed: 10)
            let gallery = try await store.createGallery(Fixtures.gallery("audited"), companion: Self.chained)
            let enrolled = try await store.enrol(
                Fixtures.subject("R-1", templates: 2, &generator), in: gallery.id, companion: Self.chained)
            _ = try await store.setOperatingThreshold(0.5, of: gallery.id, companion: Self.chained)
            try await store.appendRecord(Self.chained)
            _ = try await store.addTemplates([Fixtures.template(&generator)], to: enrolled.subject.id, companion: Self.chained)
            _ = try await store.deleteSubject(enrolled.subject.id, companion: Self.chained)

            let rows = try await Self.journalRows(store)
            #expect(rows.map { $0["kind"] } == [
                .text("galleryCreated"), .text("subjectEnrolled"), .text("thresholdChanged from 0.363"), .text("search"),
                .text("templatesAdded"), .text("subjectDeleted"),
            ])
            #expect(rows.map { $0["sequence"] } == (1...6).map { .integer($0) })
            #expect(rows.map { $0["previous_kind"] } == [.null] + rows.dropLast().map { $0["kind"] })
            #expect(rows[1]["subject_id"] == .integer(enrolled.subject.id.rawValue))
            #expect(rows[0]["subject_id"] == .null)
            #expect(rows[4]["weight"] == .real(5.0 / 3))
            #expect(rows[4]["payload"] == .blob(Data([0, 1, 2, 5])))
            #expect(try await store.records(in: "test_journal", orderedBy: "sequence", after: 4, limit: 10).count == 2)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func aFailingRecordRollsBackItsChange(backend: StoreBackend) async throws {
        try await backend.withStore(additionalMigrations: [Self.journal(for: backend)]) { store in
            var generator = SeededGenerator(seed: 11)
            let gallery = try await store.createGallery(Fixtures.gallery("audited"), companion: Self.chained)
            let refusing = CompanionRecord(table: "test_journal", sequenceColumn: "sequence") { _ in
                throw JournalError.refused
            }
            let refusal = await failure { () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject("R-1", templates: 2, &generator), in: gallery.id, companion: refusing)
            }
            guard case .companionRecordFailed(let table, let underlying)? = refusal else {
                Issue.record("expected companionRecordFailed, got \(String(describing: refusal))")
                return
            }
            #expect(table == "test_journal")
            #expect(underlying is JournalError)

            // A row the table rejects (a repeated primary key) also undoes the change.
            let repeating = CompanionRecord(table: "test_journal", sequenceColumn: "sequence") { _ in
                ["sequence": .integer(1), "kind": .text("again")]
            }
            let rejection = await failure { () async throws(GalleryError) in
                try await store.setOperatingThreshold(0.7, of: gallery.id, companion: repeating)
            }
            guard case .companionRecordFailed? = rejection else {
                Issue.record("expected companionRecordFailed, got \(String(describing: rejection))")
                return
            }
            let unsafeName = CompanionRecord(table: "test_journal; DROP TABLE subjects", sequenceColumn: "sequence") { _ in
                [:]
            }
            await expectFailure(
                .invalidInput(
                    field: "companion table",
                    reason: "'test_journal; DROP TABLE subjects' is not a plain lower-case SQL identifier")
            ) { () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject("R-2", templates: 1, &generator), in: gallery.id, companion: unsafeName)
            }

            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 0, templates: 0))
            #expect(try await store.gallery(gallery.id).operatingThreshold == GalleryRecord.defaultOperatingThreshold)
            #expect(try await Self.journalRows(store).map { $0["kind"] } == [.text("galleryCreated")])
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func recordsAppendedTogetherCommitTogether(backend: StoreBackend) async throws {
        try await backend.withStore(additionalMigrations: [Self.journal(for: backend)]) { store in
            // The second record sees the first, uncommitted, in the same transaction.
            try await store.appendRecords([Self.chained, Self.chained])
            let refusing = CompanionRecord(table: "test_journal", sequenceColumn: "sequence") { _ in
                throw JournalError.refused
            }
            let refusal = await failure { () async throws(GalleryError) in
                try await store.appendRecords([Self.chained, Self.chained, refusing])
            }
            guard case .companionRecordFailed? = refusal else {
                Issue.record("expected companionRecordFailed, got \(String(describing: refusal))")
                return
            }
            try await store.appendRecords([])
            let rows = try await Self.journalRows(store)
            #expect(rows.map { $0["sequence"] } == [.integer(1), .integer(2)])
            #expect(rows.map { $0["previous_kind"] } == [.null, .text("search")])
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentAppendersFormOneChain(backend: StoreBackend) async throws {
        try await backend.withStore(additionalMigrations: [Self.journal(for: backend)]) { store in
            let gallery = try await store.createGallery(Fixtures.gallery("audited"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        var generator = SeededGenerator(seed: 100 + UInt64(index))
                        _ = try await store.enrol(
                            Fixtures.subject("C-\(index)", templates: 1, &generator), in: gallery.id,
                            companion: Self.chained)
                    }
                }
                for index in 0..<4 {
                    group.addTask {
                        _ = index
                        try await store.appendRecord(Self.chained)
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await Self.journalRows(store)
            // No gaps and no repeats: every appender saw its predecessor's committed row.
            #expect(rows.map { $0["sequence"] } == (1...20).map { .integer($0) })
            #expect(rows.map { $0["previous_kind"] } == [.null] + rows.dropLast().map { $0["kind"] })
            #expect(rows.filter { $0["kind"] == .text("search") }.count == 4)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 16, templates: 16))
        }
    }
}
