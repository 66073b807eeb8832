import ArgumentParser
import Evaluation
import FaceEngine
import Foundation
import Gallery
import Identification
import Installation
import Operations

/// `biomatch calibrate --dataset DIR --fmr 1e-4 [--engine E|fusion] [--gallery G --reason TEXT] [--json]`.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Find the threshold that gives a target false-match rate on a labelled dataset.",
        discussion: """
            Compares every pair of templates of DIR (one sub-folder of images per person) and prints the \
            smallest threshold whose FMR is at most the target, with the FMR/FNMR trade-off at thresholds \
            around it. A target of 1 in N needs at least N impostor comparisons; with fewer, the command \
            says so. The figures are the reason to record when a gallery's threshold is changed.

            With --gallery, the result is recorded on that gallery (audited, with --reason): an engine's \
            threshold becomes the gallery's threshold for it (the gallery's operating threshold for its default \
            engine), and a fusion calibration (the gallery's engines, fitted together) becomes the gallery's \
            fused comparison. A target the data cannot support is not recorded.
            """)

    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var databaseOptions: StoreOptions

    @Option(help: "Dataset folder: one sub-folder of images per person.")
    var dataset: String

    @Option(help: "Target false match rate, e.g. 1e-4.")
    var fmr: Double

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Do not report progress on standard error.")
    var quiet = false

    @Option(help: "Engine to calibrate (see `biomatch engines list`), or 'fusion' for the fusion of every installed engine (with --gallery: of the gallery's engines); default: the default engine. A distance engine's threshold is printed negated.")
    var engine: String?

    @Option(help: "Record the result on this gallery (see the discussion); needs --reason.")
    var gallery: String?

    @Option(help: "Why the gallery's calibration changes, for the audit log (with --gallery).")
    var reason: String?

    func validate() throws {
        guard fmr > 0, fmr < 1 else { throw ValidationError("--fmr must lie strictly between 0 and 1") }
        if gallery != nil, reason?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ?? true {
            throw ValidationError("--gallery needs --reason: the change is written to the audit log")
        }
        if gallery == nil, reason != nil { throw ValidationError("--reason goes with --gallery") }
    }

    func run() async throws {
        let detector = try engineOptions.makeEngine()
        // The gallery is checked before the dataset is read: a mismatch fails at once.
        var target: (operations: MatcherOperations, record: GalleryRecord)?
        if let gallery {
            let operations = try await databaseOptions.openOperations(engine: detector, engines: engine.map { [$0] } ?? [])
            target = (operations, try operations.identification.gallery(named: gallery))
        }
        let result: DatasetCalibration
        if let engine {
            let registry = try target?.operations.identification.recognisers
                ?? EngineOptions.registry(faceEngine: detector, installation: .fromEnvironment())
            let fuse = engine == GallerySearchService.fusion
            let engines: [any RecognitionEngine]
            if fuse, let record = target?.record {
                engines = try Self.fusedEngines(of: record, registry: registry)
            } else if fuse {
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
        var recorded: GalleryRecord?
        if let target {
            recorded = try await Self.record(result, engine: engine, on: target.record, reason: reason ?? "", operations: target.operations)
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
        if let recorded {
            let message = "recorded on gallery '\(recorded.name)': " + Self.summary(of: recorded, engine: engine ?? recorded.defaultEngine)
            if json {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            } else {
                print(message)
            }
        }
    }

    /// The engines a gallery's fusion is fitted on: the gallery's own, in its order, each
    /// installed here with the same template tag.
    static func fusedEngines(of record: GalleryRecord, registry: RecognitionEngineRegistry) throws -> [any RecognitionEngine] {
        guard record.engines.count >= 2 else {
            throw CommandFailure(
                "gallery '\(record.name)' has one engine (\(record.defaultEngine)): fusion needs two or more; nothing was recorded")
        }
        return try record.engines.map { entry in
            guard let engine = try? registry.engine(named: entry.identifier), engine.profile.templateModel == entry.templateModel else {
                throw CommandFailure(
                    "gallery '\(record.name)''s engine '\(entry.identifier)' (\(entry.templateModel)) is not installed here; "
                        + "nothing was recorded")
            }
            return engine
        }
    }

    /// Records a calibration on a gallery: the fusion's, or an engine's threshold in its native
    /// unit. A target the data cannot support is refused.
    static func record(
        _ result: DatasetCalibration, engine: String?, on record: GalleryRecord, reason: String, operations: MatcherOperations
    ) async throws -> GalleryRecord {
        let calibration = result.calibration
        if let warning = calibration.warning {
            throw CommandFailure("not recorded on gallery '\(record.name)': \(warning)")
        }
        if let fusion = result.fusion {
            // The fitted parts must be the gallery's engines with the gallery's template tags.
            let fitted = fusion.parts.map { "\($0.engine)=\($0.templateModel)" }.sorted()
            let held = record.engines.map { "\($0.identifier)=\($0.templateModel)" }.sorted()
            guard fitted == held else {
                throw CommandFailure(
                    "the fusion was fitted on \(fitted.joined(separator: ", ")) but gallery '\(record.name)' holds "
                        + "\(held.joined(separator: ", ")); nothing was recorded")
            }
            return try await operations.recordFusionCalibration(
                fusionCalibration(of: result, model: fusion), gallery: record.name, reason: reason, by: StoreOptions.caller)
        }
        let name = engine ?? record.defaultEngine
        guard let entry = record.engine(named: name), entry.templateModel == result.engine.templateModel else {
            throw CommandFailure(
                "gallery '\(record.name)' has no engine '\(name)' making \(result.engine.templateModel) templates; nothing was recorded")
        }
        // Calibration works on similarities: a distance engine's threshold is the negated one.
        let native = result.engine.comparison.native(fromSimilarity: calibration.threshold)
        return try await operations.setThreshold(native, engine: name, gallery: record.name, reason: reason, by: StoreOptions.caller)
    }

    /// The gallery setting a fusion calibration becomes: each part's impostor statistics, the
    /// threshold at the target, and what it was measured on.
    static func fusionCalibration(of result: DatasetCalibration, model: FusionModel) -> FusionCalibration {
        let rates = result.calibration.rates
        let source = "\(result.dataset.path): \(result.dataset.people) people, \(result.enrolment.templates)/"
            + "\(result.enrolment.images) images with a template of every engine; \(rates.genuineComparisons) genuine and "
            + "\(rates.impostorComparisons) impostor comparisons; FMR \(formatRate(rates.falseMatchRate)), "
            + "FNMR \(formatRate(rates.falseNonMatchRate)) at the threshold"
        return FusionCalibration(
            statistics: Dictionary(
                uniqueKeysWithValues: model.parts.map {
                    ($0.engine, FusionCalibration.Statistics(mean: $0.impostorMean, deviation: $0.impostorDeviation))
                }),
            threshold: result.calibration.threshold, targetFalseMatchRate: result.calibration.targetFalseMatchRate,
            source: source)
    }

    /// What a gallery now holds for `engine`, in one line.
    static func summary(of record: GalleryRecord, engine: String) -> String {
        if engine == GallerySearchService.fusion, let fusion = record.settings.fusion {
            return "fused threshold \(fusion.threshold) at FMR \(fusion.targetFalseMatchRate) over "
                + fusion.statistics.keys.sorted().joined(separator: ", ")
        }
        let threshold = record.operatingThreshold(of: engine).map { "\($0)" } ?? "the published one"
        return "engine \(engine) threshold \(threshold)"
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
