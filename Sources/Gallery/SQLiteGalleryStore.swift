import Foundation
import GRDB
import Installation

/// A ``GalleryStore`` in one SQLite file, through GRDB.
///
/// The file runs in WAL mode with `synchronous = FULL`: an enrolment whose call has returned is
/// on disk, and survives a killed process and a power cut alike (NORMAL would survive only the
/// former). Foreign keys cascade deletions, `secure_delete` zeroes the pages erased rows leave
/// behind, and writers from several processes wait for each other (busy timeout) instead of
/// failing. Several readers run alongside the single writer.
public final class SQLiteGalleryStore: GalleryStore {
    /// The database file.
    public let location: URL
    let pool: DatabasePool

    /// How long a writer waits for another process's write to finish.
    static let busyTimeout: TimeInterval = 30

    /// Opens (creating if needed) the store at `location`, creating its folder, and applies the
    /// store's migrations followed by `additionalMigrations` (tables other components own, such
    /// as the audit log).
    public init(location: URL, additionalMigrations: [SchemaMigration] = []) throws(GalleryError) {
        try SQLIdentifier.validate(additionalMigrations)
        self.location = location
        do {
            try FileManager.default.createDirectory(
                at: location.deletingLastPathComponent(), withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(Self.busyTimeout)
            configuration.label = "gallery"
            configuration.prepareDatabase { db in
                // FULL: each commit syncs the WAL, so acknowledged enrolments outlive a power cut.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Erased templates must not linger in free pages of the file.
                try db.execute(sql: "PRAGMA secure_delete = ON")
            }
            pool = try DatabasePool(path: location.path, configuration: configuration)
        } catch {
            throw .storageFailure(operation: "opening \(location.path)", underlying: error)
        }
        try migrate(additionalMigrations)
    }

    /// `<data directory>/biomatch.sqlite` of the installation: where the server keeps galleries.
    public static func defaultLocation(in installation: Installation = .fromEnvironment()) -> URL {
        installation.dataDirectory.appending(path: "biomatch.sqlite")
    }

    /// Where the galleries' index snapshots of this database live: `<database file>.indexes/`,
    /// beside the file, so they move and are removed with it.
    public var indexSnapshotDirectory: URL {
        location.deletingLastPathComponent().appending(
            path: location.lastPathComponent + ".indexes", directoryHint: .isDirectory)
    }

    /// Copies the write-ahead log into the database file and truncates the log to zero bytes.
    ///
    /// Run it after erasures (the retention sweeper does): `secure_delete` zeroes erased rows in
    /// the new page versions, but until a checkpoint the older page images that still hold the
    /// erased templates remain in the database file and the log. Waits for readers to finish.
    public func checkpoint() async throws(GalleryError) {
        do {
            try await pool.writeWithoutTransaction { db in
                _ = try db.checkpoint(.truncate)
            }
        } catch {
            throw .storageFailure(operation: "checkpointing \(location.path)", underlying: error)
        }
    }

    // MARK: - Migrations

    private func migrate(_ additionalMigrations: [SchemaMigration]) throws(GalleryError) {
        var migrator = DatabaseMigrator()
        for migration in SQLiteSchema.migrations + additionalMigrations {
            let statements = migration.statements
            migrator.registerMigration(migration.identifier) { db in
                for statement in statements {
                    try db.execute(sql: statement)
                }
            }
        }
        do {
            let known = Set(migrator.migrations)
            let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
            let unknown = applied.filter { $0.hasPrefix(SchemaMigration.reservedPrefix) && !known.contains($0) }
            if !unknown.isEmpty {
                throw GalleryError.unknownSchemaMigrations(unknown.sorted())
            }
            try migrator.migrate(pool)
        } catch let error as GalleryError {
            throw error
        } catch {
            throw .storageFailure(operation: "migrating \(location.path)", underlying: error)
        }
    }

    // MARK: - Transactions

    /// Runs `body` in one IMMEDIATE transaction; GalleryErrors pass through, others are wrapped.
    /// Checkpoints the write-ahead log into the database file and closes every connection.
    /// Later calls fail with ``GalleryError/storageFailure(operation:underlying:)``. Errors are
    /// logged by the caller's choice; closing never loses a committed change (WAL is durable).
    public func close() {
        _ = try? pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try? pool.close()
    }

    private func write<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(GalleryError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as GalleryError {
            throw error
        } catch {
            throw .storageFailure(operation: operation, underlying: error)
        }
    }

    /// Runs `body` on a snapshot of the database.
    private func read<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(GalleryError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as GalleryError {
            throw error
        } catch {
            throw .storageFailure(operation: operation, underlying: error)
        }
    }

    // MARK: - Galleries

    public func createGallery(_ gallery: NewGallery, companion: CompanionRecord?) async throws(GalleryError) -> GalleryRecord {
        try InputValidation.validate(gallery)
        if let companion { try SQLIdentifier.validate(companion) }
        let createdAt = StorageEncoding.milliseconds(Date())
        return try await write("creating a gallery") { db in
            if try Self.fetchGallery(db, named: gallery.name) != nil {
                throw GalleryError.duplicateGalleryName(gallery.name)
            }
            try db.execute(
                sql: """
                    INSERT INTO galleries
                        (name, description, purpose, retention_days, operating_threshold, model_identifier, created_at_ms,
                         engines, default_engine, settings)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    gallery.name, gallery.description, gallery.purpose.rawValue, gallery.retention.days.map { Int64($0) },
                    Double(gallery.operatingThreshold), gallery.modelIdentifier, createdAt,
                    try GalleryEngineMigration.encode(gallery.engines), gallery.defaultEngine,
                    try GallerySettingsMigration.encode(gallery.settings),
                ])
            let record = GalleryRecord(
                id: .init(db.lastInsertedRowID), name: gallery.name, description: gallery.description,
                purpose: gallery.purpose, retention: gallery.retention, operatingThreshold: gallery.operatingThreshold,
                modelIdentifier: gallery.modelIdentifier, createdAt: StorageEncoding.date(milliseconds: createdAt),
                engines: gallery.engines, defaultEngine: gallery.defaultEngine, settings: gallery.settings)
            try Self.append(companion, change: .galleryCreated(record), db)
            try Self.recordChanges([PendingChange(.galleryCreated(record))], db)
            return record
        }
    }

    public func galleries() async throws(GalleryError) -> [GalleryRecord] {
        try await read("listing galleries") { db in
            try Row.fetchAll(db, sql: "SELECT \(SQLiteSchema.galleryColumns) FROM galleries ORDER BY id")
                .map(Self.galleryRecord)
        }
    }

    public func gallery(_ id: GalleryRecord.ID) async throws(GalleryError) -> GalleryRecord {
        try await read("reading a gallery") { db in try Self.requireGallery(db, id) }
    }

    public func gallery(named name: String) async throws(GalleryError) -> GalleryRecord {
        try await read("reading a gallery") { db in
            guard let gallery = try Self.fetchGallery(db, named: name) else {
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
        return try await write("setting a threshold") { db in
            var record = try Self.requireGallery(db, gallery)
            let previous = record.operatingThreshold
            try db.execute(
                sql: "UPDATE galleries SET operating_threshold = ? WHERE id = ?",
                arguments: [Double(threshold), gallery.rawValue])
            record.operatingThreshold = threshold
            let change = GalleryChange.thresholdChanged(record, previousThreshold: previous)
            try Self.append(companion, change: change, db)
            try Self.recordChanges([PendingChange(change)], db)
            return record
        }
    }

    public func reconfigureGallery(
        _ id: GalleryRecord.ID, _ change: GalleryReconfiguration, companion: CompanionRecord?
    ) async throws(GalleryError) -> GalleryReconfigurationReceipt {
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("reconfiguring a gallery") { db in
            let current = try Self.requireGallery(db, id)
            let updated = try current.reconfigured(by: change)
            var removed = 0
            if case let .dropEngine(identifier) = change, let entry = current.engine(named: identifier) {
                try db.execute(
                    sql: "DELETE FROM templates WHERE gallery_id = ? AND model_identifier = ?",
                    arguments: [id.rawValue, entry.templateModel])
                removed = db.changesCount
            }
            try db.execute(
                sql: "UPDATE galleries SET engines = ?, settings = ? WHERE id = ?",
                arguments: [
                    try GalleryEngineMigration.encode(updated.engines), try GallerySettingsMigration.encode(updated.settings),
                    id.rawValue,
                ])
            if change.changesEngines { try Self.bumpRevision(of: id, db) }
            let receipt = GalleryReconfigurationReceipt(gallery: updated, change: change, removedTemplates: removed)
            try Self.append(companion, change: .galleryReconfigured(receipt), db)
            try Self.recordChanges([PendingChange(.galleryReconfigured(receipt))], db)
            return receipt
        }
    }

    public func deleteGallery(_ id: GalleryRecord.ID, companion: CompanionRecord?) async throws(GalleryError) -> GalleryErasure {
        if let companion { try SQLIdentifier.validate(companion) }
        return try await write("deleting a gallery") { db in
            let gallery = try Self.requireGallery(db, id)
            let counts = try Self.counts(db, id)
            // The foreign keys cascade to subjects and templates.
            try db.execute(sql: "DELETE FROM galleries WHERE id = ?", arguments: [id.rawValue])
            let erasure = GalleryErasure(gallery: gallery, counts: counts)
            try Self.append(companion, change: .galleryDeleted(erasure), db)
            try Self.recordChanges([PendingChange(.galleryDeleted(erasure))], db)
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
        return try await write(subjects.count == 1 ? "enrolling a subject" : "enrolling \(subjects.count) subjects") { db in
            let galleryRecord = try Self.requireGallery(db, gallery)
            if !subjects.isEmpty { try Self.bumpRevision(of: gallery, db) }
            var enrolled: [EnrolledSubject] = []
            enrolled.reserveCapacity(subjects.count)
            for (subject, attributes) in zip(subjects, encoded) {
                try InputValidation.checkModels(of: subject.templates, against: galleryRecord)
                let duplicate = try Int64.fetchOne(
                    db, sql: "SELECT id FROM subjects WHERE gallery_id = ? AND external_reference = ?",
                    arguments: [gallery.rawValue, subject.externalReference])
                if duplicate != nil {
                    throw GalleryError.duplicateExternalReference(subject.externalReference, gallery: gallery)
                }
                let retainUntil = subject.retainUntil.map(StorageEncoding.milliseconds)
                try db.execute(
                    sql: """
                        INSERT INTO subjects
                            (gallery_id, external_reference, attributes, created_at_ms, updated_at_ms, retain_until_ms)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [gallery.rawValue, subject.externalReference, attributes, now, now, retainUntil])
                let record = SubjectRecord(
                    id: .init(db.lastInsertedRowID), galleryID: gallery, externalReference: subject.externalReference,
                    attributes: subject.attributes, createdAt: StorageEncoding.date(milliseconds: now),
                    updatedAt: StorageEncoding.date(milliseconds: now),
                    retainUntil: retainUntil.map(StorageEncoding.date(milliseconds:)))
                let templates = try Self.insert(subject.templates, for: record, enrolledAt: now, db)
                let subjectEnrolled = EnrolledSubject(subject: record, templates: templates)
                try Self.append(companion, change: .subjectEnrolled(subjectEnrolled), db)
                enrolled.append(subjectEnrolled)
            }
            try Self.recordChanges(enrolled.map { PendingChange(.subjectEnrolled($0)) }, db)
            return enrolled
        }
    }

