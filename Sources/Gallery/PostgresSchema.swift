/// The PostgreSQL schema, as versioned migrations recorded in `schema_migrations`. A shipped
/// migration is never edited: later changes are new migrations appended to ``migrations``.
enum PostgresSchema {
    static let migrations: [SchemaMigration] = [version1, version2, version3, version4, version5, version6]

    /// The same tables as ``SQLiteSchema/version1``: times in integer milliseconds since 1970
    /// UTC, vectors as 512-byte bytea of little-endian Float32, attributes and quality as JSON text.
    static let version1 = SchemaMigration(
        identifier: "gallery.v1-galleries-subjects-templates",
        statements: [
            """
            CREATE TABLE galleries (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL CONSTRAINT galleries_name_unique UNIQUE,
                description text NOT NULL,
                purpose text NOT NULL CHECK (purpose IN ('custody', 'immigration', 'watchlist', 'other')),
                retention_days bigint CHECK (retention_days IS NULL OR retention_days > 0),
                operating_threshold real NOT NULL CHECK (operating_threshold BETWEEN -1 AND 1),
                model_identifier text NOT NULL,
                created_at_ms bigint NOT NULL
            )
            """,
            """
            CREATE TABLE subjects (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                gallery_id bigint NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
                external_reference text NOT NULL,
                attributes text NOT NULL,
                created_at_ms bigint NOT NULL,
                updated_at_ms bigint NOT NULL,
                retain_until_ms bigint,
                CONSTRAINT subjects_reference_unique UNIQUE (gallery_id, external_reference),
                CONSTRAINT subjects_gallery_id_unique UNIQUE (gallery_id, id)
            )
            """,
            "CREATE INDEX subjects_retain_until ON subjects (retain_until_ms) WHERE retain_until_ms IS NOT NULL",
            "CREATE INDEX subjects_gallery_created ON subjects (gallery_id, created_at_ms)",
            """
            CREATE TABLE templates (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                gallery_id bigint NOT NULL,
                subject_id bigint NOT NULL,
                model_identifier text NOT NULL,
                vector bytea NOT NULL CHECK (octet_length(vector) = \(TemplateFormat.byteCount)),
                quality text NOT NULL,
                source_image_sha256 text NOT NULL,
                captured_at_ms bigint NOT NULL,
                enrolled_at_ms bigint NOT NULL,
                FOREIGN KEY (gallery_id, subject_id) REFERENCES subjects (gallery_id, id) ON DELETE CASCADE
            )
            """,
            "CREATE INDEX templates_subject ON templates (subject_id)",
            "CREATE INDEX templates_gallery ON templates (gallery_id, id)",
        ])

    /// The revision of ``SQLiteSchema/version2``: one more with every committed change to a
    /// gallery's subjects or templates.
    static let version2 = SchemaMigration(
        identifier: "gallery.v2-gallery-revision",
        statements: ["ALTER TABLE galleries ADD COLUMN revision bigint NOT NULL DEFAULT 0 CHECK (revision >= 0)"])

    /// The change feed of ``SQLiteSchema/version3``.
    static let version3 = SchemaMigration(
        identifier: "gallery.v3-change-feed",
        statements: ChangeFeedSchema.statements(integer: "bigint", strict: ""))

    static let galleryColumns = SQLiteSchema.galleryColumns
    static let subjectColumns = SQLiteSchema.subjectColumns
    static let templateColumns = SQLiteSchema.templateColumns

    /// Binds: $1 now, $2 milliseconds per day, $3 limit.
    static let expiredSubjectsQuery = """
        SELECT \(subjectColumns) FROM subjects
        WHERE retain_until_ms IS NOT NULL AND retain_until_ms <= $1
        UNION
        SELECT s.id, s.gallery_id, s.external_reference, s.attributes, s.created_at_ms, s.updated_at_ms,
               s.retain_until_ms
        FROM galleries g JOIN subjects s ON s.gallery_id = g.id
        WHERE g.retention_days IS NOT NULL AND s.created_at_ms <= $1 - g.retention_days * $2
        ORDER BY id
        LIMIT $3
        """

    /// The work leases of ``SQLiteSchema/version4``; expiries by the server's clock.
    static let version4 = SchemaMigration(
        identifier: "gallery.v4-work-leases",
        statements: [
            """
            CREATE TABLE work_leases (
                name text PRIMARY KEY,
                holder text NOT NULL,
                expires_at_ms bigint NOT NULL
            )
            """
        ])

    /// A gallery's engines (``GalleryEngine`` list as JSON text) and its default engine; see
    /// ``GalleryEngineMigration``.
    static let version5 = SchemaMigration(
        identifier: GalleryEngineMigration.identifier, statements: GalleryEngineMigration.statements(text: "text"))

    /// The settings column of ``SQLiteSchema/version6``.
    static let version6 = SchemaMigration(
        identifier: GallerySettingsMigration.identifier, statements: GallerySettingsMigration.statements(text: "text"))
}
