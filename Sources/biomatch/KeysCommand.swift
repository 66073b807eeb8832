import ArgumentParser
import Foundation
import Gallery
import Governance
import Operations

/// Which gallery store a command opens, the same for every command and for `serve`: `--store`
/// (a PostgreSQL URL with one or more hosts, or a SQLite file), or `--database` (a SQLite file),
/// else `BIOMATCH_STORE`, else the SQLite file under the data folder.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help: ArgumentHelp(
            "The gallery store: postgresql://USER@HOST1:PORT1,HOST2:PORT2/DB (the primary is found among the hosts; "
                + "?host=/socket/dir for Unix sockets) or a SQLite file (default: BIOMATCH_STORE, else "
                + "BIOMATCH_HOME/data/biomatch.sqlite).",
            valueName: "url-or-file"))
    var store: String?

    @Option(
        name: .customLong("database"),
        help: "The SQLite database (default: BIOMATCH_HOME/data/biomatch.sqlite, where serve keeps it).")
    var path: String?

    func validate() throws {
        if store != nil && path != nil { throw ValidationError("give --store or --database, not both") }
    }

    /// Where the store is.
    func location() throws -> GalleryStoreLocation {
        try GalleryStoreLocation.resolve(store ?? path.map { "sqlite:" + $0 })
    }

    /// Opens (creating and migrating if needed) the store with the governance and review tables;
    /// a PostgreSQL store without a reachable primary is waited for up to `waitForPrimary`.
    func open(waitForPrimary: Duration = .zero) async throws -> OpenedGalleryStore {
        let opened = try await location().openForOperations(waitForPrimary: waitForPrimary)
        // Entries from before the audit log kept its Merkle tree get their tree rows first.
        try await AuditLog(store: opened.store).completeTree()
        return opened
    }

    /// The open store alone (the process ends without closing it: nothing is left half-written).
    func openStore() async throws -> any GalleryStore {
        try await open().store
    }

    /// Who runs commands here: a local operator, by login name.
    static var caller: Caller { .localOperator(name: ProcessInfo.processInfo.userName) }

    /// Who the audit log records for commands run here.
    static var localOperator: AuditActor { caller.auditActor }
}

extension Role: ExpressibleByArgument {}

/// `biomatch keys`: create, list and revoke API keys.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke API keys.",
        discussion: """
            Key changes made here are written to the audit log as actions of the local operator \
            (system actor cli:<login name>).
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    /// `biomatch keys create`: prints a new key's secret, once.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key and print its secret (the only time it is shown).",
            discussion: """
                The secret goes to standard output on its own line, the key's details to standard \
                error, so `SECRET=$(biomatch keys create ...)` captures just the secret. Admin keys \
                cover every gallery; auditor keys use none; enroller, searcher and reviewer keys \
                need at least one --gallery.
                """
        )

        @Option(help: "Who or what will hold the key.")
        var name: String

        @Option(help: "The key's role: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: Role

        @Option(name: .customLong("gallery"), help: "A gallery the key may use (repeat for several).")
        var galleries: [String] = []

        @OptionGroup var database: StoreOptions

        func run() async throws {
            let registry = KeyRegistry(store: try await database.openStore())
            let scope: GalleryScope = role == .admin && galleries.isEmpty ? .allGalleries : .galleries(Set(galleries))
            let issued = try await registry.create(name: name, role: role, scope: scope, by: StoreOptions.localOperator)
            standardError("created \(KeysCommand.summary(of: issued.key)); store the secret now, it is not shown again")
            print(issued.secret)
        }
    }

    /// `biomatch keys list`: every key, revoked ones included.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (never their secrets).")

        @OptionGroup var database: StoreOptions

        func run() async throws {
            let keys = try await KeyRegistry(store: try await database.openStore()).keys()
            if keys.isEmpty {
                print("no keys (serve creates an admin key on first start)")
                return
            }
            let rows = [["ID", "NAME", "ROLE", "GALLERIES", "CREATED", "REVOKED"]] + keys.map { key in
                [
                    String(key.id.rawValue), key.name, key.role.rawValue, key.scope.description,
                    key.createdAt.formatted(.iso8601), key.revokedAt?.formatted(.iso8601) ?? "-",
                ]
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let cells = zip(row, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                print(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }

    /// `biomatch keys revoke`: stops a key working, at once, in every process.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key; a running server refuses it from its next request.")

        @Argument(help: "The key's id (see `biomatch keys list`).")
        var id: Int64

        @OptionGroup var database: StoreOptions

        func run() async throws {
            let registry = KeyRegistry(store: try await database.openStore())
            let key = try await registry.revoke(APIKey.ID(id), by: StoreOptions.localOperator)
            print("revoked \(KeysCommand.summary(of: key))")
        }
    }

    static func summary(of key: APIKey) -> String {
        "key \(key.id.rawValue) '\(key.name)' (\(key.role), \(key.scope))"
    }
}

/// Writes a line to standard error.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
