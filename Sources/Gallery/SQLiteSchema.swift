/// The SQLite schema, as versioned migrations. A shipped migration is never edited: later
/// changes are new migrations appended to ``migrations``.
enum SQLiteSchema {
    static let migrations: [SchemaMigration] = [version1, version2, version3, version4, version5, version6]

    /// Galleries, subjects and templates. Times are integer milliseconds since 1970 UTC;
    /// vectors are 128 little-endian Float32 values; attributes and quality are JSON text.
    /// Templates carry their gallery (checked by the composite foreign key) so an index rebuild
    /// walks one gallery's templates in identifier order through an index.
    static let version1 = SchemaMigration(
        identifier: "gallery.v1-galleries-subjects-templates",
        statements: [
            """
            CREATE TABLE galleries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL CONSTRAINT galleries_name_unique UNIQUE,
                description TEXT NOT NULL,
                purpose TEXT NOT NULL CHECK (purpose IN ('custody', 'immigration', 'watchlist', 'other')),
                retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0),
                operating_threshold REAL NOT NULL CHECK (operating_threshold BETWEEN -1 AND 1),
                model_identifier TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL
            ) STRICT
            """,
            """
            CREATE TABLE subjects (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                gallery_id INTEGER NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
                external_reference TEXT NOT NULL,
                attributes TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                retain_until_ms INTEGER,
                CONSTRAINT subjects_reference_unique UNIQUE (gallery_id, external_reference),
                CONSTRAINT subjects_gallery_id_unique UNIQUE (gallery_id, id)
            ) STRICT
            """,
            "CREATE INDEX subjects_retain_until ON subjects (retain_until_ms) WHERE retain_until_ms IS NOT NULL",
            "CREATE INDEX subjects_gallery_created ON subjects (gallery_id, created_at_ms)",
            """
            CREATE TABLE templates (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                gallery_id INTEGER NOT NULL,
                subject_id INTEGER NOT NULL,
                model_identifier TEXT NOT NULL,
                vector BLOB NOT NULL CHECK (length(vector) = \(TemplateFormat.byteCount)),
                quality TEXT NOT NULL,
                source_image_sha256 TEXT NOT NULL,
                captured_at_ms INTEGER NOT NULL,
                enrolled_at_ms INTEGER NOT NULL,
                FOREIGN KEY (gallery_id, subject_id) REFERENCES subjects (gallery_id, id) ON DELETE CASCADE
            ) STRICT
            """,
            "CREATE INDEX templates_subject ON templates (subject_id)",
            "CREATE INDEX templates_gallery ON templates (gallery_id, id)",
        ])

    /// A per-gallery revision: the store adds one to it in the same transaction as every change
    /// to the gallery's subjects or templates, so a saved index that records the revision it
    /// reflects can be checked for freshness without reading the gallery.
    static let version2 = SchemaMigration(
        identifier: "gallery.v2-gallery-revision",
        statements: ["ALTER TABLE galleries ADD COLUMN revision INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0)"])

    /// The change feed (``ChangeFeedSchema``): one row per committed change, positions from a
    /// one-row counter updated in the same transaction.
    static let version3 = SchemaMigration(
        identifier: "gallery.v3-change-feed",
        statements: ChangeFeedSchema.statements(integer: "INTEGER", strict: " STRICT"))

    /// Argument: the gallery identifier.
    static let bumpRevision = "UPDATE galleries SET revision = revision + 1 WHERE id = ?"

    static let galleryColumns =
        "id, name, description, purpose, retention_days, operating_threshold, model_identifier, created_at_ms, engines, default_engine, settings"
    static let subjectColumns =
        "id, gallery_id, external_reference, attributes, created_at_ms, updated_at_ms, retain_until_ms"
    static let templateColumns = """
        id, subject_id, model_identifier, vector, quality, source_image_sha256, captured_at_ms, enrolled_at_ms
        """

    /// Arguments: now, now, milliseconds per day, limit. The two branches each use an index:
    /// subjects by their own date, and each gallery with a retention period by enrolment date.
    static let expiredSubjectsQuery = """
        SELECT \(subjectColumns) FROM subjects
        WHERE retain_until_ms IS NOT NULL AND retain_until_ms <= ?
        UNION
        SELECT s.id, s.gallery_id, s.external_reference, s.attributes, s.created_at_ms, s.updated_at_ms,
               s.retain_until_ms
        FROM galleries g JOIN subjects s ON s.gallery_id = g.id
        WHERE g.retention_days IS NOT NULL AND s.created_at_ms <= ? - g.retention_days * ?
        ORDER BY id
        LIMIT ?
        """

    /// Work leases (``WorkLease``): one row per named job, its holder and expiry.
    static let version4 = SchemaMigration(
        identifier: "gallery.v4-work-leases",
        statements: [
            """
            CREATE TABLE work_leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at_ms INTEGER NOT NULL
            )
            """
        ])

    /// A gallery's engines (``GalleryEngine`` list as JSON text) and its default engine; see
    /// ``GalleryEngineMigration``.
    static let version5 = SchemaMigration(
        identifier: GalleryEngineMigration.identifier, statements: GalleryEngineMigration.statements(text: "TEXT"))

    /// A gallery's settings (``GallerySettings`` as JSON text); see ``GallerySettingsMigration``.
    static let version6 = SchemaMigration(
        identifier: GallerySettingsMigration.identifier, statements: GallerySettingsMigration.statements(text: "TEXT"))
}
