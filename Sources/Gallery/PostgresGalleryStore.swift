import Foundation
import Logging
import PostgresNIO

/// A ``GalleryStore`` in a PostgreSQL database, through PostgresNIO connection pools.
///
/// Opened on a ``PostgresLocation`` (one or more hosts: ``open(location:additionalMigrations:settings:logger:)``),
/// every transaction goes to the primary, which a ``PostgresPrimaryLocator`` finds and follows
/// across failovers; call ``close()`` when done. Opened on a caller's `PostgresClient`
/// (``open(client:additionalMigrations:logger:)``), the caller runs and shuts down that client,
/// and ``withStore(configuration:additionalMigrations:logger:_:)`` does both for a scoped use.
/// While no primary is reachable, operations throw ``GalleryError/unavailable(retryAfterSeconds:reason:)``;
/// a change whose connection failed during its commit throws ``GalleryError/outcomeUnknown(operation:retryAfterSeconds:)``.
/// Writes run in READ COMMITTED transactions that lock the rows they depend on;
/// reads run in REPEATABLE READ, READ ONLY transactions so they see one snapshot. A change to a
/// gallery's subjects or templates updates the gallery's revision first, so such changes to one
/// gallery commit one after another, and every writer locks the gallery row before a subject row.
public final class PostgresGalleryStore: GalleryStore {
    /// Finds the primary and runs each transaction on it.
    public let primary: PostgresPrimaryLocator
    let logger: Logger

    private init(primary: PostgresPrimaryLocator, logger: Logger) {
        self.primary = primary
        self.logger = logger
    }

    /// Applies the store's migrations, then `additionalMigrations`, and returns the store. The
    /// client must be running. Concurrent openers wait for each other (advisory lock).
    public static func open(
        client: PostgresClient, additionalMigrations: [SchemaMigration] = [],
        logger: Logger = Logger(label: "biomatch.gallery.postgres")
    ) async throws(GalleryError) -> PostgresGalleryStore {
        try await open(primary: PostgresPrimaryLocator(client: client, logger: logger), additionalMigrations, logger)
    }

    /// Connects to the primary among `location`'s hosts, applies the store's migrations, then
    /// `additionalMigrations`, and returns the store; ``close()`` shuts its connections down.
    /// Throws ``GalleryError/unavailable(retryAfterSeconds:reason:)`` when no host is primary.
    public static func open(
        location: PostgresLocation, additionalMigrations: [SchemaMigration] = [],
        settings: PostgresPrimaryLocator.Settings = .init(),
        logger: Logger = Logger(label: "biomatch.gallery.postgres")
    ) async throws(GalleryError) -> PostgresGalleryStore {
        let locator = PostgresPrimaryLocator(location: location, settings: settings, logger: logger)
        do {
            return try await open(primary: locator, additionalMigrations, logger)
        } catch {
            await locator.close()
            throw error
        }
    }

    private static func open(
        primary: PostgresPrimaryLocator, _ additionalMigrations: [SchemaMigration], _ logger: Logger
    ) async throws(GalleryError) -> PostgresGalleryStore {
        try SQLIdentifier.validate(additionalMigrations)
        let store = PostgresGalleryStore(primary: primary, logger: logger)
        try await store.migrate(PostgresSchema.migrations + additionalMigrations)
        return store
    }

    /// Shuts down the connections the store opened itself (none for a store on a caller's client).
    public func close() async {
        await primary.close()
    }

