import Foundation

extension EvaluationReport {
    /// Writes `report.html` and `report.json` into `directory`, creating it when needed.
    /// - Returns: The two files written, HTML first.
    /// - Throws: ``EvaluationError/reportNotWritten(path:reason:)``.
    @discardableResult
    public func write(to directory: URL) throws(EvaluationError) -> (html: URL, json: URL) {
        let html = directory.appending(path: "report.html")
        let json = directory.appending(path: "report.json")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try jsonData().write(to: json, options: .atomic)
            try Data(htmlPage().utf8).write(to: html, options: .atomic)
        } catch {
            throw .reportNotWritten(path: directory.path, reason: (error as NSError).localizedDescription)
        }
        return (html, json)
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a report written by ``write(to:)``.
    public static func read(from file: URL) throws -> EvaluationReport {
        try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: file))
    }

    /// The report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.
    public func htmlPage() -> String {
        ReportPage(report: self).render()
    }
}

/// Renders an ``EvaluationReport`` as HTML.
private struct ReportPage {
    let report: EvaluationReport

    private static let genuineColour = "#1b7837"
    private static let impostorColour = "#c51b7d"
    private static let curveColour = "#2c5aa0"
    private static let operatingColour = "#d95f02"
    private static let equalErrorColour = "#762a83"