    public func addTemplates(
        _ templates: [NewTemplate], to subject: SubjectRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [TemplateRecord] {
        try InputValidation.validate(templates)
        if let companion { try SQLIdentifier.validate(companion) }
        let now = StorageEncoding.milliseconds(Date())
        return try await write("adding templates") { db in
            var record = try Self.requireSubject(db, subject)
            let gallery = try Self.requireGallery(db, record.galleryID)
            try InputValidation.checkModels(of: templates, against: gallery)
            try Self.bumpRevision(of: gallery.id, db)
            let stored = try Self.insert(templates, for: record, enrolledAt: now, db)
            try db.execute(
                sql: "UPDATE subjects SET updated_at_ms = ? WHERE id = ?", arguments: [now, subject.rawValue])
            record.updatedAt = StorageEncoding.date(milliseconds: now)
            let change = GalleryChange.templatesAdded(subject: record, templates: stored)
            try Self.append(companion, change: change, db)
            try Self.recordChanges([PendingChange(change)], db)
            return stored
        }
    }

    public func addMissingTemplates(
        _ additions: [TemplateAddition], in gallery: GalleryRecord.ID, companion: CompanionRecord?
    ) async throws(GalleryError) -> [SubjectRecord.ID: [TemplateRecord]] {
        for addition in additions { try InputValidation.validate(addition.templates) }
        if let companion { try SQLIdentifier.validate(companion) }
        let now = StorageEncoding.milliseconds(Date())
        return try await write("adding missing templates") { db in
            let galleryRecord = try Self.requireGallery(db, gallery)
            var added: [SubjectRecord.ID: [TemplateRecord]] = [:]
            var changes: [PendingChange] = []
            for addition in additions {
                try InputValidation.checkModels(of: addition.templates, against: galleryRecord)
                let row = try Row.fetchOne(
                    db, sql: "SELECT \(SQLiteSchema.subjectColumns) FROM subjects WHERE id = ? AND gallery_id = ?",
                    arguments: [addition.subject.rawValue, gallery.rawValue])
                guard let row else { continue }
                var subject = try Self.subjectRecord(row)
                let held = Set(
                    try Row.fetchAll(
                        db, sql: "SELECT model_identifier, source_image_sha256 FROM templates WHERE subject_id = ?",
                        arguments: [addition.subject.rawValue]
                    ).map { TemplateOrigin(model: $0["model_identifier"], sourceImageSHA256: $0["source_image_sha256"]) })
                let missing = addition.templates.filter { !held.contains(TemplateOrigin($0)) }
                guard !missing.isEmpty else { continue }
                let stored = try Self.insert(missing, for: subject, enrolledAt: now, db)
                try db.execute(
                    sql: "UPDATE subjects SET updated_at_ms = ? WHERE id = ?", arguments: [now, addition.subject.rawValue])
                subject.updatedAt = StorageEncoding.date(milliseconds: now)
                added[subject.id] = stored
                changes.append(PendingChange(.templatesAdded(subject: subject, templates: stored)))
            }
            if !changes.isEmpty { try Self.bumpRevision(of: gallery, db) }
            try Self.append(companion, change: nil, db)
            try Self.recordChanges(changes, db)
            return added
        }
    }

    public func subject(_ id: SubjectRecord.ID) async throws(GalleryError) -> EnrolledSubject {
        try await read("reading a subject") { db in
            let subject = try Self.requireSubject(db, id)
            return EnrolledSubject(subject: subject, templates: try Self.templates(db, of: id))
        }
    }

    public func templateQualities(
        _ ids: [TemplateRecord.ID]
    ) async throws(GalleryError) -> [TemplateRecord.ID: TemplateQuality] {
        guard !ids.isEmpty else { return [:] }
        return try await read("reading template qualities") { db in
            let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            var qualities: [TemplateRecord.ID: TemplateQuality] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, quality FROM templates WHERE id IN (\(placeholders))",
                arguments: StatementArguments(ids.map(\.rawValue))) {
                qualities[.init(row["id"] as Int64)] = try StorageEncoding.decodeJSON(TemplateQuality.self, from: row["quality"])
            }
            return qualities
        }
    }