    /// Runs a client for `configuration` while `body` uses a store on it, then shuts the client down.
    public static func withStore<Result: Sendable>(
        configuration: PostgresClient.Configuration, additionalMigrations: [SchemaMigration] = [],
        logger: Logger = Logger(label: "biomatch.gallery.postgres"),
        _ body: (PostgresGalleryStore) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Lets run() start first; leasing before it would only log a warning and queue.
            await Task.yield()
            let store = try await open(client: client, additionalMigrations: additionalMigrations, logger: logger)
            return try await body(store)
        }
    }

    // MARK: - Migrations

    /// Serialises migrations across processes; the value spells "biomatch".
    private static let migrationLockKey: Int64 = 0x6269_6F6D_6174_6368

    private func migrate(_ migrations: [SchemaMigration]) async throws(GalleryError) {
        try await write("migrating the schema") { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    identifier text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied = Set<String>()
            for try await identifier in try await connection.query(
                "SELECT identifier FROM schema_migrations", logger: logger
            ).decode(String.self) {
                applied.insert(identifier)
            }
            let known = Set(migrations.map(\.identifier))
            let unknown = applied.filter { $0.hasPrefix(SchemaMigration.reservedPrefix) && !known.contains($0) }
            if !unknown.isEmpty {
                throw GalleryError.unknownSchemaMigrations(unknown.sorted())
            }
            for migration in migrations where !applied.contains(migration.identifier) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (identifier) VALUES (\(migration.identifier))", logger: logger)
            }
        }
    }

    // MARK: - Transactions

    /// Runs `body` in one transaction on the primary; GalleryErrors thrown inside pass through,
    /// others are wrapped (see ``PostgresPrimaryLocator`` for a lost primary and an unknown outcome).
    private func write<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(GalleryError) -> T {
        let logger = self.logger
        return try await primary.transaction(operation, readOnly: false, logger: logger) { connection in
            try await body(connection, logger)
        }
    }

    /// Runs `body` in a read-only transaction on one snapshot.
    private func read<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(GalleryError) -> T {
        let logger = self.logger
        return try await primary.transaction(operation, readOnly: true, logger: logger) { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            return try await body(connection, logger)
        }
    }

    /// True when `error` is PostgreSQL's unique violation of `constraint`.
    private static func violates(_ constraint: String, _ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let info = error.serverInfo else { return false }
        return info[.sqlState] == "23505" && info[.constraintName] == constraint
    }

    // MARK: - Galleries

    public func createGallery(_ gallery: NewGallery, companion: CompanionRecord?) async throws(GalleryError) -> GalleryRecord {
        try InputValidation.validate(gallery)
        if let companion { try SQLIdentifier.validate(companion) }
        let createdAt = StorageEncoding.milliseconds(Date())
        return try await write("creating a gallery") { connection, logger in
            if try await Self.fetchGallery(connection, logger, named: gallery.name) != nil {
                throw GalleryError.duplicateGalleryName(gallery.name)
            }
            let id: Int64
            let engines = try GalleryEngineMigration.encode(gallery.engines)
            let settings = try GallerySettingsMigration.encode(gallery.settings)
            do {
                id = try await Self.single(
                    Int64.self,
                    connection.query(
                        """
                        INSERT INTO galleries
                            (name, description, purpose, retention_days, operating_threshold, model_identifier,
                             created_at_ms, engines, default_engine, settings)
                        VALUES (\(gallery.name), \(gallery.description), \(gallery.purpose.rawValue),
                                \(gallery.retention.days.map { Int64($0) }), \(gallery.operatingThreshold),
                                \(gallery.modelIdentifier), \(createdAt), \(engines), \(gallery.defaultEngine), \(settings))
                        RETURNING id
                        """, logger: logger))
            } catch where Self.violates("galleries_name_unique", error) {
                throw GalleryError.duplicateGalleryName(gallery.name)
            }
            let record = GalleryRecord(
                id: .init(id), name: gallery.name, description: gallery.description, purpose: gallery.purpose,
                retention: gallery.retention, operatingThreshold: gallery.operatingThreshold,
                modelIdentifier: gallery.modelIdentifier, createdAt: StorageEncoding.date(milliseconds: createdAt),
                engines: gallery.engines, defaultEngine: gallery.defaultEngine, settings: gallery.settings)
            try await Self.append(companion, change: .galleryCreated(record), connection, logger)
            try await Self.recordChanges([PendingChange(.galleryCreated(record))], connection, logger)
            return record
        }
    }

    public func galleries() async throws(GalleryError) -> [GalleryRecord] {
        try await read("listing galleries") { connection, logger in
            var galleries: [GalleryRecord] = []
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(PostgresSchema.galleryColumns) FROM galleries ORDER BY id"),
                logger: logger)
            {
                galleries.append(try Self.galleryRecord(row))
            }
            return galleries
        }
    }

    public func gallery(_ id: GalleryRecord.ID) async throws(GalleryError) -> GalleryRecord {
        try await read("reading a gallery") { connection, logger in
            try await Self.requireGallery(connection, logger, id)
        }
    }

    public func gallery(named name: String) async throws(GalleryError) -> GalleryRecord {
        try await read("reading a gallery") { connection, logger in
            guard let gallery = try await Self.fetchGallery(connection, logger, named: name) else {
                throw GalleryError.unknownGalleryName(name)
            }
            return gallery
        }
    }

    public func setOperatingThreshold(
        _ threshold: Float, of gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> GalleryRecord {
        try InputValidation.validate(threshold: threshold)
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("setting a threshold") { connection, logger in
            var record = try await Self.requireGallery(connection, logger, gallery, lock: "FOR UPDATE")
            let previous = record.operatingThreshold
            try await connection.query(
                "UPDATE galleries SET operating_threshold = \(threshold) WHERE id = \(gallery.rawValue)",
                logger: logger)
            record.operatingThreshold = threshold
            let change = GalleryChange.thresholdChanged(record, previousThreshold: previous)
            try await Self.append(companion, change: change, connection, logger)
            try await Self.recordChanges([PendingChange(change)], connection, logger)
            return record
        }
    }

    public func reconfigureGallery(
        _ id: GalleryRecord.ID, _ change: GalleryReconfiguration, companion: CompanionRecord?
    ) async throws(GalleryError) -> GalleryReconfigurationReceipt {
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("reconfiguring a gallery") { connection, logger in
            let current = try await Self.requireGallery(connection, logger, id, lock: "FOR UPDATE")
            let updated = try current.reconfigured(by: change)
            var removed = 0
            if case let .dropEngine(identifier) = change, let entry = current.engine(named: identifier) {
                let rows = try await connection.query(
                    """
                    DELETE FROM templates WHERE gallery_id = \(id.rawValue) AND model_identifier = \(entry.templateModel)
                    RETURNING 1
                    """, logger: logger
                ).collect()
                removed = rows.count
            }
            let engines = try GalleryEngineMigration.encode(updated.engines)
            let settings = try GallerySettingsMigration.encode(updated.settings)
            try await connection.query(
                "UPDATE galleries SET engines = \(engines), settings = \(settings) WHERE id = \(id.rawValue)", logger: logger)
            if change.changesEngines { try await Self.bumpRevision(of: id, connection, logger) }
            let receipt = GalleryReconfigurationReceipt(gallery: updated, change: change, removedTemplates: removed)
            try await Self.append(companion, change: .galleryReconfigured(receipt), connection, logger)
            try await Self.recordChanges([PendingChange(.galleryReconfigured(receipt))], connection, logger)
            return receipt
        }
    }

    public func deleteGallery(_ id: GalleryRecord.ID, companion: CompanionRecord?) async throws(GalleryError) -> GalleryErasure {
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("deleting a gallery") { connection, logger in
            let gallery = try await Self.requireGallery(connection, logger, id, lock: "FOR UPDATE")
            let counts = try await Self.counts(connection, logger, id)
            // The foreign keys cascade to subjects and templates.
            try await connection.query("DELETE FROM galleries WHERE id = \(id.rawValue)", logger: logger)
            let erasure = GalleryErasure(gallery: gallery, counts: counts)
            try await Self.append(companion, change: .galleryDeleted(erasure), connection, logger)
            try await Self.recordChanges([PendingChange(.galleryDeleted(erasure))], connection, logger)
            return erasure
        }
    }

    // MARK: - Subjects and templates

    public func enrol(
        _ subject: NewSubject, in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> EnrolledSubject {
        let enrolled = try await enrolAll([subject], in: gallery, companion: companion)
        return enrolled[0]
    }

    public func enrolAll(
        _ subjects: [NewSubject], in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [EnrolledSubject] {
        for subject in subjects { try InputValidation.validate(subject) }
        if let companion { try SQLIdentifier.validate(companion) }
        let encoded = try subjects.map { subject throws(GalleryError) in try StorageEncoding.json(subject.attributes) }
        let now = StorageEncoding.milliseconds(Date())
        return try await write(subjects.count == 1 ? "enrolling a subject" : "enrolling \(subjects.count) subjects") { connection, logger in
            // Counting the change locks the gallery row until commit, which keeps the gallery from
            // being deleted under the enrolment (FOR SHARE does that when nothing is enrolled).
            if !subjects.isEmpty { try await Self.bumpRevision(of: gallery, connection, logger) }
            let galleryRecord = try await Self.requireGallery(
                connection, logger, gallery, lock: subjects.isEmpty ? "FOR SHARE" : "")
            var enrolled: [EnrolledSubject] = []
            enrolled.reserveCapacity(subjects.count)
            for (subject, attributes) in zip(subjects, encoded) {
                try InputValidation.checkModels(of: subject.templates, against: galleryRecord)
                let duplicates = try await connection.query(
                    """
                    SELECT id FROM subjects
                    WHERE gallery_id = \(gallery.rawValue) AND external_reference = \(subject.externalReference)
                    """, logger: logger
                ).collect()
                if !duplicates.isEmpty {
                    throw GalleryError.duplicateExternalReference(subject.externalReference, gallery: gallery)
                }
                let retainUntil = subject.retainUntil.map(StorageEncoding.milliseconds)
                let id: Int64
                do {
                    id = try await Self.single(
                        Int64.self,
                        connection.query(
                            """
                            INSERT INTO subjects
                                (gallery_id, external_reference, attributes, created_at_ms, updated_at_ms, retain_until_ms)
                            VALUES (\(gallery.rawValue), \(subject.externalReference), \(attributes), \(now), \(now),
                                    \(retainUntil))
                            RETURNING id
                            """, logger: logger))
                } catch where Self.violates("subjects_reference_unique", error) {
                    throw GalleryError.duplicateExternalReference(subject.externalReference, gallery: gallery)
                }
                let record = SubjectRecord(
                    id: .init(id), galleryID: gallery, externalReference: subject.externalReference,
                    attributes: subject.attributes, createdAt: StorageEncoding.date(milliseconds: now),
                    updatedAt: StorageEncoding.date(milliseconds: now),
                    retainUntil: retainUntil.map(StorageEncoding.date(milliseconds:)))
                let templates = try await Self.insert(subject.templates, for: record, enrolledAt: now, connection, logger)
                let subjectEnrolled = EnrolledSubject(subject: record, templates: templates)
                try await Self.append(companion, change: .subjectEnrolled(subjectEnrolled), connection, logger)
                enrolled.append(subjectEnrolled)
            }
            try await Self.recordChanges(enrolled.map { PendingChange(.subjectEnrolled($0)) }, connection, logger)
            return enrolled
        }
    }

    public func addTemplates(
        _ templates: [NewTemplate], to subject: SubjectRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [TemplateRecord] {
        try InputValidation.validate(templates)
        if let companion { try SQLIdentifier.validate(companion) }
        let now = StorageEncoding.milliseconds(Date())
        return try await write("adding templates") { connection, logger in
            // The gallery row first, then the subject (the order every writer takes them in, so
            // none deadlock); locking the subject orders this against a concurrent erasure of it.
            try await Self.bumpRevision(of: Self.galleryID(of: subject, connection, logger), connection, logger)
            var record = try await Self.requireSubject(connection, logger, subject, lock: "FOR UPDATE")
            let gallery = try await Self.requireGallery(connection, logger, record.galleryID)
            try InputValidation.checkModels(of: templates, against: gallery)
            let stored = try await Self.insert(templates, for: record, enrolledAt: now, connection, logger)
            try await connection.query(
                "UPDATE subjects SET updated_at_ms = \(now) WHERE id = \(subject.rawValue)", logger: logger)
            record.updatedAt = StorageEncoding.date(milliseconds: now)
            let change = GalleryChange.templatesAdded(subject: record, templates: stored)
            try await Self.append(companion, change: change, connection, logger)
            try await Self.recordChanges([PendingChange(change)], connection, logger)
            return stored
        }
    }

    public func addMissingTemplates(
        _ additions: [TemplateAddition], in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [SubjectRecord.ID: [TemplateRecord]] {
        for addition in additions { try InputValidation.validate(addition.templates) }
        if let companion { try SQLIdentifier.validate(companion) }
        let now = StorageEncoding.milliseconds(Date())
        return try await write("adding missing templates") { connection, logger in
            // The gallery row first, then each subject: the order every writer takes them in.
            let galleryRecord = try await Self.requireGallery(connection, logger, gallery, lock: "FOR UPDATE")
            var added: [SubjectRecord.ID: [TemplateRecord]] = [:]
            var changes: [PendingChange] = []
            for addition in additions {
                try InputValidation.checkModels(of: addition.templates, against: galleryRecord)
                let rows = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT \(PostgresSchema.subjectColumns) FROM subjects WHERE id = $1 AND gallery_id = $2 FOR UPDATE
                            """,
                        binds: {
                            var binds = PostgresBindings(capacity: 2)
                            binds.append(addition.subject.rawValue)
                            binds.append(gallery.rawValue)
                            return binds
                        }()),
                    logger: logger
                ).collect()
                guard let row = rows.first else { continue }
                var subject = try Self.subjectRecord(row)
                var held = Set<TemplateOrigin>()
                for try await (model, digest) in try await connection.query(
                    "SELECT model_identifier, source_image_sha256 FROM templates WHERE subject_id = \(addition.subject.rawValue)",
                    logger: logger
                ).decode((String, String).self) {
                    held.insert(TemplateOrigin(model: model, sourceImageSHA256: digest))
                }
                let missing = addition.templates.filter { !held.contains(TemplateOrigin($0)) }
                guard !missing.isEmpty else { continue }
                let stored = try await Self.insert(missing, for: subject, enrolledAt: now, connection, logger)
                try await connection.query(
                    "UPDATE subjects SET updated_at_ms = \(now) WHERE id = \(addition.subject.rawValue)", logger: logger)
                subject.updatedAt = StorageEncoding.date(milliseconds: now)
                added[subject.id] = stored
                changes.append(PendingChange(.templatesAdded(subject: subject, templates: stored)))
            }
            if !changes.isEmpty { try await Self.bumpRevision(of: gallery, connection, logger) }
            try await Self.append(companion, change: nil, connection, logger)
            try await Self.recordChanges(changes, connection, logger)
            return added
        }
    }

    public func subject(_ id: SubjectRecord.ID) async throws(GalleryError) -> EnrolledSubject {
        try await read("reading a subject") { connection, logger in
            let subject = try await Self.requireSubject(connection, logger, id)
            return EnrolledSubject(subject: subject, templates: try await Self.templates(connection, logger, of: id))
        }
    }

    public func templateQualities(
        _ ids: [TemplateRecord.ID]
    ) async throws(GalleryError) -> [TemplateRecord.ID: TemplateQuality] {
        guard !ids.isEmpty else { return [:] }
        return try await read("reading template qualities") { connection, logger in
            var query = PostgresQuery(unsafeSQL: "SELECT id, quality FROM templates WHERE id = ANY($1)")
            query.binds.append(ids.map(\.rawValue))
            var qualities: [TemplateRecord.ID: TemplateQuality] = [:]
            for try await (id, quality) in try await connection.query(query, logger: logger).decode((Int64, String).self) {
                qualities[.init(id)] = try StorageEncoding.decodeJSON(TemplateQuality.self, from: quality)
            }
            return qualities
        }
    }

    public func subject(reference: String, in gallery: GalleryRecord.ID) async throws(GalleryError) -> EnrolledSubject {
        try await read("reading a subject") { connection, logger in
            _ = try await Self.requireGallery(connection, logger, gallery)
            var query = PostgresQuery(
                unsafeSQL: """
                    SELECT \(PostgresSchema.subjectColumns) FROM subjects
                    WHERE gallery_id = $1 AND external_reference = $2
                    """)
            query.binds.append(gallery.rawValue)
            query.binds.append(reference)
            let rows = try await connection.query(query, logger: logger).collect()
            guard let row = rows.first else {
                throw GalleryError.unknownExternalReference(reference, gallery: gallery)
            }
            let subject = try Self.subjectRecord(row)
            return EnrolledSubject(
                subject: subject, templates: try await Self.templates(connection, logger, of: subject.id))
        }
    }

    public func subjects(
        in gallery: GalleryRecord.ID, after: SubjectRecord.ID?, limit: Int
    ) async throws(GalleryError) -> SubjectPage {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        return try await read("listing subjects") { connection, logger in
            _ = try await Self.requireGallery(connection, logger, gallery)
            var query = PostgresQuery(
                unsafeSQL: """
                    SELECT \(PostgresSchema.subjectColumns) FROM subjects
                    WHERE gallery_id = $1 AND id > $2 ORDER BY id LIMIT $3
                    """)
            query.binds.append(gallery.rawValue)
            query.binds.append(after?.rawValue ?? 0)
            query.binds.append(Int64(limit + 1))
            var subjects: [SubjectRecord] = []
            for try await row in try await connection.query(query, logger: logger) {
                subjects.append(try Self.subjectRecord(row))
            }
            var next: SubjectRecord.ID?
            if subjects.count > limit {
                subjects.removeLast()
                next = subjects.last?.id
            }
            return SubjectPage(subjects: subjects, nextCursor: next)
        }
    }

    public func deleteSubject(_ id: SubjectRecord.ID, companion: CompanionRecord?) async throws(GalleryError) -> SubjectErasure {
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("deleting a subject") { connection, logger in
            // The gallery row first, then the subject: the order every writer takes them in.
            try await Self.bumpRevision(of: Self.galleryID(of: id, connection, logger), connection, logger)
            let subject = try await Self.requireSubject(connection, logger, id, lock: "FOR UPDATE")
            var templateIDs: [TemplateRecord.ID] = []
            for try await templateID in try await connection.query(
                "SELECT id FROM templates WHERE subject_id = \(id.rawValue) ORDER BY id", logger: logger
            ).decode(Int64.self) {
                templateIDs.append(.init(templateID))
            }
            // The foreign key cascades to the templates.
            try await connection.query("DELETE FROM subjects WHERE id = \(id.rawValue)", logger: logger)
            let erasure = SubjectErasure(subject: subject, templateIDs: templateIDs)
            try await Self.append(companion, change: .subjectDeleted(erasure), connection, logger)
            try await Self.recordChanges([PendingChange(.subjectDeleted(erasure))], connection, logger)
            return erasure
        }
    }

    public func expiredSubjects(asOf date: Date, limit: Int) async throws(GalleryError) -> [SubjectRecord] {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        let now = StorageEncoding.milliseconds(date)
        return try await read("finding expired subjects") { connection, logger in
            var query = PostgresQuery(unsafeSQL: PostgresSchema.expiredSubjectsQuery)
            query.binds.append(now)
            query.binds.append(StorageEncoding.millisecondsPerDay)
            query.binds.append(Int64(limit))
            var subjects: [SubjectRecord] = []
            for try await row in try await connection.query(query, logger: logger) {
                subjects.append(try Self.subjectRecord(row))
            }
            return subjects
        }
    }

    public func templateVectors(
        in gallery: GalleryRecord.ID, after: TemplateRecord.ID?, limit: Int
    ) async throws(GalleryError) -> TemplateVectorBatch {
        try InputValidation.validate(pageSize: limit, field: "batchSize", maximum: InputValidation.maximumBatchSize)
        return try await read("reading template vectors") { connection, logger in
            _ = try await Self.requireGallery(connection, logger, gallery)
            var batch = TemplateVectorBatch.empty
            batch.vectors.reserveCapacity(limit * TemplateFormat.dimension)
            let rows = try await connection.query(
                """
                SELECT id, subject_id, vector, model_identifier FROM templates
                WHERE gallery_id = \(gallery.rawValue) AND id > \(after?.rawValue ?? 0) ORDER BY id LIMIT \(Int64(limit))
                """, logger: logger)
            for try await (id, subjectID, vector, model) in rows.decode((Int64, Int64, Data, String).self) {
                batch.templateIDs.append(.init(id))
                batch.subjectIDs.append(.init(subjectID))
                try StorageEncoding.appendVector(from: vector, to: &batch.vectors)
                batch.modelIdentifiers.append(model)
            }
            return batch
        }
    }

    public func counts(in gallery: GalleryRecord.ID) async throws(GalleryError) -> GalleryCounts {
        try await read("counting") { connection, logger in
            _ = try await Self.requireGallery(connection, logger, gallery)
            return try await Self.counts(connection, logger, gallery)
        }
    }

    public func revision(of gallery: GalleryRecord.ID) async throws(GalleryError) -> Int64 {
        try await read("reading a gallery revision") { connection, logger in
            var query = PostgresQuery(unsafeSQL: "SELECT revision FROM galleries WHERE id = $1")
            query.binds.append(gallery.rawValue)
            guard let revision = try await connection.query(query, logger: logger).collect().first else {
                throw GalleryError.unknownGallery(gallery)
            }
            return try revision.decode(Int64.self)
        }
    }

    // MARK: - Change feed

    public func changes(after position: ChangeFeedPosition, limit: Int) async throws(GalleryError) -> [ChangeFeedEntry] {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        return try await read("reading the change feed") { connection, logger in
            var query = PostgresQuery(
                unsafeSQL: "SELECT \(ChangeFeedSchema.columns) FROM gallery_changes WHERE position > $1 ORDER BY position LIMIT $2")
            query.binds.append(position.rawValue)
            query.binds.append(Int64(limit))
            var entries: [ChangeFeedEntry] = []
            for try await (position, gallery, kind, subject, templates, revision, committedAt) in try await connection.query(
                query, logger: logger
            ).decode((Int64, Int64, String, Int64?, String, Int64?, Int64).self) {
                entries.append(
                    try ChangeFeedEntry.decoded(
                        position: position, gallery: gallery, kind: kind, subject: subject, templateList: templates,
                        revision: revision, committedAt: committedAt))
            }
            return entries
        }
    }

    public func changeFeedHead() async throws(GalleryError) -> ChangeFeedPosition {
        try await read("reading the change feed head") { connection, logger in
            ChangeFeedPosition(
                try await Self.single(Int64.self, connection.query("SELECT position FROM gallery_change_head", logger: logger)))
        }
    }

    public func subjectRecords(_ ids: [SubjectRecord.ID]) async throws(GalleryError) -> [SubjectRecord] {
        guard !ids.isEmpty else { return [] }
        try InputValidation.validate(pageSize: ids.count, field: "ids", maximum: InputValidation.maximumPageSize)
        return try await read("reading subjects") { connection, logger in
            var query = PostgresQuery(
                unsafeSQL: "SELECT \(PostgresSchema.subjectColumns) FROM subjects WHERE id = ANY($1) ORDER BY id")
            query.binds.append(ids.map(\.rawValue))
            var subjects: [SubjectRecord] = []
            for try await row in try await connection.query(query, logger: logger) {
                subjects.append(try Self.subjectRecord(row))
            }
            return subjects
        }
    }

    public func templateVectors(_ ids: [TemplateRecord.ID]) async throws(GalleryError) -> TemplateVectorBatch {
        guard !ids.isEmpty else { return TemplateVectorBatch.empty }
        try InputValidation.validate(pageSize: ids.count, field: "ids", maximum: InputValidation.maximumPageSize)
        return try await read("reading template vectors") { connection, logger in
            var query = PostgresQuery(unsafeSQL: "SELECT id, subject_id, vector, model_identifier FROM templates WHERE id = ANY($1) ORDER BY id")
            query.binds.append(ids.map(\.rawValue))
            var batch = TemplateVectorBatch.empty
            for try await (id, subjectID, vector, model) in try await connection.query(query, logger: logger).decode(
                (Int64, Int64, Data, String).self)
            {
                batch.templateIDs.append(.init(id))
                batch.subjectIDs.append(.init(subjectID))
                try StorageEncoding.appendVector(from: vector, to: &batch.vectors)
                batch.modelIdentifiers.append(model)
            }
            return batch
        }
    }

    // MARK: - Companion records

    // MARK: - Work leases

    /// Milliseconds since 1970 by the database server's clock, so the nodes' clocks need not agree.
    private static let serverMilliseconds = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

    public func claimLease(_ name: String, holder: String, duration: Duration) async throws(GalleryError) -> WorkLease {
        try WorkLease.validate(name: name, holder: holder, duration: duration)
        let milliseconds = WorkLease.milliseconds(duration)
        return try await write("claiming the lease '\(name)'") { connection, logger in
            var claim = PostgresQuery(
                unsafeSQL: """
                    INSERT INTO work_leases (name, holder, expires_at_ms) VALUES ($1, $2, \(Self.serverMilliseconds) + $3)
                    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at_ms = EXCLUDED.expires_at_ms
                    WHERE work_leases.holder = EXCLUDED.holder OR work_leases.expires_at_ms <= \(Self.serverMilliseconds)
                    """)
            claim.binds.append(name)
            claim.binds.append(holder)
            claim.binds.append(milliseconds)
            try await connection.query(claim, logger: logger)
            var current = PostgresQuery(unsafeSQL: "SELECT holder, expires_at_ms FROM work_leases WHERE name = $1")
            current.binds.append(name)
            guard let row = try await connection.query(current, logger: logger).collect().first else {
                throw StoredDataError.missingRow
            }
            let (currentHolder, expiry) = try row.decode((String, Int64).self)
            return WorkLease(name: name, holder: currentHolder, expiresAt: StorageEncoding.date(milliseconds: expiry))
        }
    }

    public func releaseLease(_ name: String, holder: String) async throws(GalleryError) {
        try await write("releasing the lease '\(name)'") { connection, logger in
            var release = PostgresQuery(
                unsafeSQL: """
                    UPDATE work_leases SET expires_at_ms = least(expires_at_ms, \(Self.serverMilliseconds))
                    WHERE name = $1 AND holder = $2
                    """)
            release.binds.append(name)
            release.binds.append(holder)
            try await connection.query(release, logger: logger)
        }
    }

    // MARK: - Companion records (appending)

    public func appendRecords(_ records: [CompanionRecord]) async throws(GalleryError) {
        for record in records { try SQLIdentifier.validate(record) }
        guard !records.isEmpty else { return }
        try await write("appending records") { connection, logger in
            for record in records {
                try await Self.append(record, change: nil, connection, logger)
            }
        }
    }

    public func records(
        in table: String, orderedBy sequenceColumn: String, after: Int64?, limit: Int
    ) async throws(GalleryError) -> [StoreRow] {
        try await records(in: table, matching: [:], orderedBy: sequenceColumn, after: after, limit: limit)
    }

    public func records(
        in table: String, matching: [String: StoreValue], orderedBy sequenceColumn: String, after: Int64?, limit: Int
    ) async throws(GalleryError) -> [StoreRow] {
        try CompanionQuery.validate(table: table, rangeColumn: sequenceColumn, matching: matching, limit: limit)
        return try await read("reading records") { connection, logger in
            var bindings = PostgresBindings(capacity: matching.count + 2)
            bindings.append(after ?? Int64.min)
            var conditions = ["\"\(sequenceColumn)\" > $1"]
            try Self.appendEqualities(matching, to: &conditions, bindings: &bindings)
            bindings.append(Int64(limit))
            let query = PostgresQuery(
                unsafeSQL: """
                    SELECT * FROM "\(table)" WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY "\(sequenceColumn)" LIMIT $\(bindings.count)
                    """,
                binds: bindings)
            var rows: [StoreRow] = []
            for try await row in try await connection.query(query, logger: logger) {
                rows.append(try Self.storeRow(row))
            }
            return rows
        }
    }

    public func records(in table: String, keyColumn: String, keys: [Int64]) async throws(GalleryError) -> [StoreRow] {
        try CompanionQuery.validate(
            table: table, rangeColumn: keyColumn, rangeRole: "companion key column", matching: [:], limit: max(keys.count, 1))
        guard !keys.isEmpty else { return [] }
        return try await read("reading records") { connection, logger in
            try await Self.rows(in: table, keyColumn: keyColumn, keys: keys, connection, logger)
        }
    }

    private static func rows(
        in table: String, keyColumn: String, keys: [Int64], _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [StoreRow] {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(keys)
        let query = PostgresQuery(
            unsafeSQL: "SELECT * FROM \"\(table)\" WHERE \"\(keyColumn)\" = ANY($1) ORDER BY \"\(keyColumn)\"",
            binds: bindings)
        var rows: [StoreRow] = []
        for try await row in try await connection.query(query, logger: logger) {
            rows.append(try storeRow(row))
        }
        return rows
    }

    public func lastRecord(
        in table: String, matching: [String: StoreValue], orderedBy sequenceColumn: String
    ) async throws(GalleryError) -> StoreRow? {
        try CompanionQuery.validate(table: table, rangeColumn: sequenceColumn, matching: matching, limit: 1)
        return try await read("reading a record") { connection, logger in
            var bindings = PostgresBindings(capacity: matching.count)
            var conditions = ["TRUE"]
            try Self.appendEqualities(matching, to: &conditions, bindings: &bindings)
            let query = PostgresQuery(
                unsafeSQL: """
                    SELECT * FROM "\(table)" WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY "\(sequenceColumn)" DESC LIMIT 1
                    """,
                binds: bindings)
            var rows: [StoreRow] = []
            for try await row in try await connection.query(query, logger: logger) {
                rows.append(try Self.storeRow(row))
            }
            return rows.first
        }
    }

    public func deleteRecords(
        in table: String, matching: [String: StoreValue], where column: String, atMost: Int64, limit: Int
    ) async throws(GalleryError) -> Int {
        try CompanionQuery.validate(
            table: table, rangeColumn: column, rangeRole: "companion column", matching: matching, limit: limit)
        return try await write("deleting expired records") { connection, logger in
            var bindings = PostgresBindings(capacity: matching.count + 2)
            bindings.append(atMost)
            var conditions = ["\"\(column)\" <= $1"]
            try Self.appendEqualities(matching, to: &conditions, bindings: &bindings)
            bindings.append(Int64(limit))
            // DELETE has no LIMIT: delete by ctid from a limited select.
            let query = PostgresQuery(
                unsafeSQL: """
                    WITH doomed AS (
                        SELECT ctid FROM "\(table)" WHERE \(conditions.joined(separator: " AND ")) LIMIT $\(bindings.count))
                    DELETE FROM "\(table)" WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1
                    """,
                binds: bindings)
            var deleted = 0
            for try await _ in try await connection.query(query, logger: logger) { deleted += 1 }
            return deleted
        }
    }

    /// Appends `"column" = $n` (or `IS NULL`) for each filter, its value to `bindings`, sorted by
    /// column so the same filter always gives the same statement.
    private static func appendEqualities(
        _ matching: [String: StoreValue], to conditions: inout [String], bindings: inout PostgresBindings
    ) throws {
        for (column, value) in matching.sorted(by: { $0.key < $1.key }) {
            if value == .null {
                conditions.append("\"\(column)\" IS NULL")
            } else {
                try bind(value, to: &bindings)
                conditions.append("\"\(column)\" = $\(bindings.count)")
            }
        }
    }

    // MARK: - Row helpers (run inside a transaction)

    private static func single<T: PostgresDecodable & Sendable>(
        _ type: T.Type, _ rows: PostgresRowSequence
    ) async throws -> T {
        var value: T?
        // Reads to the end so the connection is free for the next statement.
        for try await decoded in rows.decode(T.self) {
            value = value ?? decoded
        }
        guard let value else { throw StoredDataError.missingRow }
        return value
    }

    private static func fetchGallery(
        _ connection: PostgresConnection, _ logger: Logger, named name: String
    ) async throws -> GalleryRecord? {
        var query = PostgresQuery(unsafeSQL: "SELECT \(PostgresSchema.galleryColumns) FROM galleries WHERE name = $1")
        query.binds.append(name)
        return try await connection.query(query, logger: logger).collect().first.map(galleryRecord)
    }

    /// `lock` is empty or a row-locking clause such as "FOR UPDATE".
    private static func requireGallery(
        _ connection: PostgresConnection, _ logger: Logger, _ id: GalleryRecord.ID, lock: String = ""
    ) async throws -> GalleryRecord {
        var query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresSchema.galleryColumns) FROM galleries WHERE id = $1 \(lock)")
        query.binds.append(id.rawValue)
        guard let row = try await connection.query(query, logger: logger).collect().first else {
            throw GalleryError.unknownGallery(id)
        }
        return try galleryRecord(row)
    }

    /// Counts a change to the gallery's subjects or templates, inside the change's transaction;
    /// the update holds the gallery row until commit.
    private static func bumpRevision(
        of gallery: GalleryRecord.ID, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.query(
            "UPDATE galleries SET revision = revision + 1 WHERE id = \(gallery.rawValue)", logger: logger)
    }

    /// The gallery a subject belongs to (it never changes), read without a lock.
    private static func galleryID(
        of subject: SubjectRecord.ID, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> GalleryRecord.ID {
        let rows = try await connection.query(
            "SELECT gallery_id FROM subjects WHERE id = \(subject.rawValue)", logger: logger
        ).collect()
        guard let row = rows.first else { throw GalleryError.unknownSubject(subject) }
        return GalleryRecord.ID(try row.decode(Int64.self))
    }

    private static func requireSubject(
        _ connection: PostgresConnection, _ logger: Logger, _ id: SubjectRecord.ID, lock: String = ""
    ) async throws -> SubjectRecord {
        var query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresSchema.subjectColumns) FROM subjects WHERE id = $1 \(lock)")
        query.binds.append(id.rawValue)
        guard let row = try await connection.query(query, logger: logger).collect().first else {
            throw GalleryError.unknownSubject(id)
        }
        return try subjectRecord(row)
    }

    private static func templates(
        _ connection: PostgresConnection, _ logger: Logger, of subject: SubjectRecord.ID
    ) async throws -> [TemplateRecord] {
        var query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresSchema.templateColumns) FROM templates WHERE subject_id = $1 ORDER BY id")
        query.binds.append(subject.rawValue)
        var templates: [TemplateRecord] = []
        for try await row in try await connection.query(query, logger: logger) {
            templates.append(try templateRecord(row))
        }
        return templates
    }

    private static func counts(
        _ connection: PostgresConnection, _ logger: Logger, _ gallery: GalleryRecord.ID
    ) async throws -> GalleryCounts {
        let subjects = try await single(
            Int64.self,
            connection.query("SELECT COUNT(*) FROM subjects WHERE gallery_id = \(gallery.rawValue)", logger: logger))
        let templates = try await single(
            Int64.self,
            connection.query("SELECT COUNT(*) FROM templates WHERE gallery_id = \(gallery.rawValue)", logger: logger))
        return GalleryCounts(subjects: Int(subjects), templates: Int(templates))
    }

    private static func insert(
        _ templates: [NewTemplate], for subject: SubjectRecord, enrolledAt: Int64,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [TemplateRecord] {
        var stored: [TemplateRecord] = []
        stored.reserveCapacity(templates.count)
        for template in templates {
            let digest = template.sourceImageSHA256.lowercased()
            let capturedAt = StorageEncoding.milliseconds(template.capturedAt)
            let quality = try StorageEncoding.json(template.quality)
            let id = try await single(
                Int64.self,
                connection.query(
                    """
                    INSERT INTO templates
                        (gallery_id, subject_id, model_identifier, vector, quality, source_image_sha256,
                         captured_at_ms, enrolled_at_ms)
                    VALUES (\(subject.galleryID.rawValue), \(subject.id.rawValue), \(template.modelIdentifier),
                            \(StorageEncoding.blob(from: template.vector)), \(quality), \(digest), \(capturedAt),
                            \(enrolledAt))
                    RETURNING id
                    """, logger: logger))
            stored.append(
                TemplateRecord(
                    id: .init(id), subjectID: subject.id, modelIdentifier: template.modelIdentifier,
                    vector: template.vector, quality: template.quality, sourceImageSHA256: digest,
                    capturedAt: StorageEncoding.date(milliseconds: capturedAt),
                    enrolledAt: StorageEncoding.date(milliseconds: enrolledAt)))
        }
        return stored
    }

    /// Appends the changes to the feed and notifies listeners, last in the change's transaction.
    /// Updating the head row locks it until commit, so a concurrent writer waits here and reads
    /// the head this one committed: positions follow commit order, and a rollback returns its
    /// numbers. Taken last, the lock is held only for the insert and the commit.
    private static func recordChanges(
        _ changes: [PendingChange], _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        guard !changes.isEmpty else { return }
        let last = try await single(
            Int64.self,
            connection.query(
                "UPDATE gallery_change_head SET position = position + \(Int64(changes.count)) WHERE singleton = 1 RETURNING position",
                logger: logger))
        var query = PostgresQuery(
            unsafeSQL: """
                INSERT INTO gallery_changes (\(ChangeFeedSchema.columns))
                SELECT $1 + c.ordinality - 1, c.gallery_id, c.kind, NULLIF(c.subject_id, 0), c.template_ids, g.revision, $6
                FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[])
                    WITH ORDINALITY AS c (gallery_id, kind, subject_id, template_ids, ordinality)
                LEFT JOIN galleries g ON g.id = c.gallery_id
                """)
        query.binds.append(last - Int64(changes.count) + 1)
        query.binds.append(changes.map(\.gallery.rawValue))
        query.binds.append(changes.map(\.kind.rawValue))
        // Stored identifiers are positive, so 0 stands for "no subject" in the array.
        query.binds.append(changes.map { $0.subject?.rawValue ?? 0 })
        query.binds.append(changes.map(\.templateList))
        query.binds.append(StorageEncoding.milliseconds(Date()))
        try await connection.query(query, logger: logger)
        // Delivered on commit only; a wake-up for listeners, who then read the feed.
        _ = try await connection.query(
            "SELECT pg_notify(\(ChangeFeedSchema.channel), \(String(last)))", logger: logger
        ).collect()
    }

    /// Appends a companion row inside the transaction. The table lock conflicts with itself, so
    /// appenders queue and each sees the row the previous one committed; readers are not blocked.
    private static func append(
        _ record: CompanionRecord?, change: GalleryChange?, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        for each in record?.appendOrder ?? [] {
            try await appendOne(each, change: change, connection, logger)
        }
    }

    private static func appendOne(
        _ record: CompanionRecord, change: GalleryChange?, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        do {
            try await connection.query(
                PostgresQuery(unsafeSQL: "LOCK TABLE \"\(record.table)\" IN SHARE ROW EXCLUSIVE MODE"), logger: logger)
            let previous = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT * FROM \"\(record.table)\" ORDER BY \"\(record.sequenceColumn)\" DESC LIMIT 1"),
                logger: logger
            ).collect().first.map(storeRow)
            var earlier: [Int64: StoreRow] = [:]
            if let keys = try record.lookback?(previous), !keys.isEmpty {
                for row in try await rows(in: record.table, keyColumn: record.sequenceColumn, keys: keys, connection, logger) {
                    if case .integer(let key)? = row[record.sequenceColumn] { earlier[key] = row }
                }
            }
            let row = try record.makeRow(CompanionContext(change: change, previousRow: previous, earlierRows: earlier))
            try SQLIdentifier.validate(row: row, table: record.table)
            let columns = row.keys.sorted()
            var bindings = PostgresBindings(capacity: columns.count)
            for column in columns {
                try bind(row[column] ?? .null, to: &bindings)
            }
            let columnList = columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let placeholders = (1...columns.count).map { "$\($0)" }.joined(separator: ", ")
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \"\(record.table)\" (\(columnList)) VALUES (\(placeholders))",
                    binds: bindings),
                logger: logger)
        } catch {
            throw GalleryError.companionRecordFailed(table: record.table, underlying: error)
        }
    }

    private static func bind(_ value: StoreValue, to bindings: inout PostgresBindings) throws {
        switch value {
        case .null: bindings.appendNull()
        case .integer(let value): bindings.append(value)
        case .real(let value): bindings.append(value)
        case .text(let value): bindings.append(value)
        case .blob(let value): try bindings.append(value)
        }
    }

    // MARK: - Decoding

    private static func galleryRecord(_ row: PostgresRow) throws -> GalleryRecord {
        let (id, name, description, purpose, retentionDays, threshold, model, createdAt, engines, defaultEngine, settings) =
            try row.decode((Int64, String, String, String, Int64?, Float, String, Int64, String, String, String).self)
        return GalleryRecord(
            id: .init(id), name: name, description: description, purpose: try StorageEncoding.purpose(purpose),
            retention: StorageEncoding.retention(days: retentionDays), operatingThreshold: threshold,
            modelIdentifier: model, createdAt: StorageEncoding.date(milliseconds: createdAt),
            engines: try GalleryEngineMigration.decode(engines, modelIdentifier: model), defaultEngine: defaultEngine,
            settings: try GallerySettingsMigration.decode(settings))
    }

    private static func subjectRecord(_ row: PostgresRow) throws -> SubjectRecord {
        let (id, galleryID, reference, attributes, createdAt, updatedAt, retainUntil) = try row.decode(
            (Int64, Int64, String, String, Int64, Int64, Int64?).self)
        return SubjectRecord(
            id: .init(id), galleryID: .init(galleryID), externalReference: reference,
            attributes: try StorageEncoding.decodeJSON([String: String].self, from: attributes),
            createdAt: StorageEncoding.date(milliseconds: createdAt),
            updatedAt: StorageEncoding.date(milliseconds: updatedAt),
            retainUntil: retainUntil.map(StorageEncoding.date(milliseconds:)))
    }

    private static func templateRecord(_ row: PostgresRow) throws -> TemplateRecord {
        let (id, subjectID, model, vector, quality, digest, capturedAt, enrolledAt) = try row.decode(
            (Int64, Int64, String, Data, String, String, Int64, Int64).self)
        return TemplateRecord(
            id: .init(id), subjectID: .init(subjectID), modelIdentifier: model,
            vector: try StorageEncoding.vector(from: vector),
            quality: try StorageEncoding.decodeJSON(TemplateQuality.self, from: quality),
            sourceImageSHA256: digest, capturedAt: StorageEncoding.date(milliseconds: capturedAt),
            enrolledAt: StorageEncoding.date(milliseconds: enrolledAt))
    }

    private static func storeRow(_ row: PostgresRow) throws -> StoreRow {
        var values: StoreRow = [:]
        for cell in row {
            guard cell.bytes != nil else {
                values[cell.columnName] = .null
                continue
            }
            switch cell.dataType {
            case .int2, .int4, .int8:
                values[cell.columnName] = .integer(try cell.decode(Int64.self))
            case .float4, .float8:
                values[cell.columnName] = .real(try cell.decode(Double.self))
            case .text, .varchar, .bpchar, .name:
                values[cell.columnName] = .text(try cell.decode(String.self))
            case .bytea:
                values[cell.columnName] = .blob(try cell.decode(Data.self))
            case .bool:
                values[cell.columnName] = .integer(try cell.decode(Bool.self) ? 1 : 0)
            default:
                throw StoredDataError.unsupportedColumnType(column: cell.columnName, type: "\(cell.dataType)")
            }
        }
        return values
    }
}

extension PostgresGalleryStore: ChangeNotifyingStore {
    /// LISTENs on a connection of the primary's pool held for as long as this runs, so the pool
    /// never hands it to a query; a terminated backend or a failover ends it with an error (and
    /// the next call listens on whichever host is primary then).
    public func listenForChanges(_ wake: @escaping @Sendable () -> Void) async throws(GalleryError) {
        do {
            try await primary.withPrimaryConnection("listening for gallery changes") { connection in
                try await connection.listen(on: ChangeFeedSchema.channel) { notifications in
                    wake()
                    for try await _ in notifications { wake() }
                }
            }
        } catch {
            if Task.isCancelled { return }
            throw error
        }
    }
}