    func render() -> String {
        let name = URL(filePath: report.dataset.path).lastPathComponent
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>BioMatch evaluation: \(escapeHTML(name))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header>
            <h1>Face engine evaluation: \(escapeHTML(name))</h1>
            <p class="meta">\(escapeHTML(report.dataset.path)) · \(report.dataset.people) people · \
            \(report.dataset.images) images · \(escapeHTML(report.engine.templateModel)) with \
            \(escapeHTML(report.engine.detectorModel)), ONNX Runtime \(escapeHTML(report.engine.runtimeVersion)) · \
            \(escapeHTML(report.generatedAt))</p>
            </header>
            \(cards())
            <section class="charts">
            \(detChart())
            \(histogramChart(logarithmic: false))
            </section>
            <section class="tables">
            <div>\(verificationTable())</div>
            <div>\(identificationTables())</div>
            </section>
            \(groupSection())
            <section class="charts">
            \(histogramChart(logarithmic: true))
            <div class="notes">\(notes())</div>
            </section>
            \(failureSection())
            </body>
            </html>

            """
    }

    // MARK: - Headline figures

    private func cards() -> String {
        let verification = report.verification
        let identification = report.identification
        var items: [(String, String, String)] = []
        items.append((
            "Rank-1 identification", Self.rate(identification.rankOneHitRate),
            identification.rankHitRates.first.map { "\($0.hits) of \($0.searches) mated searches" } ?? ""))
        items.append((
            "Equal error rate", Self.rate(verification.equalErrorRate?.rate),
            verification.equalErrorRate.map { "at threshold \(Self.threshold($0.threshold))" } ?? "not defined"))
        let operating = verification.operatingPoint
        items.append((
            "FMR at \(Self.threshold(operating.threshold))", Self.rate(operating.falseMatchRate),
            "\(operating.falseMatches) of \(operating.impostorComparisons) impostor pairs"))
        items.append((
            "FNMR at \(Self.threshold(operating.threshold))", Self.rate(operating.falseNonMatchRate),
            "\(operating.falseNonMatches) of \(operating.genuineComparisons) genuine pairs"))
        if let strict = identification.fnirAtFPIR.last {
            items.append((
                "FNIR at FPIR \(Self.rate(strict.targetFalsePositiveRate))", Self.rate(strict.rates.falseNegativeRate),
                "threshold \(Self.threshold(strict.rates.threshold))"))
        }
        items.append((
            "Templates", "\(report.enrolment.templates) / \(report.enrolment.images)",
            "\(report.enrolment.failures.count) failure(s) to enrol"))
        let cards = items.map { title, value, detail in
            "<div class=\"card\"><div class=\"label\">\(escapeHTML(title))</div><div class=\"value\">\(escapeHTML(value))</div>"
                + "<div class=\"detail\">\(escapeHTML(detail))</div></div>"
        }
        return "<section class=\"cards\">" + cards.joined() + "</section>"
    }

    // MARK: - Charts

    private func detChart() -> String {
        let verification = report.verification
        let impostors = verification.scores.impostor.count
        let genuines = verification.scores.genuine.count
        let xLower = Self.lowerExponent(forComparisons: impostors)
        let yLower = Self.lowerExponent(forComparisons: genuines)
        var chart = SVGChart(
            width: 580, height: 420, title: "DET curve",
            x: .logarithmic(lowerExponent: xLower, upperExponent: 0),
            y: .logarithmic(lowerExponent: yLower, upperExponent: 0),
            xLabel: "False match rate (FMR), \(impostors) impostor pairs",
            yLabel: "False non-match rate (FNMR), \(genuines) genuine pairs")
        let lowest = pow(10, Double(min(xLower, yLower)))
        chart.line([(lowest, lowest), (1, 1)], color: "#999", width: 1, dashed: true, label: "FMR = FNMR")
        chart.line(
            verification.det.map { (Swift.max($0.falseMatchRate, lowest), Swift.max($0.falseNonMatchRate, lowest)) },
            color: Self.curveColour, label: "engine")
        if let eer = verification.equalErrorRate, eer.rate > 0 {
            chart.point(x: eer.rate, y: eer.rate, color: Self.equalErrorColour, label: "EER \(Self.rate(eer.rate))")
        }
        let operating = verification.operatingPoint
        if let fmr = operating.falseMatchRate, let fnmr = operating.falseNonMatchRate {
            chart.point(
                x: fmr, y: fnmr, color: Self.operatingColour,
                label: "threshold \(Self.threshold(operating.threshold))")
        }
        return "<figure>" + chart.render()
            + "<figcaption>Rates of zero are drawn on the lower edge.</figcaption></figure>"
    }

    private func histogramChart(logarithmic: Bool) -> String {
        let histogram = report.verification.histogram
        guard !histogram.genuine.isEmpty else { return "" }
        let edges = (0...histogram.genuine.count).map {
            Double(histogram.lowerBound) + Double($0) * Double(histogram.binWidth)
        }
        func fractions(_ counts: [Int]) -> [Double] {
            let total = counts.reduce(0, +)
            return counts.map { total > 0 ? Double($0) / Double(total) : 0 }
        }
        let genuine = fractions(histogram.genuine)
        let impostor = fractions(histogram.impostor)
        let lowestShare = (genuine + impostor).filter { $0 > 0 }.min() ?? 1
        let highestShare = (genuine + impostor).max() ?? 1
        let xRange = edges[0]...edges[edges.count - 1]
        let yScale: SVGChart.Scale = logarithmic
            ? .logarithmic(lowerExponent: Int(log10(lowestShare).rounded(.down)), upperExponent: 0)
            : .linear(0...Self.niceCeiling(highestShare), step: Self.niceCeiling(highestShare) / 5)
        var chart = SVGChart(
            width: 580, height: logarithmic ? 340 : 420,
            title: logarithmic ? "Score distributions, logarithmic (the tails)" : "Score distributions",
            x: .linear(xRange, step: xRange.upperBound - xRange.lowerBound > 1 ? 0.2 : 0.1),
            y: yScale, xLabel: "Cosine similarity", yLabel: "Share of comparisons per bin")
        // Scores rarely fall below -0.1, so the top-left corner is free.
        chart.legendOnLeft = true
        chart.bars(
            edges: edges, values: impostor, color: Self.impostorColour,
            label: "impostor (\(report.verification.scores.impostor.count))")
        chart.bars(
            edges: edges, values: genuine, color: Self.genuineColour,
            label: "genuine (\(report.verification.scores.genuine.count))")
        chart.verticalMarker(
            at: Double(report.verification.operatingPoint.threshold), color: Self.operatingColour,
            label: Self.threshold(report.verification.operatingPoint.threshold))
        return "<figure>" + chart.render() + "</figure>"
    }

    // MARK: - Tables

    private func verificationTable() -> String {
        var rows = report.verification.thresholdsForTargets.map { calibration in
            let rates = calibration.rates
            let support = calibration.isSupported
                ? "" : " <span class=\"warn\">needs ≥ \(calibration.minimumImpostorComparisons) impostor pairs</span>"
            return "<tr><td>\(Self.rate(calibration.targetFalseMatchRate))\(support)</td>"
                + "<td>\(Self.threshold(calibration.threshold))</td>"
                + "<td>\(Self.rate(rates.falseMatchRate)) <small>(\(rates.falseMatches))</small></td>"
                + "<td>\(Self.rate(rates.falseNonMatchRate)) <small>(\(rates.falseNonMatches))</small></td></tr>"
        }
        let operating = report.verification.operatingPoint
        rows.append(
            "<tr class=\"operating\"><td>operating threshold</td><td>\(Self.threshold(operating.threshold))</td>"
                + "<td>\(Self.rate(operating.falseMatchRate)) <small>(\(operating.falseMatches))</small></td>"
                + "<td>\(Self.rate(operating.falseNonMatchRate)) <small>(\(operating.falseNonMatches))</small></td></tr>")
        let scores = report.verification.scores
        return "<h2>1:1 verification</h2>"
            + "<p>\(scores.genuine.count) genuine and \(scores.impostor.count) impostor pairs (every pair of templates). "
            + "Genuine median \(Self.optionalNumber(scores.genuine.median)), impostor median "
            + "\(Self.optionalNumber(scores.impostor.median)), highest impostor \(Self.optionalNumber(scores.impostor.maximum.map(Double.init))).</p>"
            + "<table><thead><tr><th>target FMR</th><th>threshold</th><th>FMR (count)</th><th>FNMR (count)</th></tr></thead>"
            + "<tbody>" + rows.joined() + "</tbody></table>"
    }

    private func identificationTables() -> String {
        let identification = report.identification
        let ranks = identification.rankHitRates.map { hit in
            "<tr><td>\(hit.rank)</td><td>\(Self.rate(hit.rate))</td><td>\(hit.hits) / \(hit.searches)</td></tr>"
        }
        var fnir = identification.fnirAtFPIR.map { figure in
            let support = figure.isSupported
                ? "" : " <span class=\"warn\">needs ≥ \(figure.minimumNonMatedSearches) non-mated searches</span>"
            return Self.identificationRow(figure.rates, label: Self.rate(figure.targetFalsePositiveRate) + support)
        }
        fnir.append(Self.identificationRow(identification.operatingPoint, label: "operating threshold", operating: true))
        return "<h2>1:N identification</h2>"
            + "<p>Gallery: the first image of each of \(identification.galleryImages.count) people; every later image "
            + "is a mated probe, and again a non-mated probe against the gallery without its own person.</p>"
            + "<table><thead><tr><th>rank</th><th>hit rate</th><th>hits</th></tr></thead><tbody>"
            + ranks.joined() + "</tbody></table>"
            + "<table><thead><tr><th>target FPIR</th><th>threshold</th><th>FPIR (count)</th><th>FNIR (count)</th></tr>"
            + "</thead><tbody>" + fnir.joined() + "</tbody></table>"
    }

    private static func identificationRow(_ rates: IdentificationRates, label: String, operating: Bool = false) -> String {
        "<tr\(operating ? " class=\"operating\"" : "")><td>\(label)</td><td>\(threshold(rates.threshold))</td>"
            + "<td>\(rate(rates.falsePositiveRate)) <small>(\(rates.falsePositives) / \(rates.nonMatedSearches))</small></td>"
            + "<td>\(rate(rates.falseNegativeRate)) <small>(\(rates.misses) / \(rates.matedSearches))</small></td></tr>"
    }

    private func groupSection() -> String {
        guard let figures = report.groups else { return "" }
        let rows = figures.groups.map { group in
            let rates = group.rates
            return "<tr><td>\(escapeHTML(group.name))</td><td>\(group.people)</td>"
                + "<td>\(Self.rate(rates.falseMatchRate)) <small>(\(rates.falseMatches) / \(rates.impostorComparisons))</small></td>"
                + "<td>\(Self.rate(rates.falseNonMatchRate)) <small>(\(rates.falseNonMatches) / \(rates.genuineComparisons))</small></td></tr>"
        }
        let ratioRow = "<tr class=\"operating\"><td>largest / smallest</td><td></td>"
            + "<td>\(Self.ratio(figures.falseMatchRateRatio))</td><td>\(Self.ratio(figures.falseNonMatchRateRatio))</td></tr>"
        let unlabelled = figures.unlabelledPeople.isEmpty
            ? "" : "<p>Not labelled, left out: \(escapeHTML(figures.unlabelledPeople.joined(separator: ", "))).</p>"
        return "<section class=\"groups\"><h2>Per group at threshold \(Self.threshold(figures.threshold))</h2>"
            + "<table><thead><tr><th>group</th><th>people</th><th>FMR (count)</th><th>FNMR (count)</th></tr></thead>"
            + "<tbody>" + rows.joined() + ratioRow + "</tbody></table>"
            + "<p class=\"small\">\(escapeHTML(GroupFigures.pairing)) \(escapeHTML(RateRatio.zeroHandling))</p>"
            + unlabelled + "</section>"
    }

    private func notes() -> String {
        """
        <h2>How to read this</h2>
        <ul>
        <li>A comparison matches when its cosine similarity is at or above the threshold. FMR is the share of \
        impostor pairs (different people) that match; FNMR the share of genuine pairs (same person) that do not.</li>
        <li>The threshold for a target FMR is the smallest one whose FMR is at most the target. A target of \
        1 in N needs at least N impostor pairs; rows without enough are marked.</li>
        <li>FNIR counts a mated search as found only when its own person is ranked first at or above the \
        threshold; FPIR is the share of non-mated searches whose top candidate reaches the threshold.</li>
        <li>Images with no face are failures to enrol: they make no pair, and as probes they count as misses.</li>
        <li>Every candidate list is a lead for a trained reviewer, not an identification.</li>
        </ul>
        """
    }

    private func failureSection() -> String {
        let failures = report.enrolment.failures
        guard !failures.isEmpty else { return "" }
        let rows = failures.map { "<tr><td>\(escapeHTML($0.file))</td><td>\(escapeHTML($0.reason))</td></tr>" }
        return "<section><h2>Failures to enrol (\(failures.count))</h2><table><thead><tr><th>image</th><th>reason</th>"
            + "</tr></thead><tbody>" + rows.joined() + "</tbody></table></section>"
    }

    // MARK: - Formatting

    /// A rate with three significant digits ("0.0275", "1.25e-5"), "0" for zero, "n/a" for none.
    static func rate(_ value: Double?) -> String {
        guard let value else { return "n/a" }
        if value == 0 { return "0" }
        if value >= 0.001 { return String(format: "%.3g", value) }
        let text = String(format: "%.3g", value)
        return text.replacingOccurrences(of: "e-0", with: "e-")
    }

    private static func threshold(_ value: Float) -> String {
        "\(value)"
    }

    private static func optionalNumber(_ value: Double?) -> String {
        value.map { String(format: "%.3f", $0) } ?? "n/a"
    }

    private static func ratio(_ ratio: RateRatio) -> String {
        if let value = ratio.ratio {
            return String(format: "%.2f", value)
                + " <small>(\(escapeHTML(ratio.highestGroup ?? "")) / \(escapeHTML(ratio.lowestGroup ?? "")))</small>"
        }
        if let bound = ratio.ratioWithZeroAsOneError {
            return "≥ " + String(format: "%.2f", bound)
                + " <small>(\(escapeHTML(ratio.lowestGroup ?? "")) has none)</small>"
        }
        return ratio.highest == 0 ? "no errors in any group" : "n/a"
    }

    /// The decade at or below one error in `comparisons`, so a single error still shows.
    private static func lowerExponent(forComparisons comparisons: Int) -> Int {
        guard comparisons > 0 else { return -1 }
        return Swift.min(Int(log10(1 / Double(comparisons)).rounded(.down)), -1)
    }

    /// A round number at or above `value`, for a linear axis top.
    private static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, log10(value).rounded(.down))
        for step in [1.0, 2, 2.5, 5, 10] where step * magnitude >= value {
            return step * magnitude
        }
        return 10 * magnitude
    }

    private static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px;margin:24px auto;max-width:1160px;\
        padding:0 12px;color:#222;background:#fafafa}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 8px}
        .meta{color:#555;font-size:13px;margin:0 0 16px}
        .cards{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-bottom:16px}
        .card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}
        .card .label{font-size:12px;color:#555}.card .value{font-size:24px;font-weight:600;margin:4px 0}
        .card .detail{font-size:11px;color:#666}
        .charts,.tables{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;align-items:start}
        figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;min-width:0}
        figure svg{display:block;width:100%;height:auto}
        figcaption,.small{font-size:11px;color:#666}
        table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:13px;width:100%}
        th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f0f0f0}
        tr.operating td{background:#fff4e8}small{color:#666}.warn{color:#b00;font-size:11px}
        .notes{font-size:13px}.notes li{margin-bottom:6px}
        """
}
