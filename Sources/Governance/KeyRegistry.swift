import Foundation
import Gallery

/// API keys: creation, revocation, listing and authentication, stored in the gallery store's
/// `api_keys` and `api_key_revocations` tables. Creating or revoking a key writes its audit entry
/// in the same transaction.
///
/// Keys are cached in memory and the cache is brought up to date (new keys, new revocations)
/// before every authentication, with one indexed read per table, so a key revoked by another
/// process (the CLI, say) stops working at once. Both tables are append-only, which is what makes
/// the incremental read exact.
public actor KeyRegistry {
    /// The store holding the keys (opened with ``GovernanceSchema/migrations(for:)``).
    public nonisolated let store: any GalleryStore
    private let auditLog: AuditLog
    private var cached: [APIKey.ID: CachedKey] = [:]
    private var revocations: [APIKey.ID: Date] = [:]
    private var lastKeyID: Int64?
    private var lastRevocationID: Int64?

    /// The longest key name accepted, in characters.
    public static let maximumNameLength = 100
    /// Rows read per query while refreshing.
    static let pageSize = 1_000

    private struct CachedKey {
        var key: APIKey
        var digest: [UInt8]
    }

    /// A registry on `store`.
    public init(store: any GalleryStore) {
        self.store = store
        auditLog = AuditLog(store: store)
    }

    // MARK: - Creating and revoking

    /// Creates a key after checking that `principal` may manage keys.
    public func create(
        name: String, role: Role, scope: GalleryScope, authorizedBy principal: Principal
    ) async throws(GovernanceError) -> IssuedAPIKey {
        try principal.authorize(.manageKeys)
        return try await create(name: name, role: role, scope: scope, by: principal.auditActor)
    }

    /// Creates a key and its `keyCreated` audit entry in one transaction, and returns the secret,
    /// which exists nowhere else. The caller has checked that `actor` may do this (a local
    /// operator, or a principal with ``Permission/manageKeys``).
    ///
    /// Scopes by role: admin keys cover ``GalleryScope/allGalleries``; auditor keys name no
    /// gallery; enroller, searcher and reviewer keys name at least one.
    public func create(
        name: String, role: Role, scope: GalleryScope, by actor: AuditActor
    ) async throws(GovernanceError) -> IssuedAPIKey {
        try await create(name: name, role: role, scope: scope, by: actor, onlyIfFirst: false)
    }

    /// Creates an admin key if no key exists yet, and returns it; returns nil if keys exist. Two
    /// processes racing here create one key between them: the check runs inside the insert's
    /// transaction.
    public func bootstrapAdminKey(name: String = "bootstrap admin") async throws(GovernanceError) -> IssuedAPIKey? {
        do {
            return try await create(
                name: name, role: .admin, scope: .allGalleries, by: .system("bootstrap"), onlyIfFirst: true)
        } catch .store(.companionRecordFailed(_, let underlying)) where underlying is KeyTableNotEmpty {
            return nil
        }
    }

    private struct KeyTableNotEmpty: Error {}

    private func create(
        name: String, role: Role, scope: GalleryScope, by actor: AuditActor, onlyIfFirst: Bool
    ) async throws(GovernanceError) -> IssuedAPIKey {
        let trimmedName = try Self.checkedName(name)
        try Self.check(scope, for: role)
        let secret = APIKeySecret.generate()
        let digest = APIKeySecret.digest(of: secret)
        let createdAt = AuditLog.milliseconds(Date())
        let galleries: StoreValue = scope.sortedNames.map { .text(JSONValue.array($0.map(JSONValue.string)).canonicalText) } ?? .null
        let assigned = LockedValue<Int64>()

        let keyRecord = CompanionRecord(table: GovernanceSchema.keysTable, sequenceColumn: "key_id") { context in
            if onlyIfFirst, context.previousRow != nil { throw KeyTableNotEmpty() }
            let previous = try context.previousRow.map { try ColumnReader(row: $0, table: GovernanceSchema.keysTable).integer("key_id") }
            let keyID = (previous ?? 0) + 1
            assigned.set(keyID)
            return [
                "key_id": .integer(keyID), "name": .text(trimmedName), "role": .text(role.rawValue),
                "galleries": galleries, "secret_sha256": .text(digest.hexadecimal), "created_at_ms": .integer(createdAt),
            ]
        }
        let auditRecord = AuditLog.companion {
            guard let keyID = assigned.value else {
                throw GovernanceError.invalidAuditEvent(reason: "the key row was not written first")
            }
            return AuditEvent(
                action: .keyCreated, actor: actor,
                parameters: [
                    "keyID": .integer(keyID), "name": .string(trimmedName), "role": .string(role.rawValue),
                    "galleries": scope.sortedNames.map { .array($0.map(JSONValue.string)) } ?? .string("all"),
                ])
        }
        try await appendTogether([keyRecord, auditRecord])
        guard let keyID = assigned.value else {
            throw .invalidAuditEvent(reason: "the store wrote no key row")
        }
        let key = APIKey(
            id: APIKey.ID(keyID), name: trimmedName, role: role, scope: scope,
            createdAt: Date(timeIntervalSince1970: Double(createdAt) / 1000), revokedAt: nil)
        cached[key.id] = CachedKey(key: key, digest: digest)
        return IssuedAPIKey(key: key, secret: secret)
    }

    /// Revokes a key after checking that `principal` may manage keys.
    public func revoke(_ id: APIKey.ID, authorizedBy principal: Principal) async throws(GovernanceError) -> APIKey {
        try principal.authorize(.manageKeys)
        return try await revoke(id, by: principal.auditActor)
    }

    /// Revokes a key, writing its `keyRevoked` audit entry in the same transaction, and returns
    /// it as revoked. Throws ``GovernanceError/unknownKey(_:)`` or
    /// ``GovernanceError/keyAlreadyRevoked(_:)``.
    public func revoke(_ id: APIKey.ID, by actor: AuditActor) async throws(GovernanceError) -> APIKey {
        var key = try await key(id)
        if key.revokedAt != nil { throw .keyAlreadyRevoked(id) }
        let revokedAt = AuditLog.milliseconds(Date())
        let revocationRecord = CompanionRecord(table: GovernanceSchema.revocationsTable, sequenceColumn: "revocation_id") { context in
            let previous = try context.previousRow.map {
                try ColumnReader(row: $0, table: GovernanceSchema.revocationsTable).integer("revocation_id")
            }
            return [
                "revocation_id": .integer((previous ?? 0) + 1), "key_id": .integer(id.rawValue),
                "revoked_at_ms": .integer(revokedAt),
            ]
        }
        let event = AuditEvent(
            action: .keyRevoked, actor: actor,
            parameters: ["keyID": .integer(id.rawValue), "name": .string(key.name), "role": .string(key.role.rawValue)])
        try event.validate()
        do {
            try await appendTogether([revocationRecord, AuditLog.companion { event }])
        } catch {
            // Another process may have revoked it in the meantime (the key_id is unique).
            if (try? await self.key(id))?.revokedAt != nil { throw .keyAlreadyRevoked(id) }
            throw error
        }
        key.revokedAt = Date(timeIntervalSince1970: Double(revokedAt) / 1000)
        revocations[id] = key.revokedAt
        return key
    }

    // MARK: - Reading

    /// Every key, revoked ones included, in identifier order.
    public func keys() async throws(GovernanceError) -> [APIKey] {
        try await refresh()
        return cached.keys.sorted().compactMap(currentKey)
    }

    /// The key with this identifier; throws ``GovernanceError/unknownKey(_:)``.
    public func key(_ id: APIKey.ID) async throws(GovernanceError) -> APIKey {
        try await refresh()
        guard let key = currentKey(id) else { throw .unknownKey(id) }
        return key
    }

    /// The principal a presented secret stands for. Throws
    /// ``GovernanceError/unauthenticated(_:)`` for a missing, malformed, unknown or revoked key.
    ///
    /// The presented secret's SHA-256 is compared with every stored digest in constant time and
    /// without stopping at a match, so timing says nothing about which key, if any, matched.
    public func authenticate(_ presented: String?) async throws(GovernanceError) -> Principal {
        guard let presented, !presented.isEmpty else { throw .unauthenticated(.missingKey) }
        guard APIKeySecret.isWellFormed(presented) else { throw .unauthenticated(.malformedKey) }
        try await refresh()
        let digest = APIKeySecret.digest(of: presented)
        var matched: APIKey.ID?
        for (id, stored) in cached where APIKeySecret.constantTimeEqual(stored.digest, digest) {
            matched = id
        }
        guard let matched, let key = currentKey(matched) else { throw .unauthenticated(.unknownKey) }
        if key.revokedAt != nil { throw .unauthenticated(.revokedKey(key.id)) }
        return key.principal
    }

    private func currentKey(_ id: APIKey.ID) -> APIKey? {
        guard var key = cached[id]?.key else { return nil }
        key.revokedAt = revocations[id]
        return key
    }

    /// Reads keys and revocations written since the last refresh.
    private func refresh() async throws(GovernanceError) {
        while true {
            let rows = try await read(GovernanceSchema.keysTable, orderedBy: "key_id", after: lastKeyID)
            for row in rows {
                let cachedKey = try Self.decodeKey(row)
                cached[cachedKey.key.id] = cachedKey
                lastKeyID = max(lastKeyID ?? 0, cachedKey.key.id.rawValue)
            }
            if rows.count < Self.pageSize { break }
        }
        while true {
            let rows = try await read(GovernanceSchema.revocationsTable, orderedBy: "revocation_id", after: lastRevocationID)
            for row in rows {
                let reader = ColumnReader(row: row, table: GovernanceSchema.revocationsTable)
                let revocationID = try reader.integer("revocation_id")
                let keyID = APIKey.ID(try reader.integer("key_id", "revocation \(revocationID)"))
                let revokedAt = try reader.integer("revoked_at_ms", "revocation \(revocationID)")
                revocations[keyID] = Date(timeIntervalSince1970: Double(revokedAt) / 1000)
                lastRevocationID = max(lastRevocationID ?? 0, revocationID)
            }
            if rows.count < Self.pageSize { break }
        }
    }

    private func read(_ table: String, orderedBy column: String, after: Int64?) async throws(GovernanceError) -> [StoreRow] {
        do {
            return try await store.records(in: table, orderedBy: column, after: after, limit: Self.pageSize)
        } catch {
            throw .store(error)
        }
    }

    private static func decodeKey(_ row: StoreRow) throws(GovernanceError) -> CachedKey {
        let table = GovernanceSchema.keysTable
        let reader = ColumnReader(row: row, table: table)
        let id = try reader.integer("key_id")
        let context = "key \(id)"
        func malformed(_ reason: String) -> GovernanceError { .malformedRow(table: table, reason: "\(context): \(reason)") }
        let roleName = try reader.text("role", context)
        guard let role = Role(rawValue: roleName) else { throw malformed("unknown role '\(roleName)'") }
        var scope = GalleryScope.allGalleries
        if let galleries = try reader.optionalText("galleries", context) {
            guard let names = try? JSONDecoder().decode([String].self, from: Data(galleries.utf8)) else {
                throw malformed("galleries is not a JSON array of names")
            }
            scope = .galleries(Set(names))
        }
        let digestText = try reader.text("secret_sha256", context)
        guard let digest = [UInt8](hexadecimal: digestText), digest.count == 32 else {
            throw malformed("secret_sha256 is not a SHA-256 digest")
        }
        let key = APIKey(
            id: APIKey.ID(id), name: try reader.text("name", context), role: role, scope: scope,
            createdAt: Date(timeIntervalSince1970: Double(try reader.integer("created_at_ms", context)) / 1000),
            revokedAt: nil)
        return CachedKey(key: key, digest: digest)
    }

    // MARK: - Checks

    static func checkedName(_ name: String) throws(GovernanceError) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw .invalidKeyRequest(reason: "the key needs a name") }
        if trimmed.count > maximumNameLength {
            throw .invalidKeyRequest(reason: "the name is longer than \(maximumNameLength) characters")
        }
        if trimmed.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) {
            throw .invalidKeyRequest(reason: "the name contains control characters")
        }
        return trimmed
    }

    static func check(_ scope: GalleryScope, for role: Role) throws(GovernanceError) {
        switch (role, scope) {
        case (.admin, .allGalleries):
            return
        case (.admin, .galleries):
            throw .invalidKeyRequest(reason: "admin keys cover every gallery; name no galleries")
        case (.auditor, .galleries(let names)) where names.isEmpty:
            return
        case (.auditor, _):
            throw .invalidKeyRequest(reason: "auditor keys use no gallery; name none")
        case (_, .allGalleries):
            throw .invalidKeyRequest(reason: "\(role) keys must name their galleries")
        case (_, .galleries(let names)):
            if names.isEmpty { throw .invalidKeyRequest(reason: "\(role) keys must name at least one gallery") }
            for name in names where name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || name != name.trimmingCharacters(in: .whitespacesAndNewlines) {
                throw .invalidKeyRequest(reason: "gallery name '\(name)' is empty or has surrounding spaces")
            }
        }
    }

    /// Appends the records in one transaction, in order.
    private func appendTogether(_ records: [CompanionRecord]) async throws(GovernanceError) {
        do {
            try await store.appendRecords(records)
        } catch {
            throw AuditLog.unwrap(error)
        }
    }
}
