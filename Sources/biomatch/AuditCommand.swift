import ArgumentParser
import Foundation
import Gallery
import Governance
import Installation
import Transparency

/// `biomatch audit`: verify and export the audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify and export the audit log; its signing key and checkpoints.",
        subcommands: [Verify.self, Export.self, PublicKey.self, MakeCheckpoint.self]
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

        @Option(
            name: .customLong("checkpoint"),
            help: "A signed checkpoint file (from `audit checkpoint` or GET /v1/audit/checkpoint) the log must match; repeatable.")
        var checkpointFiles: [String] = []

        @Option(
            name: .customLong("public-key"),
            help: "The log's public key (from `biomatch audit public-key`), or a file holding it; needed with --checkpoint.")
        var publicKey: String?

        @OptionGroup var database: StoreOptions

        func validate() throws {
            if !checkpointFiles.isEmpty && publicKey == nil { throw ValidationError("--checkpoint needs --public-key") }
            if !checkpointFiles.isEmpty && startingAfter != nil {
                throw ValidationError("--checkpoint needs the whole log, from its first entry: drop --starting-after")
            }
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
            guard let publicKey, !checkpointFiles.isEmpty else { return }
            let key = try NoteVerifier(encoded: AuditKeyOptions.text(ofKeyOrFile: publicKey))
            let notes = try checkpointFiles.map { try String(contentsOf: URL(filePath: $0), encoding: .utf8) }
            var checker = try AuditCheckpointVerifier(checkpoints: notes, key: key)
            if let exportFile {
                let text = try String(contentsOf: URL(filePath: exportFile), encoding: .utf8)
                for line in text.split(separator: "\n") where !line.allSatisfy(\.isWhitespace) {
                    checker.consume(exportLine: line)
                }
            } else {
                try await AuditLog(store: try await database.openStore()).export { lines in
                    for line in lines { checker.consume(exportLine: line) }
                }
            }
            let outcome = checker.finish()
            guard outcome.isIntact else {
                standardError(outcome.description)
                throw ExitCode.failure
            }
            print(outcome.description)
        }
    }

    /// `biomatch audit public-key`: the verifier key of the checkpoint signing key.
    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key",
            abstract: "Print the public key that verifies this log's checkpoints (creating the signing key if there is none).",
            discussion: """
                The key is BIOMATCH_AUDIT_SIGNING_KEY, else BIOMATCH_HOME/data/audit-signing.key (mode 0600), the one \
                `serve` signs with. Give the printed line to auditors and witnesses.
                """
        )

        @Option(help: "The signing key file (default BIOMATCH_HOME/data/audit-signing.key).")
        var keyFile: String?

        func run() async throws {
            let signer = try AuditSigningKey.loadOrCreate(
                file: keyFile.map { URL(filePath: $0) } ?? AuditKeyOptions.defaultKeyFile(installation: .fromEnvironment()),
                origin: AuditKeyOptions.origin(ProcessInfo.processInfo.environment))
            print(signer.verifier.encoded)
        }
    }

    /// `biomatch audit checkpoint`: sign a checkpoint of the log now and print it.
    struct MakeCheckpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint", abstract: "Sign a checkpoint of the audit log now (if it grew) and print the newest one.")

        @Option(help: "The signing key file (default BIOMATCH_HOME/data/audit-signing.key).")
        var keyFile: String?

        @OptionGroup var database: StoreOptions

        func run() async throws {
            let signer = try AuditSigningKey.loadOrCreate(
                file: keyFile.map { URL(filePath: $0) } ?? AuditKeyOptions.defaultKeyFile(installation: .fromEnvironment()),
                origin: AuditKeyOptions.origin(ProcessInfo.processInfo.environment))
            let log = AuditLog(store: try await database.openStore())
            guard let stored = try await log.makeCheckpoint(signer: signer) else {
                standardError("the audit log is empty: nothing to sign")
                throw ExitCode.failure
            }
            print(stored.note, terminator: "")
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


/// Where the audit signing key lives and what it is called.
enum AuditKeyOptions {
    /// BIOMATCH_HOME/data/audit-signing.key.
    static func defaultKeyFile(installation: Installation) -> URL {
        installation.dataDirectory.appending(path: AuditSigningKey.defaultFileName)
    }

    /// The name a new key gets, which is the checkpoints' origin: BIOMATCH_AUDIT_ORIGIN or `biomatch/audit`.
    static func origin(_ environment: [String: String]) -> String {
        environment["BIOMATCH_AUDIT_ORIGIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "biomatch/audit"
    }

    /// Key text given directly, or read from the file it names.
    static func text(ofKeyOrFile value: String) throws -> String {
        if value.contains("+") && !FileManager.default.fileExists(atPath: value) { return value }
        return try String(contentsOf: URL(filePath: value), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
