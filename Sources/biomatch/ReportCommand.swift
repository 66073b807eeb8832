import ArgumentParser
import Foundation
import Governance
import Transparency

extension StatisticsPeriod: ExpressibleByArgument {}

/// `biomatch report`: reports computed from the audit log.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Publishable reports computed from the audit log.",
        subcommands: [Transparency.self])

    /// `biomatch report transparency --from DATE --to DATE [--period P] --out report.html [--json report.json]`.
    struct Transparency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Searches, candidate lists, review outcomes, threshold changes and erasures per period, purpose and gallery.",
            discussion: """
                Computed from audit entries alone, so anyone holding the log (or `biomatch audit export \
                --jsonl`) can compute the same figures: docs/audit-log.md ("Transparency statistics") \
                defines each one. Dates are UTC days; --to is inclusive. From the store, the figures count \
                the entries the newest signed checkpoint covers (all entries while there is none). With \
                --jsonl they are computed from an export file instead, and with --checkpoint (and \
                --public-key) from the entries that checkpoint covers. The report states the tree size \
                and the root hash computed from the entries read, which must equal the checkpoint's.
                """)

        @OptionGroup var databaseOptions: StoreOptions
        @Option(help: "First day counted (YYYY-MM-DD, UTC).") var from: String
        @Option(help: "Last day counted, inclusive (YYYY-MM-DD, UTC).") var to: String
        @Option(help: "day, week (ISO, from Monday) or month.") var period: StatisticsPeriod = .month
        @Option(help: "The HTML report to write.") var out: String
        @Option(help: "Also write the figures as JSON here.") var json: String?
        @Option(name: .customLong("jsonl"), help: "Compute from this export file (`biomatch audit export --jsonl`) instead of the store.")
        var exportFile: String?
        @Option(name: .customLong("checkpoint"), help: "With --jsonl: a signed checkpoint file; count the entries it covers.")
        var checkpointFile: String?
        @Option(help: "With --checkpoint: the log's public key (from `biomatch audit public-key`), or a file holding it.")
        var publicKey: String?

        func validate() throws {
            guard let start = Self.day(from), let end = Self.day(to) else {
                throw ValidationError("--from and --to must be dates written YYYY-MM-DD")
            }
            guard start <= end else { throw ValidationError("--from must not be after --to") }
            if checkpointFile != nil && (exportFile == nil || publicKey == nil) {
                throw ValidationError("--checkpoint goes with --jsonl and --public-key")
            }
        }

        func run() async throws {
            guard let start = Self.day(from), let last = Self.day(to) else { throw ValidationError("invalid dates") }
            let end = last.addingTimeInterval(86_400)
            var report: TransparencyReport
            if let exportFile {
                let text = try String(contentsOf: URL(filePath: exportFile), encoding: .utf8)
                var signed: (note: String, checkpoint: Checkpoint)?
                if let checkpointFile, let publicKey {
                    let note = try String(contentsOf: URL(filePath: checkpointFile), encoding: .utf8)
                    let key = try NoteVerifier(encoded: AuditKeyOptions.text(ofKeyOrFile: publicKey))
                    signed = (note, try Checkpoint.verified(note, by: key).0)
                }
                report = try TransparencyStatistics.report(
                    exportLines: text.split(separator: "\n", omittingEmptySubsequences: false), from: start, to: end,
                    period: period, upTo: signed?.checkpoint.size)
                if let signed { try report.attach(signed.note, checkpoint: signed.checkpoint) }
            } else {
                let log = AuditLog(store: try await databaseOptions.openStore())
                report = try await log.transparencyReportAtLatestCheckpoint(from: start, to: end, period: period)
            }
            do {
                try Data(TransparencyPage(report: report).render().utf8).write(to: URL(filePath: out), options: .atomic)
                if let json { try Self.jsonData(report).write(to: URL(filePath: json), options: .atomic) }
            } catch {
                throw CommandFailure("Cannot write the report: \((error as NSError).localizedDescription)")
            }
            let totals = report.totalActivity.reduce(into: ActivityFigures()) { sum, row in
                sum.searches += row.figures.searches
                sum.confirmed += row.figures.confirmed
                sum.rejected += row.figures.rejected
                sum.inconclusive += row.figures.inconclusive
            }
            print(
                "\(report.entriesInWindow) entries in the window (of \(report.basis.treeSize) read): \(totals.searches) searches, "
                    + "\(totals.reviewDecisions) review decisions; wrote \(out)\(json.map { " and \($0)" } ?? "")")
        }

        /// The report as JSON: sorted keys, ISO 8601 dates.
        static func jsonData(_ report: TransparencyReport) throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return try encoder.encode(report)
        }

        /// Midnight UTC of a `YYYY-MM-DD` date.
        static func day(_ text: String) -> Date? {
            let parts = text.split(separator: "-")
            guard parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) else { return nil }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let components = DateComponents(year: year, month: month, day: day)
            guard components.isValidDate(in: calendar) else { return nil }
            return calendar.date(from: components)
        }
    }
}
