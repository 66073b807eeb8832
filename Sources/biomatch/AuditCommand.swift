import ArgumentParser
import Foundation
import Gallery
import Governance

/// `biomatch audit`: verify and export the audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify and export the hash-chained audit log.",
        subcommands: [Verify.self, Export.self]
    )

    /// `biomatch audit verify`: exit 0 if the chain is intact, 1 naming the first broken entry.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every entry's hash, numbering and link; name the first broken entry.",
            discussion: """
                Prints the entry count and the head (SEQUENCE:HASH) when the chain is intact. Write \
                the head down somewhere else and pass it as --anchor later: the chain alone cannot \
                show that its newest entries were dropped or that it was rewritten from scratch. \
                With --jsonl, verifies an export file instead of the database.
                """
        )

        @Option(help: "A head recorded earlier (SEQUENCE:HASH) that the chain must still contain.")
        var anchor: String?

        @Option(name: .customLong("jsonl"), help: "Verify this export file (from `biomatch audit export --jsonl`).")
        var exportFile: String?

        @Option(
            name: .customLong("starting-after"),
            help: "With --jsonl: the head (SEQUENCE:HASH) of the entry before the file's first, for an export made with --after.")
        var startingAfter: String?

        @OptionGroup var database: StoreOptions

        func validate() throws {
            if let anchor, AuditHead(anchor) == nil {
                throw ValidationError("--anchor must be SEQUENCE:HASH (a positive number, a colon, 64 hex digits)")
            }
            if let startingAfter {
                guard exportFile != nil else { throw ValidationError("--starting-after needs --jsonl") }
                if AuditHead(startingAfter) == nil {
                    throw ValidationError("--starting-after must be SEQUENCE:HASH (a positive number, a colon, 64 hex digits)")
                }
            }
        }

        func run() async throws {
            let anchorHead = anchor.flatMap(AuditHead.init)
            let verification: AuditVerification
            if let exportFile {
                let text = try String(contentsOf: URL(filePath: exportFile), encoding: .utf8)
                verification = AuditVerifier.verify(
                    exportLines: text.split(separator: "\n", omittingEmptySubsequences: false),
                    startingAfter: startingAfter.flatMap(AuditHead.init), anchor: anchorHead)
            } else {
                verification = try await AuditVerifier.verify(AuditLog(store: try await database.openStore()), anchor: anchorHead)
            }
            switch verification {
            case .intact:
                print(verification.description)
            case .broken(let reason, _):
                standardError(verification.description)
                standardError("first broken entry: \(reason.sequence)")
                throw ExitCode.failure
            }
        }
    }

    /// `biomatch audit export --jsonl`: the log as JSON Lines on standard output.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the audit log as JSON Lines, one entry per line, in chain order.",
            discussion: """
                Each line holds the entry's columns, `parameters` and `result` as the exact stored \
                JSON text, so anyone can recompute every hash (the definition is in the Governance \
                module's AuditEntry documentation) or run `biomatch audit verify --jsonl FILE`.
                """
        )

        @Flag(help: "Write JSON Lines (the only format; required so scripts state what they expect).")
        var jsonl = false

        @Option(help: "Only entries after this sequence number (an incremental export).")
        var after: Int64?

        @OptionGroup var database: StoreOptions

        func validate() throws {
            guard jsonl else { throw ValidationError("pass --jsonl (JSON Lines is the only export format)") }
            if let after, after < 0 { throw ValidationError("--after must not be negative") }
        }

        func run() async throws {
            let log = AuditLog(store: try await database.openStore())
            let output = FileHandle.standardOutput
            try await log.export(after: after) { lines in
                output.write(Data(lines.map { $0 + "\n" }.joined().utf8))
            }
        }
    }
}
