import Crypto
import Foundation
import GRDB
import Gallery
import Governance
import Testing

@Suite struct KeyRegistryTests {
    @Test func createAuthenticateAndRevoke() async throws {
        try await withGovernedStore { governed in
            let registry = KeyRegistry(store: governed.store)
            let issued = try await registry.create(
                name: "  desk sergeant  ", role: .searcher, scope: .galleries(["custody", "watchlist"]),
                by: .system("cli"))
            #expect(issued.secret.hasPrefix(APIKeySecret.prefix))
            #expect(issued.secret.count == APIKeySecret.length)
            #expect(APIKeySecret.isWellFormed(issued.secret))
            #expect(issued.key.name == "desk sergeant")
            #expect(issued.key.id == APIKey.ID(1))

            let principal = try await registry.authenticate(issued.secret)
            #expect(principal == Principal(
                keyID: issued.key.id, name: "desk sergeant", role: .searcher, scope: .galleries(["custody", "watchlist"])))

            // Only the SHA-256 of the secret is stored, nowhere the secret itself.
            let database = try DatabaseQueue(path: governed.location.path)
            let storedDigest = try await database.read { db in
                try String.fetchOne(db, sql: "SELECT secret_sha256 FROM api_keys WHERE key_id = 1")
            }
            #expect(storedDigest == SHA256.hash(data: Data(issued.secret.utf8)).map { String(format: "%02x", $0) }.joined())
            let secretBody = String(issued.secret.dropFirst(APIKeySecret.prefix.count))
            let rowsMentioningSecret = try await database.read { db in
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT (SELECT COUNT(*) FROM api_keys WHERE name || role || secret_sha256 LIKE '%' || ? || '%')
                             + (SELECT COUNT(*) FROM audit_log WHERE parameters || result LIKE '%' || ? || '%')
                        """,
                    arguments: [secretBody, secretBody])
            }
            #expect(rowsMentioningSecret == 0)

            let revoked = try await registry.revoke(issued.key.id, by: .system("cli"))
            #expect(revoked.revokedAt != nil)
            await expectFailure(.unauthenticated(.revokedKey(issued.key.id))) {
                try await registry.authenticate(issued.secret)
            }
            await expectFailure(.keyAlreadyRevoked(issued.key.id)) {
                try await registry.revoke(issued.key.id, by: .system("cli"))
            }
            await expectFailure(.unknownKey(APIKey.ID(99))) {
                try await registry.revoke(APIKey.ID(99), by: .system("cli"))
            }
            let listed = try await registry.keys()
            #expect(listed.map(\.id) == [issued.key.id])
            #expect(listed.first?.revokedAt == revoked.revokedAt)
        }
    }

    @Test func refusesMissingMalformedAndUnknownSecrets() async throws {
        try await withGovernedStore { governed in
            let registry = KeyRegistry(store: governed.store)
            let issued = try await registry.create(name: "admin", role: .admin, scope: .allGalleries, by: .system("cli"))
            await expectFailure(.unauthenticated(.missingKey)) { try await registry.authenticate(nil) }
            await expectFailure(.unauthenticated(.missingKey)) { try await registry.authenticate("") }
            await expectFailure(.unauthenticated(.malformedKey)) { try await registry.authenticate("bm_short") }
            await expectFailure(.unauthenticated(.malformedKey)) {
                try await registry.authenticate(String(issued.secret.dropLast()) + "!")
            }
            await expectFailure(.unauthenticated(.malformedKey)) {
                try await registry.authenticate("xx_" + issued.secret.dropFirst(3))
            }
            // Well-formed but never issued.
            await expectFailure(.unauthenticated(.unknownKey)) {
                try await registry.authenticate(APIKeySecret.generate())
            }
            #expect(try await registry.authenticate(issued.secret).role == .admin)
        }
    }

    @Test func generatedSecretsAreWellFormedAndDistinct() {
        let secrets = (0..<2_000).map { _ in APIKeySecret.generate() }
        #expect(Set(secrets).count == secrets.count)
        #expect(secrets.allSatisfy(APIKeySecret.isWellFormed))
        // The 43rd character holds the last 4 bits and two zero bits: 16 characters only.
        let lastCharacters = Set(secrets.map { $0.last! })
        #expect(lastCharacters.count <= 16)
        #expect(lastCharacters.count > 8)
    }

    @Test func aRevocationByAnotherProcessTakesEffectAtOnce() async throws {
        try await withGovernedStore { governed in
            let server = KeyRegistry(store: governed.store)
            let issued = try await server.create(
                name: "enroller", role: .enroller, scope: .galleries(["custody"]), by: .system("cli"))
            #expect(try await server.authenticate(issued.secret).keyID == issued.key.id)

            // The CLI opens its own store on the file and revokes the key there.
            let command = KeyRegistry(store: try governed.reopened())
            _ = try await command.revoke(issued.key.id, by: .system("cli"))

            await expectFailure(.unauthenticated(.revokedKey(issued.key.id))) {
                try await server.authenticate(issued.secret)
            }
            // And a key the CLI creates works on the server without a restart.
            let later = try await command.create(name: "auditor", role: .auditor, scope: .galleries([]), by: .system("cli"))
            #expect(try await server.authenticate(later.secret).role == .auditor)
            #expect(try await server.keys().map(\.id.rawValue) == [1, 2])
        }
    }

    @Test func bootstrapCreatesOneAdminKeyOnlyWhileThereAreNone() async throws {
        try await withGovernedStore { governed in
            // Two processes start at once on an empty database: one admin key between them.
            let first = KeyRegistry(store: governed.store)
            let second = KeyRegistry(store: try governed.reopened())
            async let firstKey = first.bootstrapAdminKey()
            async let secondKey = second.bootstrapAdminKey()
            let issued = try await [firstKey, secondKey].compactMap { $0 }
            #expect(issued.count == 1)
            let key = try #require(issued.first)
            #expect(key.key.role == .admin)
            #expect(key.key.scope == .allGalleries)
            #expect(try await first.authenticate(key.secret).role == .admin)
            #expect(try await first.bootstrapAdminKey() == nil)
            #expect(try await first.keys().count == 1)

            let entries = try await AuditLog(store: governed.store).entries()
            #expect(entries.map(\.action) == [.keyCreated])
            #expect(entries.first?.actor == .system("bootstrap"))
        }
    }

    @Test func scopesMustSuitTheRole() async throws {
        try await withGovernedStore { governed in
            let registry = KeyRegistry(store: governed.store)
            let cli = AuditActor.system("cli")
            await expectFailure(.invalidKeyRequest(reason: "admin keys cover every gallery; name no galleries")) {
                try await registry.create(name: "a", role: .admin, scope: .galleries(["custody"]), by: cli)
            }
            await expectFailure(.invalidKeyRequest(reason: "searcher keys must name their galleries")) {
                try await registry.create(name: "s", role: .searcher, scope: .allGalleries, by: cli)
            }
            await expectFailure(.invalidKeyRequest(reason: "reviewer keys must name at least one gallery")) {
                try await registry.create(name: "r", role: .reviewer, scope: .galleries([]), by: cli)
            }
            await expectFailure(.invalidKeyRequest(reason: "auditor keys use no gallery; name none")) {
                try await registry.create(name: "u", role: .auditor, scope: .galleries(["custody"]), by: cli)
            }
            await expectFailure(.invalidKeyRequest(reason: "the key needs a name")) {
                try await registry.create(name: "  ", role: .enroller, scope: .galleries(["custody"]), by: cli)
            }
            // A principal without the manage-keys permission is refused before anything is written.
            await expectFailure(.forbidden(.role(.searcher, .manageKeys))) {
                try await registry.create(
                    name: "e", role: .enroller, scope: .galleries(["custody"]), authorizedBy: Fixtures.searcher)
            }
            let keys = try await registry.keys()
            let entries = try await AuditLog(store: governed.store).entries()
            #expect(keys.isEmpty)
            #expect(entries.isEmpty)
        }
    }

    @Test func aKeyIsOnlyCreatedWithItsAuditEntry() async throws {
        try await withGovernedStore { governed in
            let registry = KeyRegistry(store: governed.store)
            let first = try await registry.create(name: "first", role: .admin, scope: .allGalleries, by: .system("cli"))
            // Damage the newest audit row so the next entry cannot chain to it.
            let database = try DatabaseQueue(path: governed.location.path)
            try await database.write { db in
                try db.execute(sql: "DROP TRIGGER audit_log_refuse_update")
                try db.execute(sql: "UPDATE audit_log SET entry_hash = X'00'")
            }
            let failure = await governanceFailure {
                try await registry.create(name: "second", role: .auditor, scope: .galleries([]), by: .system("cli"))
            }
            guard case .malformedRow(let table, _)? = failure else {
                Issue.record("expected the audit entry to fail, got \(String(describing: failure))")
                return
            }
            #expect(table == "audit_log")
            #expect(try await registry.keys().map(\.id) == [first.key.id])
            // Nor is a revocation written without its entry.
            await #expect(throws: GovernanceError.self) {
                try await registry.revoke(first.key.id, by: .system("cli"))
            }
            #expect(try await registry.authenticate(first.secret).keyID == first.key.id)
            let revocations = try await rowCount("api_key_revocations", orderedBy: "revocation_id", in: governed.store)
            #expect(revocations == 0)
        }
    }

    @Test func keyChangesAreAudited() async throws {
        try await withGovernedStore { governed in
            let registry = KeyRegistry(store: governed.store)
            let admin = try await registry.create(name: "root", role: .admin, scope: .allGalleries, by: .system("cli"))
            let principal = try await registry.authenticate(admin.secret)
            let searcher = try await registry.create(
                name: "analyst", role: .searcher, scope: .galleries(["custody"]), authorizedBy: principal)
            _ = try await registry.revoke(searcher.key.id, authorizedBy: principal)

            let entries = try await AuditLog(store: governed.store).entries()
            #expect(entries.map(\.action) == [.keyCreated, .keyCreated, .keyRevoked])
            #expect(entries.map(\.actor) == [.system("cli"), .key(admin.key.id, .admin), .key(admin.key.id, .admin)])
            #expect(entries[1].parameters == #"{"galleries":["custody"],"keyID":2,"name":"analyst","role":"searcher"}"#)
            #expect(entries[2].parameters == #"{"keyID":2,"name":"analyst","role":"searcher"}"#)
            #expect(try await AuditVerifier.verify(AuditLog(store: governed.store)).isIntact)
        }
    }
}
