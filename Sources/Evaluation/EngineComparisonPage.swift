import Foundation

extension EngineComparisonReport {
    /// Writes `report.html` and `report.json` into `directory`, creating it when needed.
    /// - Throws: ``EvaluationError/reportNotWritten(path:reason:)``.
    @discardableResult
    public func write(to directory: URL) throws(EvaluationError) -> (html: URL, json: URL) {
        let html = directory.appending(path: "report.html")
        let json = directory.appending(path: "report.json")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(self).write(to: json, options: .atomic)
            try Data(htmlPage().utf8).write(to: html, options: .atomic)
        } catch {
            throw .reportNotWritten(path: directory.path, reason: (error as NSError).localizedDescription)
        }
        return (html, json)
    }

    /// One self-contained page: every engine's DET curve on one plot (clean, and degraded when
    /// run), a table per engine, and the degraded protocol's tables. No scripts, nothing fetched.
    public func htmlPage() -> String {
        let name = engines.first.map { URL(filePath: $0.dataset.path).lastPathComponent } ?? "dataset"
        let meta = engines.first.map { first in
            "\(first.dataset.path) · \(first.dataset.people) people · \(first.dataset.images) images · "
                + "detector \(first.engine.detectorModel), ONNX Runtime \(first.engine.runtimeVersion) · \(generatedAt)"
        } ?? generatedAt
        var body = "<h1>Engines side by side: \(escapeHTML(name))</h1><p class=\"meta\">\(escapeHTML(meta))</p>"
        body += "<section class=\"charts\">" + cleanDETChart() + (degradedDETChart() ?? "") + "</section>"
        body += "<h2>Clean images</h2>" + cleanTable()
        if let fusion {
            body += "<p>Fusion: each engine's similarity (a distance negated) minus the mean of its impostor "
                + "similarities, over their standard deviation, averaged across engines; fitted on the clean images' "
                + "impostor pairs: "
                + fusion.parts.map { "\(escapeHTML($0.engine)) mean \(Self.number($0.impostorMean)), sd \(Self.number($0.impostorDeviation))" }
                .joined(separator: "; ") + ".</p>"
        }
        if let degraded {
            body += "<h2>Degraded probes (seed \(degraded.seed))</h2><ul>"
                + degraded.degradations.sorted { $0.key < $1.key }.map { "<li><b>\(escapeHTML($0.key))</b>: \(escapeHTML($0.value))</li>" }.joined()
                + "</ul>" + degradedTable(degraded)
        }
        body += "<p class=\"note\">Figures are computed on similarities: a distance engine's scores and thresholds "
            + "appear negated (dlib's 0.6 is -0.6). A comparison matches at or above the threshold.</p>"
        return """
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>BioMatch engines: \(escapeHTML(name))</title>
            <style>\(Self.style)</style></head>
            <body>\(body)</body>
            </html>

            """
    }

    private static let colours = ["#2c5aa0", "#d95f02", "#1b7837", "#762a83", "#c51b7d"]

    private func cleanDETChart() -> String {
        let impostors = engines.map(\.verification.scores.impostor.count).max() ?? 1
        let genuines = engines.map(\.verification.scores.genuine.count).max() ?? 1
        return detChart(
            title: "DET curve, clean images", impostors: impostors, genuines: genuines,
            curves: engines.map { ($0.engine.engine, $0.verification.det) })
    }

    private func degradedDETChart() -> String? {
        guard let degraded else { return nil }
        let impostors = degraded.engines.map(\.impostorComparisons).max() ?? 1
        let genuines = degraded.engines.map(\.genuineComparisons).max() ?? 1
        return detChart(
            title: "DET curve, degraded probes", impostors: impostors, genuines: genuines,
            curves: degraded.engines.map { ($0.engine, $0.det) })
    }

    private func detChart(title: String, impostors: Int, genuines: Int, curves: [(String, [DETPoint])]) -> String {
        let xLower = -max(1, Int(log10(Double(max(impostors, 10))).rounded(.up)))
        let yLower = -max(1, Int(log10(Double(max(genuines, 10))).rounded(.up)))
        var chart = SVGChart(
            width: 560, height: 420, title: title,
            x: .logarithmic(lowerExponent: xLower, upperExponent: 0), y: .logarithmic(lowerExponent: yLower, upperExponent: 0),
            xLabel: "False match rate (FMR), \(impostors) impostor pairs",
            yLabel: "False non-match rate (FNMR), \(genuines) genuine pairs")
        let lowest = pow(10, Double(min(xLower, yLower)))
        chart.line([(lowest, lowest), (1, 1)], color: "#999", width: 1, dashed: true, label: "FMR = FNMR")
        for (index, curve) in curves.enumerated() {
            chart.line(
                curve.1.map { (Swift.max($0.falseMatchRate, lowest), Swift.max($0.falseNonMatchRate, lowest)) },
                color: Self.colours[index % Self.colours.count], label: curve.0)
        }
        return "<figure>" + chart.render() + "<figcaption>Rates of zero are drawn on the lower edge.</figcaption></figure>"
    }

    private func cleanTable() -> String {
        var rows = "<tr><th>engine</th><th>template model</th><th>templates</th><th>EER</th>"
            + "<th>FNMR at FMR 1e-3</th><th>FNMR at FMR 1e-4</th><th>rank-1</th><th>operating threshold</th>"
            + "<th>FMR / FNMR there</th></tr>"
        for report in engines {
            func fnmr(_ target: Double) -> String {
                guard let row = report.verification.thresholdsForTargets.first(where: { $0.targetFalseMatchRate == target })
                else { return "–" }
                return Self.rate(row.rates.falseNonMatchRate) + (row.isSupported ? "" : " (unsupported)")
            }
            let operating = report.verification.operatingPoint
            rows += "<tr><td>\(escapeHTML(report.engine.engine))</td><td>\(escapeHTML(report.engine.templateModel))</td>"
                + "<td>\(report.enrolment.templates) / \(report.enrolment.images)</td>"
                + "<td>\(Self.rate(report.verification.equalErrorRate?.rate))</td><td>\(fnmr(1e-3))</td><td>\(fnmr(1e-4))</td>"
                + "<td>\(Self.rate(report.identification.rankOneHitRate))</td><td>\(Self.number(operating.threshold))</td>"
                + "<td>\(Self.rate(operating.falseMatchRate)) / \(Self.rate(operating.falseNonMatchRate))</td></tr>"
        }
        return "<table>\(rows)</table>"
    }

    private func degradedTable(_ degraded: DegradedProtocol) -> String {
        let targets = Self.degradedTargets
        var header = "<tr><th>engine</th><th>degradation</th><th>probes</th><th>no template</th>"
        for target in targets { header += "<th>FNMR at FMR \(Self.rate(target))</th>" }
        header += "<th>rank-1</th></tr>"
        var rows = header
        for figures in degraded.engines {
            rows += "<tr class=\"total\"><td>\(escapeHTML(figures.engine))</td><td>all</td><td>\(figures.genuineComparisons)</td>"
                + "<td>\(figures.failedProbes)</td>"
                + figures.operatingPoints.map { "<td>\(Self.rate($0.falseNonMatchRate))\($0.isSupported ? "" : " (unsupported)")</td>" }.joined()
                + "<td>\(Self.rate(figures.rankOneHitRate))</td></tr>"
            for row in figures.byDegradation {
                rows += "<tr><td></td><td>\(escapeHTML(row.degradation.rawValue))</td><td>\(row.probes)</td><td>\(row.failures)</td>"
                    + row.falseNonMatchRates.map { "<td>\(Self.rate($0))</td>" }.joined()
                    + "<td>\(Self.rate(row.rankOneHitRate))</td></tr>"
            }
        }
        return "<table>\(rows)</table>"
    }

    static func rate(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value == 0 { return "0" }
        return value >= 0.01 ? String(format: "%.2f %%", value * 100) : String(format: "%.2e", value)
    }

    static func number(_ value: Float) -> String { String(format: "%.4f", Double(value)) }

    private static let style = """
        body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}.meta,.note{color:#666;font-size:13px}
        .charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#666}
        table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
        th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}tr.total td{font-weight:600;background:#fafafa}
        """
}
