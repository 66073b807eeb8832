import Gallery
import Governance

/// The review and crop tables, created on the gallery store by ``SchemaMigration``s (pass
/// ``migrations(for:)`` when the store opens, after ``GovernanceSchema/migrations(for:)``).
///
/// Erasure is structural: every row that concerns a subject references it, or its template, or
/// its gallery, with `ON DELETE CASCADE`, so the store's own subject and gallery deletions
/// remove crops, candidate rows and decisions in the same transaction, in SQLite and PostgreSQL
/// alike. Rows are never updated (triggers refuse it); a decision cannot be rewritten.
///
/// | table | key | holds |
/// |---|---|---|
/// | `template_crops` | `template_id` → `templates(id)` | the sealed aligned crop of an enrolled template |
/// | `review_cases` | `case_id`; `gallery_id` → `galleries(id)` | one search of a gallery that needs review |
/// | `review_candidates` | (`case_id`, `candidate_rank`); `subject_id` → `subjects(id)` | the candidate list |
/// | `review_probe_faces` | (`case_id`, `face_index`) → `review_cases` | the probe's sealed crop and quality |
/// | `review_decisions` | `decision_id`; (`case_id`, `subject_id`) unique → `review_candidates` | one decision per candidate |
///
/// The view `review_queue` lists the cases with at least one undecided candidate, with
/// `candidate_count` and `decision_count`.
public enum ReviewSchema {
    /// Sealed enrolment crops.
    public static let templateCropsTable = "template_crops"
    /// Review cases.
    public static let casesTable = "review_cases"
    /// Candidates of review cases.
    public static let candidatesTable = "review_candidates"
    /// Probe faces of review cases.
    public static let probeFacesTable = "review_probe_faces"
    /// Review decisions.
    public static let decisionsTable = "review_decisions"
    /// Cases awaiting review.
    public static let queueView = "review_queue"

    static let tables = [templateCropsTable, casesTable, candidatesTable, probeFacesTable, decisionsTable]

