import ArgumentParser
import Evaluation
import FaceEngine
import Foundation
import Installation

/// `biomatch calibrate --dataset DIR --fmr 1e-4 [--json]`.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Find the threshold that gives a target false-match rate on a labelled dataset.",
        discussion: """
            Compares every pair of templates of DIR (one sub-folder of images per person) and prints the \
            smallest threshold whose FMR is at most the target, with the FMR/FNMR trade-off at thresholds \
            around it. A target of 1 in N needs at least N impostor comparisons; with fewer, the command \
            says so. The figures are the reason to record when a gallery's threshold is changed.
            """)

    @OptionGroup var engineOptions: EngineOptions

    @Option(help: "Dataset folder: one sub-folder of images per person.")
    var dataset: String

    @Option(help: "Target false match rate, e.g. 1e-4.")
    var fmr: Double

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Do not report progress on standard error.")
    var quiet = false

    @Option(help: "Engine to calibrate (see `biomatch engines list`), or 'fusion' for the fusion of every installed engine; default: the default engine. A distance engine's threshold is printed negated.")
    var engine: String?

    func validate() throws {
        guard fmr > 0, fmr < 1 else { throw ValidationError("--fmr must lie strictly between 0 and 1") }
    }

    func run() async throws {
        let detector = try engineOptions.makeEngine()
        let result: DatasetCalibration
        if let engine {
            let registry = try EngineOptions.registry(faceEngine: detector, installation: .fromEnvironment())
            let fuse = engine == "fusion"
            let engines: [any RecognitionEngine]
            if fuse {
                engines = registry.engines
            } else {
                engines = [try registry.engine(named: engine)]
            }
            do {
                let dataset = try LabelledDataset.load(from: URL(filePath: self.dataset))
                let extraction = await EngineExtraction.extract(
                    from: dataset, detector: detector, engines: engines,
                    progress: quiet ? nil : progressReporter(verb: "analysed"))
                if fuse {
                    let model = try FusionModel.fit(on: extraction.clean)
                    result = try DatasetCalibration(templates: model.fuse(extraction.clean), targetFalseMatchRate: fmr, fusion: model)
                } else {
                    result = try DatasetCalibration(templates: extraction.clean[0], targetFalseMatchRate: fmr)
                }
            } catch {
                throw CommandFailure(error.description)
            }
        } else {
            do {
                result = try await DatasetCalibration.measure(
                    datasetAt: URL(filePath: dataset), engine: detector, targetFalseMatchRate: fmr,
                    progress: quiet ? nil : progressReporter(verb: "analysed"))
            } catch {
                throw CommandFailure(error.description)
            }
        }
        if json {
            // The text output carries the warning itself; JSON readers may not look at the field.
            if let warning = result.calibration.warning {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            try printJSON(result)
        } else {
            print(Self.text(of: result))
        }
    }

    /// The calibration as lines of text: data, threshold, then the trade-off table.
    static func text(of result: DatasetCalibration) -> String {
        let calibration = result.calibration
        let rates = calibration.rates
        var lines: [String] = []
        lines.append(
            "\(result.dataset.path): \(result.dataset.people) people, \(result.enrolment.templates)/"
                + "\(result.enrolment.images) images yielded a template")
        lines.append("\(rates.genuineComparisons) genuine and \(rates.impostorComparisons) impostor comparisons")
        lines.append("engine \(result.engine.engine) (\(result.engine.templateModel)), scores as \(result.engine.comparison.higherIsMoreAlike ? "similarities" : "negated distances")")
        if let fusion = result.fusion {
            for part in fusion.parts {
                lines.append("  fusion part \(part.engine): impostor mean \(part.impostorMean), sd \(part.impostorDeviation)")
            }
        }
        lines.append(
            "threshold for FMR <= \(calibration.targetFalseMatchRate): \(calibration.threshold) "
                + "(FMR \(formatRate(rates.falseMatchRate)) = \(rates.falseMatches)/\(rates.impostorComparisons), "
                + "FNMR \(formatRate(rates.falseNonMatchRate)) = \(rates.falseNonMatches)/\(rates.genuineComparisons))")
        if let warning = calibration.warning { lines.append("NOT SUPPORTED: \(warning)") }
        lines.append("")
        lines.append("  threshold        FMR  false matches        FNMR  false non-matches")
        for row in calibration.tradeOff {
            let marker = row.threshold == calibration.threshold ? ">" : " "
            lines.append(
                marker + String(format: " %9.5f", Double(row.threshold)) + padded(formatRate(row.falseMatchRate), 11)
                    + padded("\(row.falseMatches)", 15) + padded(formatRate(row.falseNonMatchRate), 12)
                    + padded("\(row.falseNonMatches)", 19))
        }
        return lines.joined(separator: "\n")
    }

    /// `text` right-aligned in `width` columns.
    private static func padded(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(width - text.count, 0)) + text
    }
}
