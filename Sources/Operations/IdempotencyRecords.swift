import Foundation
import Gallery
import Governance
import Installation
import Review

/// The stored outcomes of requests made with an `Idempotency-Key` (the IETF httpapi draft's
/// header), so that a client retrying after a timeout, a dropped connection or a 503 never makes
/// a second subject or decision.
///
/// An outcome is written as a ``CompanionRecord`` that follows the change's audit record, in
/// the change's own transaction: the change and its stored response commit together or not at
/// all. A key is scoped to the API key that used it (`UNIQUE (api_key_id, idempotency_key)`),
/// so concurrent requests with one key, even on two nodes, cannot both commit: the second
/// insert waits for the first and then breaks the constraint, rolling its change back.
/// Only successful outcomes are stored: a refused request changed nothing and may be sent again.
/// Outcomes are honoured for ``lifetime`` (24 hours); an expired key is treated as unknown.
public struct IdempotencyRecords: Sendable {
    /// The table of stored outcomes.
    public static let table = "idempotency_outcomes"
    /// How long an outcome is replayed.
    public static let lifetime: Duration = .seconds(24 * 3_600)
    /// The longest key accepted.
    public static let maximumKeyLength = 255

    /// A key as one caller used it.
    public struct Key: Sendable, Hashable {
        /// The API key (``APIKey/ID``) whose requests the key belongs to.
        public var apiKeyID: Int64
        /// The `Idempotency-Key` header's value.
        public var value: String

        /// A scoped key.
        public init(apiKeyID: Int64, value: String) {
            self.apiKeyID = apiKeyID
            self.value = value
        }
    }

    /// A response as stored and replayed.
    public struct StoredResponse: Sendable, Equatable {
        /// The HTTP status.
        public var status: Int
        /// Its `Content-Type`.
        public var contentType: String
        /// Its `Location`, if it had one.
        public var location: String?
        /// Its body.
        public var body: Data

        /// A response.
        public init(status: Int, contentType: String, location: String?, body: Data) {
            self.status = status
            self.contentType = contentType
            self.location = location
            self.body = body
        }
    }

    /// A stored outcome with the fingerprint of the request that made it.
    public struct Outcome: Sendable, Equatable {
        /// The request's fingerprint (``fingerprint(of:)``).
        public var fingerprint: String
        /// The response it got.
        public var response: StoredResponse
        /// When it stops being replayed.
        public var expiresAt: Date
    }

    let store: any GalleryStore

    /// The outcomes kept in `store`, which was opened with ``migrations(for:)``.
    public init(store: any GalleryStore) {
        self.store = store
    }

