import Foundation
import Gallery
import Governance

/// A background job that makes a newly added engine's templates for the subjects a gallery held
/// before the engine was added, from their kept enrolment images.
public struct EngineJob: Sendable, Hashable, Codable {
    /// Where a job stands.
    public enum State: String, Sendable, Hashable, Codable {
        /// Templates are being made (or the job waits to be resumed after its process stopped).
        case running
        /// Every subject was visited; the engine is searched.
        case completed
        /// The job stopped for good (its engine was dropped, or its gallery erased).
        case abandoned
    }

    /// The job's identifier ("job-" and a UUID).
    public var id: String
    /// The gallery, by identifier and by name.
    public var galleryID: GalleryRecord.ID
    /// The gallery's name when the job started.
    public var gallery: String
    /// The engine being added.
    public var engine: String
    /// Where the job stands.
    public var state: State
    /// Subjects the gallery held when the job started.
    public var subjectsTotal: Int
    /// Subjects visited so far (in identifier order, up to ``cursor``).
    public var subjectsDone: Int
    /// Templates made so far (one a subject already held is not stored again).
    public var templatesMade: Int
    /// Subjects visited that had no kept image (enrolled before images were kept, or in a
    /// gallery that does not keep them): they need their images supplied again.
    public var subjectsWithoutImages: Int
    /// The last subject visited; the job resumes after it.
    public var cursor: SubjectRecord.ID?
    /// When the job started.
    public var startedAt: Date
    /// When this state was recorded.
    public var updatedAt: Date
    /// Why the job was abandoned, if it was.
    public var message: String?

    /// Fraction of subjects visited, 0...1.
    public var fractionDone: Double {
        state == .completed ? 1 : subjectsTotal == 0 ? 0 : min(Double(subjectsDone) / Double(subjectsTotal), 1)
    }
}

/// The rows that record engine jobs: one per change of state or batch done, appended in the
/// transaction of the change it records (the engine added, a batch of templates, the engine
/// marked templated), so a job's last row always matches what the store holds. Rows of a gallery
/// go with it when it is erased.
enum EngineJobs {
    static let table = "engine_jobs"

    static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        let (integer, text, strict) =
            switch dialect {
            case .sqlite: ("INTEGER", "TEXT", " STRICT")
            case .postgresql: ("bigint", "text", "")
            }
        return [
            SchemaMigration(
                identifier: "operations.v1-engine-jobs",
                statements: [
                    """
                    CREATE TABLE engine_jobs (
                        row_id \(integer) PRIMARY KEY CHECK (row_id > 0),
                        job_id \(text) NOT NULL,
                        gallery_id \(integer) NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
                        gallery_name \(text) NOT NULL,
                        engine \(text) NOT NULL,
                        state \(text) NOT NULL CHECK (state IN ('running', 'completed', 'abandoned')),
                        subjects_total \(integer) NOT NULL,
                        subjects_done \(integer) NOT NULL,
                        templates_made \(integer) NOT NULL,
                        subjects_without_images \(integer) NOT NULL,
                        cursor_subject \(integer),
                        started_at_ms \(integer) NOT NULL,
                        recorded_at_ms \(integer) NOT NULL,
                        message \(text)
                    )\(strict)
                    """,
                    "CREATE INDEX engine_jobs_job ON engine_jobs (job_id, row_id)",
                    "CREATE INDEX engine_jobs_gallery ON engine_jobs (gallery_id)",
                ])
        ]
    }

    /// The row recording `job` as it stands, appended after the rows before it.
    static func companion(_ job: EngineJob) -> CompanionRecord {
        CompanionRecord(table: table, sequenceColumn: "row_id") { context in
            var next: Int64 = 1
            if case .integer(let last)? = context.previousRow?["row_id"] { next = last + 1 }
            return [
                "row_id": .integer(next), "job_id": .text(job.id), "gallery_id": .integer(job.galleryID.rawValue),
                "gallery_name": .text(job.gallery), "engine": .text(job.engine), "state": .text(job.state.rawValue),
                "subjects_total": .integer(Int64(job.subjectsTotal)), "subjects_done": .integer(Int64(job.subjectsDone)),
                "templates_made": .integer(Int64(job.templatesMade)),
                "subjects_without_images": .integer(Int64(job.subjectsWithoutImages)),
                "cursor_subject": job.cursor.map { .integer($0.rawValue) } ?? .null,
                "started_at_ms": .integer(StoredTime.milliseconds(job.startedAt)),
                "recorded_at_ms": .integer(StoredTime.milliseconds(job.updatedAt)),
                "message": job.message.map { .text($0) } ?? .null,
            ]
        }
    }

    /// The job's last recorded state, or nil when no job has this identifier.
    static func job(_ id: String, in store: any GalleryStore) async throws(GalleryError) -> EngineJob? {
        guard let row = try await store.lastRecord(in: table, matching: ["job_id": .text(id)], orderedBy: "row_id") else {
            return nil
        }
        return try decode(row)
    }

    static func decode(_ row: StoreRow) throws(GalleryError) -> EngineJob {
        func integer(_ column: String) throws(GalleryError) -> Int64 {
            guard case .integer(let value)? = row[column] else { throw malformed(column) }
            return value
        }
        func text(_ column: String) throws(GalleryError) -> String {
            guard case .text(let value)? = row[column] else { throw malformed(column) }
            return value
        }
        guard let state = EngineJob.State(rawValue: try text("state")) else { throw malformed("state") }
        var cursor: SubjectRecord.ID?
        if case .integer(let value)? = row["cursor_subject"] { cursor = SubjectRecord.ID(value) }
        var message: String?
        if case .text(let value)? = row["message"] { message = value }
        return EngineJob(
            id: try text("job_id"), galleryID: GalleryRecord.ID(try integer("gallery_id")), gallery: try text("gallery_name"),
            engine: try text("engine"), state: state, subjectsTotal: Int(try integer("subjects_total")),
            subjectsDone: Int(try integer("subjects_done")), templatesMade: Int(try integer("templates_made")),
            subjectsWithoutImages: Int(try integer("subjects_without_images")), cursor: cursor,
            startedAt: StoredTime.date(milliseconds: try integer("started_at_ms")),
            updatedAt: StoredTime.date(milliseconds: try integer("recorded_at_ms")), message: message)
    }

    private static func malformed(_ column: String) -> GalleryError {
        .storageFailure(operation: "reading an engine job", underlying: MalformedJobRow(column: column))
    }

    /// Now, to the millisecond the rows keep (so a job read back equals the one recorded).
    static func now() -> Date { StoredTime.date(milliseconds: StoredTime.milliseconds(Date())) }
}

/// A stored job row whose column does not hold what it must.
struct MalformedJobRow: Error, CustomStringConvertible {
    var column: String
    var description: String { "the engine_jobs column \(column) is malformed" }
}
