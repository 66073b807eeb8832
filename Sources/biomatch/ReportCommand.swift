import ArgumentParser
import Foundation
import Governance

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
                defines each one. Dates are UTC days; --to is inclusive. With --jsonl the figures are \
                computed from an export file instead of the store. The report states how many entries \
                it read and the hash of the last, and the checkpoint's root when one was used.
                """)

        @OptionGroup var databaseOptions: StoreOptions
        @Option(help: "First day counted (YYYY-MM-DD, UTC).") var from: String
        @Option(help: "Last day counted, inclusive (YYYY-MM-DD, UTC).") var to: String
        @Option(help: "day, week (ISO, from Monday) or month.") var period: StatisticsPeriod = .month
        @Option(help: "The HTML report to write.") var out: String
        @Option(help: "Also write the figures as JSON here.") var json: String?
        @Option(name: .customLong("jsonl"), help: "Compute from this export file (`biomatch audit export --jsonl`) instead of the store.")
        var exportFile: String?

        func validate() throws {
            guard let start = Self.day(from), let end = Self.day(to) else {
                throw ValidationError("--from and --to must be dates written YYYY-MM-DD")
            }
            guard start <= end else { throw ValidationError("--from must not be after --to") }
        }

        func run() async throws {
            guard let start = Self.day(from), let last = Self.day(to) else { throw ValidationError("invalid dates") }
            let end = last.addingTimeInterval(86_400)
            let report: TransparencyReport
            if let exportFile {
                let text = try String(contentsOf: URL(filePath: exportFile), encoding: .utf8)
                report = try TransparencyStatistics.report(
                    exportLines: text.split(separator: "\n", omittingEmptySubsequences: false), from: start, to: end,
                    period: period)
            } else {
                let log = AuditLog(store: try await databaseOptions.openStore())
                // TODO(lead): checkpoint. Count only the entries the latest signed checkpoint covers:
                // `let checkpoint = try await log.latestCheckpoint()`, then pass `upTo: checkpoint.treeSize`
                // and `rootHash: checkpoint.rootHash.base64EncodedString()`. Until then every entry counts.
                report = try await log.transparencyReport(from: start, to: end, period: period)
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