    public func subject(reference: String, in gallery: GalleryRecord.ID) async throws(GalleryError) -> EnrolledSubject {
        try await read("reading a subject") { db in
            _ = try Self.requireGallery(db, gallery)
            let row = try Row.fetchOne(
                db,
                sql: "SELECT \(SQLiteSchema.subjectColumns) FROM subjects WHERE gallery_id = ? AND external_reference = ?",
                arguments: [gallery.rawValue, reference])
            guard let row else { throw GalleryError.unknownExternalReference(reference, gallery: gallery) }
            let subject = try Self.subjectRecord(row)
            return EnrolledSubject(subject: subject, templates: try Self.templates(db, of: subject.id))
        }
    }

    public func subjects(
        in gallery: GalleryRecord.ID, after: SubjectRecord.ID?, limit: Int
    ) async throws(GalleryError) -> SubjectPage {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        return try await read("listing subjects") { db in
            _ = try Self.requireGallery(db, gallery)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(SQLiteSchema.subjectColumns) FROM subjects
                    WHERE gallery_id = ? AND id > ? ORDER BY id LIMIT ?
                    """,
                arguments: [gallery.rawValue, after?.rawValue ?? 0, limit + 1])
            var subjects = try rows.map(Self.subjectRecord)
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
        return try await write("deleting a subject") { db in
            let subject = try Self.requireSubject(db, id)
            let templateIDs = try Int64.fetchAll(
                db, sql: "SELECT id FROM templates WHERE subject_id = ? ORDER BY id", arguments: [id.rawValue]
            ).map(TemplateRecord.ID.init(rawValue:))
            try Self.bumpRevision(of: subject.galleryID, db)
            // The foreign key cascades to the templates.
            try db.execute(sql: "DELETE FROM subjects WHERE id = ?", arguments: [id.rawValue])
            let erasure = SubjectErasure(subject: subject, templateIDs: templateIDs)
            try Self.append(companion, change: .subjectDeleted(erasure), db)
            try Self.recordChanges([PendingChange(.subjectDeleted(erasure))], db)
            return erasure
        }
    }

    public func expiredSubjects(asOf date: Date, limit: Int) async throws(GalleryError) -> [SubjectRecord] {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        let now = StorageEncoding.milliseconds(date)
        return try await read("finding expired subjects") { db in
            try Row.fetchAll(
                db, sql: SQLiteSchema.expiredSubjectsQuery,
                arguments: [now, now, StorageEncoding.millisecondsPerDay, limit]
            ).map(Self.subjectRecord)
        }
    }

    public func templateVectors(
        in gallery: GalleryRecord.ID, after: TemplateRecord.ID?, limit: Int
    ) async throws(GalleryError) -> TemplateVectorBatch {
        try InputValidation.validate(pageSize: limit, field: "batchSize", maximum: InputValidation.maximumBatchSize)
        return try await read("reading template vectors") { db in
            _ = try Self.requireGallery(db, gallery)
            var batch = TemplateVectorBatch.empty
            batch.vectors.reserveCapacity(limit * TemplateFormat.dimension)
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, subject_id, vector, model_identifier FROM templates
                    WHERE gallery_id = ? AND id > ? ORDER BY id LIMIT ?
                    """,
                arguments: [gallery.rawValue, after?.rawValue ?? 0, limit])
            while let row = try rows.next() {
                batch.templateIDs.append(.init(row[0] as Int64))
                batch.subjectIDs.append(.init(row[1] as Int64))
                try StorageEncoding.appendVector(from: row[2] as Data, to: &batch.vectors)
                batch.modelIdentifiers.append(row[3] as String)
            }
            return batch
        }
    }

    public func counts(in gallery: GalleryRecord.ID) async throws(GalleryError) -> GalleryCounts {
        try await read("counting") { db in
            _ = try Self.requireGallery(db, gallery)
            return try Self.counts(db, gallery)
        }
    }

    public func revision(of gallery: GalleryRecord.ID) async throws(GalleryError) -> Int64 {
        try await read("reading a gallery revision") { db in
            guard let revision = try Int64.fetchOne(
                db, sql: "SELECT revision FROM galleries WHERE id = ?", arguments: [gallery.rawValue])
            else { throw GalleryError.unknownGallery(gallery) }
            return revision
        }
    }

    // MARK: - Change feed

    public func changes(after position: ChangeFeedPosition, limit: Int) async throws(GalleryError) -> [ChangeFeedEntry] {
        try InputValidation.validate(pageSize: limit, field: "limit", maximum: InputValidation.maximumPageSize)
        return try await read("reading the change feed") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(ChangeFeedSchema.columns) FROM gallery_changes WHERE position > ? ORDER BY position LIMIT ?",
                arguments: [position.rawValue, limit]
            ).map { row in
                try ChangeFeedEntry.decoded(
                    position: row[0], gallery: row[1], kind: row[2], subject: row[3], templateList: row[4],
                    revision: row[5], committedAt: row[6])
            }
        }
    }

    public func changeFeedHead() async throws(GalleryError) -> ChangeFeedPosition {
        try await read("reading the change feed head") { db in
            ChangeFeedPosition(try Int64.fetchOne(db, sql: "SELECT position FROM gallery_change_head") ?? 0)
        }
    }

    public func subjectRecords(_ ids: [SubjectRecord.ID]) async throws(GalleryError) -> [SubjectRecord] {
        guard !ids.isEmpty else { return [] }
        try InputValidation.validate(pageSize: ids.count, field: "ids", maximum: InputValidation.maximumPageSize)
        return try await read("reading subjects") { db in
            let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            return try Row.fetchAll(
                db,
                sql: "SELECT \(SQLiteSchema.subjectColumns) FROM subjects WHERE id IN (\(placeholders)) ORDER BY id",
                arguments: StatementArguments(ids.map(\.rawValue))
            ).map(Self.subjectRecord)
        }
    }

    public func templateVectors(_ ids: [TemplateRecord.ID]) async throws(GalleryError) -> TemplateVectorBatch {
        guard !ids.isEmpty else { return TemplateVectorBatch.empty }
        try InputValidation.validate(pageSize: ids.count, field: "ids", maximum: InputValidation.maximumPageSize)
        return try await read("reading template vectors") { db in
            var batch = TemplateVectorBatch.empty
            let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, subject_id, vector, model_identifier FROM templates
                    WHERE id IN (\(placeholders)) ORDER BY id
                    """,
                arguments: StatementArguments(ids.map(\.rawValue)))
            while let row = try rows.next() {
                batch.templateIDs.append(.init(row[0] as Int64))
                batch.subjectIDs.append(.init(row[1] as Int64))
                try StorageEncoding.appendVector(from: row[2] as Data, to: &batch.vectors)
                batch.modelIdentifiers.append(row[3] as String)
            }
            return batch
        }
    }

    // MARK: - Companion records

    // MARK: - Work leases

    public func claimLease(_ name: String, holder: String, duration: Duration) async throws(GalleryError) -> WorkLease {
        try WorkLease.validate(name: name, holder: holder, duration: duration)
        let now = StorageEncoding.milliseconds(Date())
        let expiry = now + WorkLease.milliseconds(duration)
        return try await write("claiming the lease '\(name)'") { db in
            try db.execute(
                sql: """
                    INSERT INTO work_leases (name, holder, expires_at_ms) VALUES (?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
                    WHERE work_leases.holder = excluded.holder OR work_leases.expires_at_ms <= ?
                    """,
                arguments: [name, holder, expiry, now])
            guard let row = try Row.fetchOne(
                db, sql: "SELECT holder, expires_at_ms FROM work_leases WHERE name = ?", arguments: [name])
            else { throw StoredDataError.missingRow }
            return WorkLease(
                name: name, holder: row["holder"], expiresAt: StorageEncoding.date(milliseconds: row["expires_at_ms"]))
        }
    }

    public func releaseLease(_ name: String, holder: String) async throws(GalleryError) {
        let now = StorageEncoding.milliseconds(Date())
        try await write("releasing the lease '\(name)'") { db in
            try db.execute(
                sql: "UPDATE work_leases SET expires_at_ms = min(expires_at_ms, ?) WHERE name = ? AND holder = ?",
                arguments: [now, name, holder])
        }
    }

    // MARK: - Companion records (appending)

    public func appendRecords(_ records: [CompanionRecord]) async throws(GalleryError) {
        for record in records { try SQLIdentifier.validate(record) }
        guard !records.isEmpty else { return }
        try await write("appending records") { db in
            for record in records {
                try Self.append(record, change: nil, db)
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
        var conditions = ["\"\(sequenceColumn)\" > ?"]
        var values: [(any DatabaseValueConvertible)?] = [after ?? Int64.min]
        Self.appendEqualities(matching, to: &conditions, values: &values)
        values.append(limit)
        let sql = """
            SELECT * FROM "\(table)" WHERE \(conditions.joined(separator: " AND "))
            ORDER BY "\(sequenceColumn)" LIMIT ?
            """
        let arguments = StatementArguments(values)
        return try await read("reading records") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.storeRow)
        }
    }

    public func records(in table: String, keyColumn: String, keys: [Int64]) async throws(GalleryError) -> [StoreRow] {
        try CompanionQuery.validate(table: table, rangeColumn: keyColumn, rangeRole: "companion key column", matching: [:], limit: max(keys.count, 1))
        guard !keys.isEmpty else { return [] }
        return try await read("reading records") { db in
            try Self.rows(in: table, keyColumn: keyColumn, keys: keys, db)
        }
    }

    private static func rows(in table: String, keyColumn: String, keys: [Int64], _ db: Database) throws -> [StoreRow] {
        let placeholders = Array(repeating: "?", count: keys.count).joined(separator: ", ")
        return try Row.fetchAll(
            db, sql: "SELECT * FROM \"\(table)\" WHERE \"\(keyColumn)\" IN (\(placeholders)) ORDER BY \"\(keyColumn)\"",
            arguments: StatementArguments(keys)
        ).map(storeRow)
    }

    public func lastRecord(
        in table: String, matching: [String: StoreValue], orderedBy sequenceColumn: String
    ) async throws(GalleryError) -> StoreRow? {
        try CompanionQuery.validate(table: table, rangeColumn: sequenceColumn, matching: matching, limit: 1)
        var conditions = ["1 = 1"]
        var values: [(any DatabaseValueConvertible)?] = []
        Self.appendEqualities(matching, to: &conditions, values: &values)
        let sql = """
            SELECT * FROM "\(table)" WHERE \(conditions.joined(separator: " AND "))
            ORDER BY "\(sequenceColumn)" DESC LIMIT 1
            """
        let arguments = StatementArguments(values)
        return try await read("reading a record") { db in
            try Row.fetchOne(db, sql: sql, arguments: arguments).map(Self.storeRow)
        }
    }

    public func deleteRecords(
        in table: String, matching: [String: StoreValue], where column: String, atMost: Int64, limit: Int
    ) async throws(GalleryError) -> Int {
        try CompanionQuery.validate(
            table: table, rangeColumn: column, rangeRole: "companion column", matching: matching, limit: limit)
        var conditions = ["\"\(column)\" <= ?"]
        var values: [(any DatabaseValueConvertible)?] = [atMost]
        Self.appendEqualities(matching, to: &conditions, values: &values)
        values.append(limit)
        // SQLite's DELETE has no LIMIT unless built with it: delete by rowid from a limited select.
        let sql = """
            DELETE FROM "\(table)" WHERE rowid IN (
                SELECT rowid FROM "\(table)" WHERE \(conditions.joined(separator: " AND ")) LIMIT ?)
            """
        let arguments = StatementArguments(values)
        return try await write("deleting expired records") { db in
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount
        }
    }

    /// Appends `"column" = ?` (or `IS NULL`) for each filter, its value to `values`; sorted by
    /// column so the same filter always gives the same statement (and statement cache entry).
    private static func appendEqualities(
        _ matching: [String: StoreValue], to conditions: inout [String], values: inout [(any DatabaseValueConvertible)?]
    ) {
        for (column, value) in matching.sorted(by: { $0.key < $1.key }) {
            if value == .null {
                conditions.append("\"\(column)\" IS NULL")
            } else {
                conditions.append("\"\(column)\" = ?")
                values.append(databaseValue(value))
            }
        }
    }

    // MARK: - Row helpers (run inside a transaction or snapshot)

    private static func fetchGallery(_ db: Database, named name: String) throws -> GalleryRecord? {
        try Row.fetchOne(
            db, sql: "SELECT \(SQLiteSchema.galleryColumns) FROM galleries WHERE name = ?", arguments: [name]
        ).map(galleryRecord)
    }

    private static func requireGallery(_ db: Database, _ id: GalleryRecord.ID) throws -> GalleryRecord {
        let row = try Row.fetchOne(
            db, sql: "SELECT \(SQLiteSchema.galleryColumns) FROM galleries WHERE id = ?", arguments: [id.rawValue])
        guard let row else { throw GalleryError.unknownGallery(id) }
        return try galleryRecord(row)
    }

    /// Counts a change to the gallery's subjects or templates, inside the change's transaction.
    private static func bumpRevision(of gallery: GalleryRecord.ID, _ db: Database) throws {
        try db.execute(sql: SQLiteSchema.bumpRevision, arguments: [gallery.rawValue])
    }

    private static func requireSubject(_ db: Database, _ id: SubjectRecord.ID) throws -> SubjectRecord {
        let row = try Row.fetchOne(
            db, sql: "SELECT \(SQLiteSchema.subjectColumns) FROM subjects WHERE id = ?", arguments: [id.rawValue])
        guard let row else { throw GalleryError.unknownSubject(id) }
        return try subjectRecord(row)
    }

    private static func templates(_ db: Database, of subject: SubjectRecord.ID) throws -> [TemplateRecord] {
        try Row.fetchAll(
            db, sql: "SELECT \(SQLiteSchema.templateColumns) FROM templates WHERE subject_id = ? ORDER BY id",
            arguments: [subject.rawValue]
        ).map(templateRecord)
    }

    private static func counts(_ db: Database, _ gallery: GalleryRecord.ID) throws -> GalleryCounts {
        let subjects = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM subjects WHERE gallery_id = ?", arguments: [gallery.rawValue]) ?? 0
        let templates = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM templates WHERE gallery_id = ?", arguments: [gallery.rawValue]) ?? 0
        return GalleryCounts(subjects: subjects, templates: templates)
    }

    private static func insert(
        _ templates: [NewTemplate], for subject: SubjectRecord, enrolledAt: Int64, _ db: Database
    ) throws -> [TemplateRecord] {
        var stored: [TemplateRecord] = []
        stored.reserveCapacity(templates.count)
        for template in templates {
            let digest = template.sourceImageSHA256.lowercased()
            let capturedAt = StorageEncoding.milliseconds(template.capturedAt)
            try db.execute(
                sql: """
                    INSERT INTO templates
                        (gallery_id, subject_id, model_identifier, vector, quality, source_image_sha256,
                         captured_at_ms, enrolled_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    subject.galleryID.rawValue, subject.id.rawValue, template.modelIdentifier,
                    StorageEncoding.blob(from: template.vector), try StorageEncoding.json(template.quality), digest,
                    capturedAt, enrolledAt,
                ])
            stored.append(
                TemplateRecord(
                    id: .init(db.lastInsertedRowID), subjectID: subject.id, modelIdentifier: template.modelIdentifier,
                    vector: template.vector, quality: template.quality, sourceImageSHA256: digest,
                    capturedAt: StorageEncoding.date(milliseconds: capturedAt),
                    enrolledAt: StorageEncoding.date(milliseconds: enrolledAt)))
        }
        return stored
    }

    /// Appends the changes to the feed, last in the change's transaction. SQLite has one writer
    /// at a time, so the head row hands out positions in commit order.
    private static func recordChanges(_ changes: [PendingChange], _ db: Database) throws {
        guard !changes.isEmpty else { return }
        try db.execute(
            sql: "UPDATE gallery_change_head SET position = position + ? WHERE singleton = 1", arguments: [changes.count])
        guard let last = try Int64.fetchOne(db, sql: "SELECT position FROM gallery_change_head") else {
            throw StoredDataError.missingRow
        }
        let now = StorageEncoding.milliseconds(Date())
        for (offset, change) in changes.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO gallery_changes (\(ChangeFeedSchema.columns))
                    VALUES (?, ?, ?, ?, ?, (SELECT revision FROM galleries WHERE id = ?), ?)
                    """,
                arguments: [
                    last - Int64(changes.count - 1 - offset), change.gallery.rawValue, change.kind.rawValue,
                    change.subject?.rawValue, change.templateList, change.gallery.rawValue, now,
                ])
        }
    }

    /// Appends a companion row after the change it records, inside the same transaction; a
    /// writer transaction already excludes other appenders, so the previous row is stable.
    private static func append(_ record: CompanionRecord?, change: GalleryChange?, _ db: Database) throws {
        for each in record?.appendOrder ?? [] {
            try appendOne(each, change: change, db)
        }
    }

    private static func appendOne(_ record: CompanionRecord, change: GalleryChange?, _ db: Database) throws {
        do {
            let previous = try Row.fetchOne(
                db, sql: "SELECT * FROM \"\(record.table)\" ORDER BY \"\(record.sequenceColumn)\" DESC LIMIT 1"
            ).map(storeRow)
            var earlier: [Int64: StoreRow] = [:]
            if let keys = try record.lookback?(previous), !keys.isEmpty {
                for row in try rows(in: record.table, keyColumn: record.sequenceColumn, keys: keys, db) {
                    if case .integer(let key)? = row[record.sequenceColumn] { earlier[key] = row }
                }
            }
            let row = try record.makeRow(CompanionContext(change: change, previousRow: previous, earlierRows: earlier))
            try SQLIdentifier.validate(row: row, table: record.table)
            let columns = row.keys.sorted()
            let columnList = columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
            let values = columns.map { column in databaseValue(row[column] ?? .null) }
            try db.execute(
                sql: "INSERT INTO \"\(record.table)\" (\(columnList)) VALUES (\(placeholders))",
                arguments: StatementArguments(values))
        } catch {
            throw GalleryError.companionRecordFailed(table: record.table, underlying: error)
        }
    }

    private static func databaseValue(_ value: StoreValue) -> (any DatabaseValueConvertible)? {
        switch value {
        case .null: nil
        case .integer(let value): value
        case .real(let value): value
        case .text(let value): value
        case .blob(let value): value
        }
    }

    // MARK: - Decoding

    private static func galleryRecord(_ row: Row) throws -> GalleryRecord {
        GalleryRecord(
            id: .init(row["id"] as Int64), name: row["name"], description: row["description"],
            purpose: try StorageEncoding.purpose(row["purpose"]),
            retention: StorageEncoding.retention(days: row["retention_days"]),
            operatingThreshold: Float(row["operating_threshold"] as Double),
            modelIdentifier: row["model_identifier"],
            createdAt: StorageEncoding.date(milliseconds: row["created_at_ms"]),
            engines: try GalleryEngineMigration.decode(row["engines"], modelIdentifier: row["model_identifier"]),
            defaultEngine: row["default_engine"], settings: try GallerySettingsMigration.decode(row["settings"]))
    }

    private static func subjectRecord(_ row: Row) throws -> SubjectRecord {
        SubjectRecord(
            id: .init(row["id"] as Int64), galleryID: .init(row["gallery_id"] as Int64),
            externalReference: row["external_reference"],
            attributes: try StorageEncoding.decodeJSON([String: String].self, from: row["attributes"]),
            createdAt: StorageEncoding.date(milliseconds: row["created_at_ms"]),
            updatedAt: StorageEncoding.date(milliseconds: row["updated_at_ms"]),
            retainUntil: (row["retain_until_ms"] as Int64?).map(StorageEncoding.date(milliseconds:)))
    }

    private static func templateRecord(_ row: Row) throws -> TemplateRecord {
        TemplateRecord(
            id: .init(row["id"] as Int64), subjectID: .init(row["subject_id"] as Int64),
            modelIdentifier: row["model_identifier"],
            vector: try StorageEncoding.vector(from: row["vector"] as Data),
            quality: try StorageEncoding.decodeJSON(TemplateQuality.self, from: row["quality"]),
            sourceImageSHA256: row["source_image_sha256"],
            capturedAt: StorageEncoding.date(milliseconds: row["captured_at_ms"]),
            enrolledAt: StorageEncoding.date(milliseconds: row["enrolled_at_ms"]))
    }

    private static func storeRow(_ row: Row) -> StoreRow {
        var values: StoreRow = [:]
        for (column, value) in row {
            switch value.storage {
            case .null: values[column] = .null
            case .int64(let integer): values[column] = .integer(integer)
            case .double(let real): values[column] = .real(real)
            case .string(let text): values[column] = .text(text)
            case .blob(let data): values[column] = .blob(data)
            }
        }
        return values
    }
}
