import ArgumentParser
import Evaluation
import FaceEngine
import Foundation
import Installation

/// `biomatch evaluate DATASET_DIR [--groups groups.csv] --out DIR [--threshold 0.363]`.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure the engine on a labelled dataset; write report.html and report.json.",
        discussion: """
            DATASET_DIR holds one sub-folder per person with that person's images (jpg, png, pgm, ppm). \
            Every pair of templates is compared (DET curve, EER, FMR/FNMR at the threshold and at target \
            FMRs); the first image of each person is enrolled and the others are searched 1:N (rank hit \
            rates, FNIR at FPIR 0.1 and 0.01). With --groups (CSV of person,group lines), FMR and FNMR \
            per group at the threshold and their largest-to-smallest ratio. With --engines (for example \
            sface,dlib,fusion) every engine runs on the same detections and one report shows them side by \
            side, each DET curve on one plot; 'fusion' adds the engines' fused comparison. --degrade adds \
            the seeded degraded-probe protocol (low resolution, blur, JPEG, occlusion, gamma): each \
            person's first image enrolled clean, every other image degraded once per kind and searched.
            """)

    @OptionGroup var engineOptions: EngineOptions

    @Argument(help: "Dataset folder: one sub-folder of images per person.")
    var dataset: String

    @Option(help: "CSV file of person,group lines for the per-group figures.")
    var groups: String?

    @Option(help: "Folder to write report.html and report.json into (created when missing).")
    var out: String

    @Option(help: "Operating threshold: cosine at or above it is a match.")
    var threshold: Float = 0.363

    @Flag(help: "Do not report progress on standard error.")
    var quiet = false

    @Option(help: "Engines side by side, comma-separated (see `biomatch engines list`); 'fusion' adds their fusion.")
    var engines: String?

    @Flag(help: "Add the seeded degraded-probe protocol (low resolution, blur, JPEG, occlusion, gamma).")
    var degrade = false

    @Option(help: "Seed of the degraded-probe protocol.")
    var seed: UInt64 = 20_261_207

    func validate() throws {
        guard (-1...1).contains(threshold) else { throw ValidationError("--threshold must lie in -1...1") }
    }

    func run() async throws {
        if engines != nil || degrade {
            try await runSideBySide()
            return
        }
        let engine = try engineOptions.makeEngine()
        let report: EvaluationReport
        let written: (html: URL, json: URL)
        do {
            report = try await EvaluationReport.evaluate(
                datasetAt: URL(filePath: dataset), groupsFile: groups.map { URL(filePath: $0) }, engine: engine,
                settings: EvaluationSettings(operatingThreshold: threshold),
                progress: quiet ? nil : progressReporter(verb: "analysed"))
            written = try report.write(to: URL(filePath: out))
        } catch {
            throw CommandFailure(error.description)
        }
        print(Self.summary(of: report))
        print("wrote \(written.html.path)")
        print("wrote \(written.json.path)")
    }

    /// Every engine named (and their fusion) on the same detections, one report.
    private func runSideBySide() async throws {
        let installation = Installation.fromEnvironment()
        let detector = try engineOptions.makeEngine()
        let registry = try EngineOptions.registry(faceEngine: detector, installation: installation)
        let names = (engines ?? registry.defaultIdentifier).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let fuse = names.contains("fusion")
        let selected = try registry.engines(named: names.filter { $0 != "fusion" })
        var thresholds: [String: Float] = [:]
        for engine in selected {
            let profile = engine.profile
            thresholds[profile.identifier] = profile.comparison.similarity(fromNative: profile.sameSubjectThreshold)
        }
        if selected.count == 1, let only = selected.first { thresholds[only.profile.identifier] = threshold }
        let report: EngineComparisonReport
        let written: (html: URL, json: URL)
        do {
            let dataset = try LabelledDataset.load(from: URL(filePath: self.dataset))
            let groupLabels = try groups.map { file throws(EvaluationError) in try GroupLabels.load(from: URL(filePath: file), for: dataset) }
            let extraction = await EngineExtraction.extract(
                from: dataset, detector: detector, engines: selected, degradations: degrade ? ProbeDegradation.allCases : [],
                seed: seed, progress: quiet ? nil : progressReporter(verb: "analysed"))
            report = try EngineComparisonReport(
                extraction: extraction, fuse: fuse, operatingThresholds: thresholds, groups: groupLabels, groupsFile: groups)
            written = try report.write(to: URL(filePath: out))
        } catch {
            throw CommandFailure(error.description)
        }
        for engineReport in report.engines {
            print("== \(engineReport.engine.engine) (\(engineReport.engine.templateModel))")
            print(Self.summary(of: engineReport))
        }
        if let degraded = report.degraded {
            print("== degraded probes (seed \(degraded.seed))")
            for figures in degraded.engines {
                let points = figures.operatingPoints.map { "FNMR at FMR \($0.targetFalseMatchRate) \(formatRate($0.falseNonMatchRate))" }
                print("\(figures.engine): \(points.joined(separator: ", ")), rank-1 \(formatRate(figures.rankOneHitRate)), "
                    + "\(figures.failedProbes)/\(figures.genuineComparisons) probes without a template")
            }
        }
        print("wrote \(written.html.path)")
        print("wrote \(written.json.path)")
    }

    /// The headline figures, a line each.
    static func summary(of report: EvaluationReport) -> String {
        var lines: [String] = []
        lines.append(
            "\(report.dataset.people) people, \(report.enrolment.templates)/\(report.enrolment.images) images "
                + "yielded a template (\(report.enrolment.failures.count) failure(s) to enrol)")
        let scores = report.verification.scores
        lines.append("\(scores.genuine.count) genuine and \(scores.impostor.count) impostor comparisons")
        if let eer = report.verification.equalErrorRate {
            lines.append("EER \(formatRate(eer.rate)) at threshold \(eer.threshold)")
        }
        let operating = report.verification.operatingPoint
        lines.append(
            "at threshold \(operating.threshold): FMR \(formatRate(operating.falseMatchRate)) "
                + "(\(operating.falseMatches)/\(operating.impostorComparisons)), FNMR "
                + "\(formatRate(operating.falseNonMatchRate)) (\(operating.falseNonMatches)/\(operating.genuineComparisons))")
        for calibration in report.verification.thresholdsForTargets {
            let note = calibration.isSupported ? "" : " (too few impostor comparisons to support this target)"
            lines.append(
                "FMR <= \(calibration.targetFalseMatchRate): threshold \(calibration.threshold), FNMR "
                    + "\(formatRate(calibration.rates.falseNonMatchRate))\(note)")
        }
        for hit in report.identification.rankHitRates {
            lines.append("rank-\(hit.rank) \(formatRate(hit.rate)) (\(hit.hits)/\(hit.searches))")
        }
        for figure in report.identification.fnirAtFPIR {
            let note = figure.isSupported ? "" : " (too few non-mated searches to support this target)"
            lines.append(
                "FPIR <= \(figure.targetFalsePositiveRate): threshold \(figure.rates.threshold), FNIR "
                    + "\(formatRate(figure.rates.falseNegativeRate))\(note)")
        }
        if let groups = report.groups {
            for group in groups.groups {
                lines.append(
                    "group \(group.name) (\(group.people) people): FMR \(formatRate(group.rates.falseMatchRate)), "
                        + "FNMR \(formatRate(group.rates.falseNonMatchRate))")
            }
            lines.append("FMR ratio \(describe(groups.falseMatchRateRatio)), FNMR ratio \(describe(groups.falseNonMatchRateRatio))")
        }
        return lines.joined(separator: "\n")
    }

    private static func describe(_ ratio: RateRatio) -> String {
        if let value = ratio.ratio { return String(format: "%.2f", value) }
        if let bound = ratio.ratioWithZeroAsOneError { return String(format: ">= %.2f (a group has none)", bound) }
        return ratio.highest == 0 ? "undefined (no errors in any group)" : "n/a"
    }
}

/// A rate with four significant digits, or "n/a".
func formatRate(_ value: Double?) -> String {
    value.map { String(format: "%.4g", $0) } ?? "n/a"
}

