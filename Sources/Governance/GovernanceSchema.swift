import Gallery

/// The SQL dialect of the store the governance tables live in.
public enum SQLDialect: Sendable, Hashable {
    /// ``SQLiteGalleryStore``.
    case sqlite
    /// ``PostgresGalleryStore``.
    case postgresql
}

/// The governance tables, created on the gallery store by ``SchemaMigration``s so that key and
/// audit rows commit in the same transactions as the gallery changes they concern.
///
/// Every table is append-only: a revocation is a new row, not an update. Triggers refuse UPDATE
/// and DELETE (and TRUNCATE in PostgreSQL) so that a mistake cannot rewrite history; someone
/// who controls the database can drop them, which is what the audit chain's hashes catch.
/// Column types are the ones both databases share (BIGINT, TEXT); times are milliseconds since
/// 1970 UTC; hashes are lower-case hex.
public enum GovernanceSchema {
    /// Stored keys: `key_id`, `name`, `role`, `galleries` (JSON array of names; NULL for every
    /// gallery), `secret_sha256`, `created_at_ms`.
    public static let keysTable = "api_keys"
    /// One row per revoked key: `revocation_id`, `key_id`, `revoked_at_ms`.
    public static let revocationsTable = "api_key_revocations"
    /// The audit chain; see ``AuditEntry`` for its columns.
    public static let auditTable = "audit_log"
    /// Signed checkpoints of the audit tree: `tree_size`, `root_hash` (hex), `note` (the signed
    /// note), `created_at_ms`.
    public static let checkpointsTable = "audit_checkpoints"

    /// The migrations to pass to the store when it opens (after any of the caller's own).
    public static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        [
            SchemaMigration(
                identifier: "governance.v1-api-keys",
                statements: [
                    """
                    CREATE TABLE api_keys (
                        key_id BIGINT PRIMARY KEY,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL,
                        galleries TEXT,
                        secret_sha256 TEXT NOT NULL UNIQUE,
                        created_at_ms BIGINT NOT NULL
                    )
                    """,
                    """
                    CREATE TABLE api_key_revocations (
                        revocation_id BIGINT PRIMARY KEY,
                        key_id BIGINT NOT NULL UNIQUE REFERENCES api_keys (key_id),
                        revoked_at_ms BIGINT NOT NULL
                    )
                    """,
                ] + appendOnlyStatements(for: [keysTable, revocationsTable], dialect: dialect, createFunction: true)
            ),
            SchemaMigration(
                identifier: "governance.v1-audit-log",
                statements: [
                    """
                    CREATE TABLE audit_log (
                        position BIGINT PRIMARY KEY,
                        sequence BIGINT NOT NULL,
                        recorded_at_ms BIGINT NOT NULL,
                        key_id BIGINT,
                        role TEXT,
                        system_actor TEXT,
                        action TEXT NOT NULL,
                        gallery_id BIGINT,
                        gallery_name TEXT,
                        purpose TEXT,
                        case_reference TEXT,
                        probe_sha256 TEXT,
                        parameters TEXT NOT NULL,
                        result TEXT NOT NULL,
                        previous_hash TEXT NOT NULL,
                        entry_hash TEXT NOT NULL
                    )
                    """
                ] + appendOnlyStatements(for: [auditTable], dialect: dialect, createFunction: false)
            ),
            SchemaMigration(
                identifier: "governance.v2-audit-tree",
                statements: [
                    """
                    CREATE TABLE audit_tree (
                        position BIGINT PRIMARY KEY,
                        nodes \(dialect == .sqlite ? "BLOB" : "BYTEA") NOT NULL
                    )
                    """,
                    """
                    CREATE TABLE audit_checkpoints (
                        tree_size BIGINT PRIMARY KEY,
                        root_hash TEXT NOT NULL,
                        note TEXT NOT NULL,
                        created_at_ms BIGINT NOT NULL
                    )
                    """,
                ] + appendOnlyStatements(for: [AuditTree.table, checkpointsTable], dialect: dialect, createFunction: false)
            ),
        ]
    }

    /// Triggers that refuse changes to rows already written.
    private static func appendOnlyStatements(for tables: [String], dialect: SQLDialect, createFunction: Bool) -> [String] {
        switch dialect {
        case .sqlite:
            return tables.flatMap { table in
                ["UPDATE", "DELETE"].map { event in
                    """
                    CREATE TRIGGER \(table)_refuse_\(event.lowercased()) BEFORE \(event) ON \(table)
                    BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
                    """
                }
            }
        case .postgresql:
            let function = """
                CREATE FUNCTION governance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END
                $$
                """
            return (createFunction ? [function] : []) + tables.flatMap { table in
                [
                    """
                    CREATE TRIGGER \(table)_refuse_change BEFORE UPDATE OR DELETE ON \(table)
                    FOR EACH ROW EXECUTE FUNCTION governance_refuse_change()
                    """,
                    """
                    CREATE TRIGGER \(table)_refuse_truncate BEFORE TRUNCATE ON \(table)
                    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change()
                    """,
                ]
            }
        }
    }
}
