import Evaluation
import Foundation
import Governance

/// A transparency report as one self-contained HTML page: inline CSS and SVG plots, no
/// scripts, nothing fetched. Every value from the log is escaped.
struct TransparencyPage {
    let report: TransparencyReport

    private static let colours = ["#2c5aa0", "#d95f02", "#1b7837", "#c51b7d", "#762a83", "#7f7f7f"]

    func render() -> String {
        let title = "BioMatch transparency report, \(Self.day(report.from)) to \(Self.day(report.to.addingTimeInterval(-1)))"
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escapeHTML(title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <h1>\(escapeHTML(title))</h1>
            \(basis())
            <section class="charts">
            \(chart(title: "Searches and candidate lists", series: [
                ("1:N searches", { $0.searches }), ("candidate lists returned", { $0.searchesWithCandidates }),
                ("1:1 verifications", { $0.verifications }),
            ]))
            \(chart(title: "Review outcomes", series: [
                ("confirmed", { $0.confirmed }), ("rejected", { $0.rejected }), ("inconclusive", { $0.inconclusive }),
            ]))
            \(erasureChart())
            </section>
            \(totals())
            \(thresholdChanges())
            \(periodTables())
            <p class="note">Every figure is computed from audit entries alone, as docs/audit-log.md \
            ("Transparency statistics") defines it: anyone holding the log, or an export of it \
            (<code>biomatch audit export --jsonl</code>), can compute them again \
            (<code>biomatch report transparency --jsonl FILE</code>). Candidates are investigative leads for \
            review, never identifications; only a confirmed review decision identifies.</p>
            </body>
            </html>
            """
    }

    private func basis() -> String {
        let basis = report.basis
        var text = "Computed from the first \(basis.treeSize) entries of the log, whose RFC 9162 root hash is \(basis.rootHash)"
        if let last = basis.lastEntryHash { text += " (the last entry's hash is \(last))" }
        text += basis.checkpoint == nil
            ? "; no signed checkpoint was used. " : ": the root of the signed checkpoint below. "
        text += "\(report.entriesInWindow) entries fall in the window (UTC, \(Self.day(report.from)) inclusive to "
            + "\(Self.day(report.to)) exclusive), by \(report.period.rawValue)."
        var html = "<p class=\"meta\">\(escapeHTML(text))</p>"
        if let note = basis.checkpoint { html += "<pre class=\"note\">\(escapeHTML(note))</pre>" }
        return html
    }

    /// Sums of each period's activity over galleries and purposes.
    private var periodActivity: [ActivityFigures] {
        report.periods.map { period in
            period.activity.reduce(into: ActivityFigures()) { sum, row in
                sum.searches += row.figures.searches
                sum.searchesWithCandidates += row.figures.searchesWithCandidates
                sum.candidatesReturned += row.figures.candidatesReturned
                sum.verifications += row.figures.verifications
                sum.comparisons += row.figures.comparisons
                sum.confirmed += row.figures.confirmed
                sum.rejected += row.figures.rejected
                sum.inconclusive += row.figures.inconclusive
            }
        }
    }

    private func chart(title: String, series: [(String, (ActivityFigures) -> Int)]) -> String {
        let figures = periodActivity
        return lineChart(title: title, series: series.map { name, value in (name, figures.map { Double(value($0)) }) })
    }

    private func erasureChart() -> String {
        let erasures = report.periods.map { period in
            period.galleries.reduce(into: (request: 0, retention: 0, gallery: 0)) { sum, row in
                sum.request += row.figures.erasuresOnRequest
                sum.retention += row.figures.erasuresByRetention
                sum.gallery += row.figures.subjectsErasedWithGallery
            }
        }
        return lineChart(
            title: "Erasures", series: [
                ("on request", erasures.map { Double($0.request) }), ("by retention", erasures.map { Double($0.retention) }),
                ("with their gallery", erasures.map { Double($0.gallery) }),
            ])
    }

    /// Counts per period, one line (with dots) per series; the x axis names the periods.
    private func lineChart(title: String, series: [(String, [Double])]) -> String {
        let count = report.periods.count
        let highest = series.flatMap(\.1).max() ?? 0
        let step = Self.niceStep(for: highest)
        let top = max(step, (highest / step).rounded(.up) * step)
        var chart = SVGChart(
            width: 520, height: 280, title: title, x: .linear(-0.5...(Double(max(count, 1)) - 0.5), step: 1),
            y: .linear(0...top, step: step), xLabel: report.period == .week ? "week (from Monday, UTC)" : "\(report.period.rawValue) (UTC)", yLabel: "count")
        chart.legendOnLeft = true
        // At most six labels, short ones: the tables below name every period in full.
        let labelEvery = max(1, (count + 5) / 6)
        chart.xTickLabels = report.periods.enumerated().compactMap { index, period in
            index % labelEvery == 0 ? (Double(index), Self.shortLabel(period.start, period: report.period)) : nil
        }
        for (index, (name, values)) in series.enumerated() {
            let colour = Self.colours[index % Self.colours.count]
            chart.line(values.enumerated().map { (Double($0.offset), $0.element) }, color: colour, label: name)
            if count <= 31 {
                for (position, value) in values.enumerated() { chart.point(x: Double(position), y: value, color: colour, label: "") }
            }
        }
        return chart.render()
    }

    private func totals() -> String {
        let rows = report.totalActivity.map(activityRow).joined()
        let galleries = report.totalGalleries.map { row in
            "<tr><td>\(escapeHTML(row.gallery))</td><td>\(row.figures.thresholdChanges.count)</td>"
                + "<td>\(row.figures.erasuresOnRequest)</td><td>\(row.figures.erasuresByRetention)</td>"
                + "<td>\(row.figures.subjectsErasedWithGallery)</td><td>\(row.figures.subjectAccesses)</td></tr>"
        }.joined()
        return """
            <section><h2>The whole window</h2>\(activityTable(rows))
            <table><thead><tr><th>Gallery</th><th>Threshold changes</th><th>Erasures on request</th>\
            <th>Erasures by retention</th><th>Subjects erased with the gallery</th><th>Subject accesses</th></tr></thead>\
            <tbody>\(galleries.isEmpty ? "<tr><td colspan=\"6\">none</td></tr>" : galleries)</tbody></table></section>
            """
    }

    private func activityRow(_ row: ActivityRow) -> String {
        let figures = row.figures
        let share = figures.rejectedShare.map { String(format: "%.1f %%", $0 * 100) } ?? "-"
        return "<tr><td>\(escapeHTML(row.gallery ?? "(two images)"))</td><td>\(escapeHTML(row.purpose ?? "-"))</td>"
            + "<td>\(figures.searches)</td><td>\(figures.searchesWithCandidates)</td><td>\(figures.candidatesReturned)</td>"
            + "<td>\(figures.verifications)</td><td>\(figures.comparisons)</td><td>\(figures.confirmed)</td>"
            + "<td>\(figures.rejected)</td><td>\(figures.inconclusive)</td><td>\(share)</td></tr>"
    }

    private func activityTable(_ rows: String) -> String {
        """
        <table><thead><tr><th>Gallery</th><th>Purpose</th><th>Searches</th><th>Candidate lists returned</th>\
        <th>Candidates</th><th>Verifications</th><th>Image comparisons</th><th>Confirmed</th><th>Rejected</th>\
        <th>Inconclusive</th><th>Leads rejected</th></tr></thead>\
        <tbody>\(rows.isEmpty ? "<tr><td colspan=\"11\">none</td></tr>" : rows)</tbody></table>
        """
    }

    private func thresholdChanges() -> String {
        let changes: [(gallery: String, change: ThresholdChange)] = report.periods.flatMap { period in
            period.galleries.flatMap { row in row.figures.thresholdChanges.map { (gallery: row.gallery, change: $0) } }
        }
        let rows = changes.map(Self.thresholdRow).joined()
        return """
            <section><h2>Threshold changes and their reasons</h2><table><thead><tr><th>When</th><th>Gallery</th>\
            <th>Kind</th><th>Engine</th><th>Before</th><th>After</th><th>Reason</th><th>Audit entry</th></tr></thead>\
            <tbody>\(rows.isEmpty ? "<tr><td colspan=\"8\">none</td></tr>" : rows)</tbody></table></section>
            """
    }

    private static func thresholdRow(_ row: (gallery: String, change: ThresholdChange)) -> String {
        let change = row.change
        let before = change.previous.map(number) ?? "-"
        let after = change.threshold.map(number) ?? "published"
        var cells = "<tr><td>\(escapeHTML(time(change.recordedAt)))</td><td>\(escapeHTML(row.gallery))</td>"
        cells += "<td>\(escapeHTML(change.kind))</td><td>\(escapeHTML(change.engine ?? "-"))</td>"
        cells += "<td>\(before)</td><td>\(after)</td><td>\(escapeHTML(change.reason))</td><td>\(change.sequence)</td></tr>"
        return cells
    }

    private func periodTables() -> String {
        let sections = report.periods.filter { !$0.activity.isEmpty || !$0.galleries.isEmpty }.map { period in
            let erasures = period.galleries.map { row in
                "<tr><td>\(escapeHTML(row.gallery))</td><td>\(row.figures.erasuresOnRequest)</td>"
                    + "<td>\(row.figures.erasuresByRetention)</td><td>\(row.figures.subjectsErasedWithGallery)</td>"
                    + "<td>\(row.figures.subjectAccesses)</td></tr>"
            }.joined()
            return "<h3>\(escapeHTML(Self.label(period.start, period: report.period)))</h3>"
                + activityTable(period.activity.map(activityRow).joined())
                + (erasures.isEmpty ? "" : "<table><thead><tr><th>Gallery</th><th>Erasures on request</th>"
                    + "<th>Erasures by retention</th><th>Subjects erased with the gallery</th><th>Subject accesses</th></tr>"
                    + "</thead><tbody>\(erasures)</tbody></table>")
        }
        return "<section><h2>Per \(escapeHTML(report.period.rawValue))</h2>\(sections.isEmpty ? "<p>No activity.</p>" : sections.joined())</section>"
    }

    /// 1, 2 or 5 times a power of ten, giving about five ticks up to `highest`.
    static func niceStep(for highest: Double) -> Double {
        guard highest > 5 else { return 1 }
        let rough = highest / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        for multiple in [1.0, 2, 5, 10] where multiple * magnitude >= rough { return multiple * magnitude }
        return 10 * magnitude
    }

    static func label(_ start: Date, period: StatisticsPeriod) -> String {
        switch period {
        case .day: day(start)
        case .week: "week of " + day(start)
        case .month: String(day(start).prefix(7))
        }
    }

    /// `MM-DD` for days and weeks (their first day), `YYYY-MM` for months.
    static func shortLabel(_ start: Date, period: StatisticsPeriod) -> String {
        period == .month ? String(day(start).prefix(7)) : String(day(start).dropFirst(5))
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day())
    }

    static func time(_ date: Date) -> String { date.formatted(.iso8601) }

    static func number(_ value: Double) -> String {
        var text = String(format: "%.4f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static let style = """
        body{font:14px/1.45 system-ui,sans-serif;color:#1d2330;margin:24px auto;max-width:1280px;padding:0 16px}
        h1{font-size:21px}h2{font-size:17px;margin-top:26px}h3{font-size:15px}.meta,.note{color:#444}
        .charts{display:flex;flex-wrap:wrap;gap:16px}table{border-collapse:collapse;width:100%;margin:8px 0 14px}
        th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e1e5ec;vertical-align:top}th{background:#eef1f6}
        """
}