    /// The table, one migration per dialect.
    public static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        switch dialect {
        case .sqlite:
            [
                SchemaMigration(
                    identifier: "operations.v1-idempotency-outcomes",
                    statements: [
                        """
                        CREATE TABLE idempotency_outcomes (
                            outcome_id INTEGER PRIMARY KEY AUTOINCREMENT,
                            api_key_id INTEGER NOT NULL,
                            idempotency_key TEXT NOT NULL,
                            fingerprint TEXT NOT NULL,
                            status INTEGER NOT NULL,
                            content_type TEXT NOT NULL,
                            location TEXT,
                            body BLOB NOT NULL,
                            created_at_ms INTEGER NOT NULL,
                            expires_at_ms INTEGER NOT NULL,
                            CONSTRAINT idempotency_outcomes_key_unique UNIQUE (api_key_id, idempotency_key)
                        )
                        """
                    ])
            ]
        case .postgresql:
            [
                SchemaMigration(
                    identifier: "operations.v1-idempotency-outcomes",
                    statements: [
                        """
                        CREATE TABLE idempotency_outcomes (
                            outcome_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                            api_key_id bigint NOT NULL,
                            idempotency_key text NOT NULL,
                            fingerprint text NOT NULL,
                            status integer NOT NULL,
                            content_type text NOT NULL,
                            location text,
                            body bytea NOT NULL,
                            created_at_ms bigint NOT NULL,
                            expires_at_ms bigint NOT NULL,
                            CONSTRAINT idempotency_outcomes_key_unique UNIQUE (api_key_id, idempotency_key)
                        )
                        """
                    ])
            ]
        }
    }

    /// The unexpired outcome stored for `key`, if any.
    public func outcome(for key: Key, now: Date = Date()) async throws(GalleryError) -> Outcome? {
        let rows = try await store.records(
            in: Self.table, matching: ["api_key_id": .integer(key.apiKeyID), "idempotency_key": .text(key.value)],
            orderedBy: "outcome_id", after: nil, limit: 1)
        guard let row = rows.first else { return nil }
        guard case .text(let fingerprint)? = row["fingerprint"], case .integer(let status)? = row["status"],
            case .text(let contentType)? = row["content_type"], case .blob(let body)? = row["body"],
            case .integer(let expiresAt)? = row["expires_at_ms"]
        else {
            throw .invalidInput(field: Self.table, reason: "a stored outcome has a malformed row")
        }
        let expiry = StoredTime.date(milliseconds: expiresAt)
        if expiry <= now {
            // Gone, so the key can be used afresh (its row would break the unique constraint).
            _ = try await store.deleteRecords(
                in: Self.table, matching: ["api_key_id": .integer(key.apiKeyID), "idempotency_key": .text(key.value)],
                where: "expires_at_ms", atMost: StoredTime.milliseconds(now), limit: 1)
            return nil
        }
        var location: String?
        if case .text(let text)? = row["location"] { location = text }
        return Outcome(
            fingerprint: fingerprint,
            response: StoredResponse(status: Int(status), contentType: contentType, location: location, body: body),
            expiresAt: expiry)
    }

    /// Deletes outcomes whose lifetime ended at or before `now`, up to `batchSize` at a time
    /// until none are left, and returns how many went (the retention sweeper calls it).
    @discardableResult
    public func pruneExpired(now: Date = Date(), batchSize: Int = 500) async throws(GalleryError) -> Int {
        var pruned = 0
        while true {
            let deleted = try await store.deleteRecords(
                in: Self.table, matching: [:], where: "expires_at_ms", atMost: StoredTime.milliseconds(now), limit: batchSize)
            pruned += deleted
            if deleted < batchSize { return pruned }
        }
    }

    /// The record storing the outcome of the request with `key` and `fingerprint`: `respond`
    /// renders the response from the change inside the transaction. Attach it to a change's
    /// audit record (``CompanionRecord/followers``) so both commit together.
    public static func record(
        for key: Key, fingerprint: String, now: Date = Date(),
        respond: @escaping @Sendable (CompanionContext) throws -> StoredResponse
    ) -> CompanionRecord {
        CompanionRecord(table: table, sequenceColumn: "outcome_id") { context in
            row(key: key, fingerprint: fingerprint, response: try respond(context), now: now)
        }
    }

    /// The same for a review decision: `respond` renders the response from the decision.
    public static func decisionFollower(
        for key: Key, fingerprint: String, now: Date = Date(),
        respond: @escaping @Sendable (ReviewDecision) throws -> StoredResponse
    ) -> DecisionFollower {
        DecisionFollower(table: table, sequenceColumn: "outcome_id") { decision in
            row(key: key, fingerprint: fingerprint, response: try respond(decision), now: now)
        }
    }

    private static func row(key: Key, fingerprint: String, response: StoredResponse, now: Date) -> StoreRow {
        let created = StoredTime.milliseconds(now)
        let (seconds, _) = lifetime.components
        return [
            "api_key_id": .integer(key.apiKeyID), "idempotency_key": .text(key.value),
            "fingerprint": .text(fingerprint), "status": .integer(Int64(response.status)),
            "content_type": .text(response.contentType), "location": response.location.map { .text($0) } ?? .null,
            "body": .blob(response.body), "created_at_ms": .integer(created),
            "expires_at_ms": .integer(created + seconds * 1_000),
        ]
    }

    /// A request's fingerprint: SHA-256 of its method, path and the canonical JSON of the
    /// request's meaning (fields and image digests, not the bytes of its multipart encoding,
    /// whose boundary a client may change between attempts).
    public static func fingerprint(method: String, path: String, content: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let canonical = (try? encoder.encode(content)) ?? Data()
        return FileDigest.sha256(of: Data("\(method)\n\(path)\n".utf8) + canonical)
    }
}