    /// The migrations to pass to the store when it opens.
    public static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        let types = ColumnTypes(dialect)
        let integer = types.integer
        let real = types.real
        let text = types.text
        let blob = types.blob
        let strict = types.tableSuffix
        return [
            SchemaMigration(
                identifier: "review.v1-crops-cases-decisions",
                statements: [
                    """
                    CREATE TABLE template_crops (
                        template_id \(integer) PRIMARY KEY REFERENCES templates (id) ON DELETE CASCADE,
                        key_fingerprint \(text) NOT NULL,
                        sealed \(blob) NOT NULL,
                        stored_at_ms \(integer) NOT NULL
                    )\(strict)
                    """,
                    """
                    CREATE TABLE review_cases (
                        case_id \(integer) PRIMARY KEY CHECK (case_id > 0),
                        gallery_id \(integer) NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
                        gallery_name \(text) NOT NULL,
                        search_sequence \(integer) NOT NULL CONSTRAINT review_cases_search_unique UNIQUE,
                        purpose \(text) NOT NULL,
                        case_reference \(text) NOT NULL,
                        probe_sha256 \(text) NOT NULL,
                        searcher_key_id \(integer),
                        searcher_role \(text),
                        searcher_system_actor \(text),
                        searcher_name \(text),
                        threshold \(real) NOT NULL,
                        opened_at_ms \(integer) NOT NULL
                    )\(strict)
                    """,
                    "CREATE INDEX review_cases_gallery ON review_cases (gallery_id)",
                    "CREATE INDEX review_cases_gallery_name ON review_cases (gallery_name, case_id)",
                    """
                    CREATE TABLE review_candidates (
                        case_id \(integer) NOT NULL REFERENCES review_cases (case_id) ON DELETE CASCADE,
                        candidate_rank \(integer) NOT NULL CHECK (candidate_rank > 0),
                        subject_id \(integer) NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
                        subject_reference \(text) NOT NULL,
                        template_id \(integer) NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
                        score \(real) NOT NULL,
                        PRIMARY KEY (case_id, candidate_rank),
                        CONSTRAINT review_candidates_subject_unique UNIQUE (case_id, subject_id)
                    )\(strict)
                    """,
                    "CREATE INDEX review_candidates_subject ON review_candidates (subject_id)",
                    "CREATE INDEX review_candidates_template ON review_candidates (template_id)",
                    """
                    CREATE TABLE review_probe_faces (
                        case_id \(integer) NOT NULL REFERENCES review_cases (case_id) ON DELETE CASCADE,
                        face_index \(integer) NOT NULL CHECK (face_index >= 0),
                        detection_score \(real) NOT NULL,
                        quality \(text) NOT NULL,
                        key_fingerprint \(text) NOT NULL,
                        sealed \(blob) NOT NULL,
                        PRIMARY KEY (case_id, face_index)
                    )\(strict)
                    """,
                    """
                    CREATE TABLE review_decisions (
                        decision_id \(integer) PRIMARY KEY CHECK (decision_id > 0),
                        case_id \(integer) NOT NULL,
                        subject_id \(integer) NOT NULL,
                        verdict \(text) NOT NULL CHECK (verdict IN ('confirmed', 'rejected', 'inconclusive')),
                        note \(text) NOT NULL,
                        reviewer_key_id \(integer),
                        reviewer_role \(text),
                        reviewer_system_actor \(text),
                        reviewer_name \(text) NOT NULL,
                        audit_sequence \(integer) NOT NULL,
                        decided_at_ms \(integer) NOT NULL,
                        CONSTRAINT review_decisions_candidate_unique UNIQUE (case_id, subject_id),
                        FOREIGN KEY (case_id, subject_id) REFERENCES review_candidates (case_id, subject_id)
                            ON DELETE CASCADE
                    )\(strict)
                    """,
                    """
                    CREATE VIEW review_queue AS
                    SELECT case_id, gallery_id, gallery_name, search_sequence, purpose, case_reference, threshold,
                           opened_at_ms, candidate_count, decision_count
                    FROM (
                        SELECT c.case_id, c.gallery_id, c.gallery_name, c.search_sequence, c.purpose,
                               c.case_reference, c.threshold, c.opened_at_ms,
                               (SELECT COUNT(*) FROM review_candidates k WHERE k.case_id = c.case_id) AS candidate_count,
                               (SELECT COUNT(*) FROM review_decisions d WHERE d.case_id = c.case_id) AS decision_count
                        FROM review_cases c
                    ) counted
                    WHERE decision_count < candidate_count
                    """,
                ] + refuseUpdates(dialect)
            ),
            // Which engine's scores a case holds, and which way they point (a dlib distance is a
            // match below the threshold); cases recorded before engines existed are SFace's.
            SchemaMigration(
                identifier: "review.v3-case-engine",
                statements: [
                    "ALTER TABLE review_cases ADD COLUMN engine \(text) NOT NULL DEFAULT 'sface'",
                    "ALTER TABLE review_cases ADD COLUMN higher_is_more_alike \(integer) NOT NULL DEFAULT 1",
                ]),
        ]
    }

    /// Triggers that refuse UPDATE on every review table (deletions stay possible: erasure
    /// cascades through them).
    private static func refuseUpdates(_ dialect: SQLDialect) -> [String] {
        switch dialect {
        case .sqlite:
            return tables.map { table in
                """
                CREATE TRIGGER \(table)_refuse_update BEFORE UPDATE ON \(table)
                BEGIN SELECT RAISE(ABORT, '\(table) rows are never changed'); END
                """
            }
        case .postgresql:
            let function = """
                CREATE FUNCTION review_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% rows are never changed', TG_TABLE_NAME; END
                $$
                """
            return [function] + tables.map { table in
                """
                CREATE TRIGGER \(table)_refuse_update BEFORE UPDATE ON \(table)
                FOR EACH ROW EXECUTE FUNCTION review_refuse_update()
                """
            }
        }
    }

    /// Column types each dialect stores natively (SQLite tables are STRICT).
    private struct ColumnTypes {
        let integer: String
        let real: String
        let text: String
        let blob: String
        let tableSuffix: String

        init(_ dialect: SQLDialect) {
            switch dialect {
            case .sqlite:
                (integer, real, text, blob, tableSuffix) = ("INTEGER", "REAL", "TEXT", "BLOB", " STRICT")
            case .postgresql:
                (integer, real, text, blob, tableSuffix) = ("bigint", "double precision", "text", "bytea", "")
            }
        }
    }
}
