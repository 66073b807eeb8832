import Evaluation
import FaceEngine
import Foundation
import Installation
import Testing

/// The ORL templates, computed once per test process by the real engine (about 150 s in a
/// debug build) and shared by every test below.
enum ORL {
    static let installation = Installation.fromEnvironment()
    static let folder = installation.home.appending(path: "testdata/orl")

    static let templates = Task<DatasetTemplates, any Error> {
        let engine = try FaceEngine(installation: installation)
        let dataset = try LabelledDataset.load(from: folder)
        let clock = ContinuousClock()
        let start = clock.now
        let templates = await DatasetTemplates.extract(from: dataset, engine: engine)
        print("ORL: analysed \(templates.samples.count) photos in \(clock.now - start)")
        return templates
    }

    static let report = Task<EvaluationReport, any Error> {
        try EvaluationReport(templates: await templates.value)
    }
}

/// The AT&T/ORL faces: 40 people x 10 tightly cropped 92x112 grey photos, evaluated end to end.
@Suite("Evaluation of the engine on the ORL faces")
struct ORLEvaluationTests {
    @Test("every ORL photo yields a face, and photo 1 of each person finds the other nine (rank-1 >= 0.99)")
    func identification() async throws {
        let templates = try await ORL.templates.value
        #expect(templates.dataset.people.count == 40)
        #expect(templates.samples.count == 400)
        #expect(templates.failures.map(\.file) == [])
        let report = try await ORL.report.value
        #expect(report.enrolment.templates == 400)
        #expect(report.identification.galleryImages == (1...40).map { "s\($0)/1.pgm" })
        let rankOne = try #require(report.identification.rankHitRates.first)
        #expect(rankOne.rank == 1)
        #expect(rankOne.searches == 360)
        print("ORL: rank-1 \(rankOne.hits)/\(rankOne.searches)")
        #expect(try #require(rankOne.rate) >= 0.99)
        // Higher ranks can only find more.
        let hits = report.identification.rankHitRates.map(\.hits)
        #expect(hits == hits.sorted())
        #expect(report.identification.rankHitRates.map(\.rank) == [1, 5, 10])
    }

    @Test("1:1 figures: all 79,800 pairs, a small EER, a monotone DET, and the operating point recounted")
    func verification() async throws {
        let templates = try await ORL.templates.value
        let report = try await ORL.report.value
        let figures = report.verification
        // 40 people x C(10, 2) genuine pairs; C(400, 2) pairs in all.
        #expect(figures.scores.genuine.count == 1800)
        #expect(figures.scores.impostor.count == 79_800 - 1800)
        let eer = try #require(figures.equalErrorRate)
        print("ORL: EER \(eer.rate) at \(eer.threshold)")
        #expect(eer.rate < 0.02)
        let genuineMedian = try #require(figures.scores.genuine.median)
        let impostorMedian = try #require(figures.scores.impostor.median)
        #expect(genuineMedian > impostorMedian + 0.3)

        let det = figures.det
        #expect(det.count > 50)
        #expect(det.first?.falseMatchRate == 1 && det.first?.falseNonMatchRate == 0)
        #expect(det.last?.falseMatchRate == 0 && det.last?.falseNonMatchRate == 1)
        for (earlier, later) in zip(det, det.dropFirst()) {
            #expect(later.threshold > earlier.threshold)
            #expect(later.falseMatchRate <= earlier.falseMatchRate)
            #expect(later.falseNonMatchRate >= earlier.falseNonMatchRate)
        }

        // The operating point, counted again straight from the templates.
        let threshold = report.verification.operatingPoint.threshold
        var falseMatches = 0
        var falseNonMatches = 0
        let usable = templates.samples.compactMap { sample in sample.template.map { (sample.personIndex, $0) } }
        for first in usable.indices {
            for second in (first + 1)..<usable.count {
                let score = try usable[first].1.cosineSimilarity(to: usable[second].1)
                if usable[first].0 == usable[second].0 {
                    if score < threshold { falseNonMatches += 1 }
                } else if score >= threshold {
                    falseMatches += 1
                }
            }
        }
        #expect(figures.operatingPoint.falseMatches == falseMatches)
        #expect(figures.operatingPoint.falseNonMatches == falseNonMatches)
        print("ORL: at \(threshold) FMR \(falseMatches)/78000, FNMR \(falseNonMatches)/1800")
        #expect(figures.histogram.genuine.reduce(0, +) == 1800)
        #expect(figures.histogram.impostor.reduce(0, +) == 78_000)
    }

    @Test("calibrate at FMR 1e-4: supported by 78,000 impostor pairs, FMR at the threshold within the target")
    func calibration() async throws {
        let templates = try await ORL.templates.value
        let result = try DatasetCalibration(templates: templates, targetFalseMatchRate: 1e-4)
        let calibration = result.calibration
        #expect(calibration.isSupported)
        #expect(calibration.warning == nil)
        #expect(calibration.minimumImpostorComparisons == 10_000)
        let fmr = try #require(calibration.rates.falseMatchRate)
        let fnmr = try #require(calibration.rates.falseNonMatchRate)
        print("ORL: threshold \(calibration.threshold) for FMR 1e-4: FMR \(fmr), FNMR \(fnmr)")
        #expect(fmr <= 1e-4)
        // The smallest such threshold: one float lower lets too many impostors through.
        let scores = ScoreSets(allPairsOf: templates)
        #expect(try #require(scores.rates(atThreshold: calibration.threshold.nextDown).falseMatchRate) > 1e-4)
        #expect(fnmr < 0.2)
        // Stricter thresholds trade false matches for false non-matches.
        let rows = calibration.tradeOff
        for (earlier, later) in zip(rows, rows.dropFirst()) {
            #expect(later.falseMatches <= earlier.falseMatches)
            #expect(later.falseNonMatches >= earlier.falseNonMatches)
        }
        // The report's own 1e-4 row agrees; 1e-5 is beyond what 78,000 pairs can show.
        let report = try await ORL.report.value
        let rows1e4 = report.verification.thresholdsForTargets.filter { $0.targetFalseMatchRate == 1e-4 }
        #expect(rows1e4.map(\.threshold) == [calibration.threshold])
        let finest = report.verification.thresholdsForTargets.filter { $0.targetFalseMatchRate == 1e-5 }
        #expect(finest.map(\.isSupported) == [false])
    }

    @Test("FNIR at FPIR 0.1 and 0.01 over 360 mated and 360 leave-one-person-out non-mated searches")
    func fnirAtFPIR() async throws {
        let report = try await ORL.report.value
        let figures = report.identification.fnirAtFPIR
        #expect(figures.map(\.targetFalsePositiveRate) == [0.1, 0.01])
        for figure in figures {
            #expect(figure.isSupported)
            #expect(figure.rates.matedSearches == 360)
            #expect(figure.rates.nonMatedSearches == 360)
            #expect(try #require(figure.rates.falsePositiveRate) <= figure.targetFalsePositiveRate)
            print("ORL: FPIR \(figure.targetFalsePositiveRate): threshold \(figure.rates.threshold), FNIR \(figure.rates.falseNegativeRate ?? -1)")
        }
        // The stricter FPIR needs a higher threshold, so it misses at least as many mates.
        #expect(figures[1].rates.threshold >= figures[0].rates.threshold)
        #expect(figures[1].rates.misses >= figures[0].rates.misses)
        #expect(try #require(figures[1].rates.falseNegativeRate) < 0.2)
    }

    @Test("groups from a generated CSV (odd and even person numbers): two groups, their rates and ratios")
    func groups() async throws {
        let templates = try await ORL.templates.value
        let folder = try ScratchFolder()
        defer { folder.cleanUp() }
        let csv = "person,group\n" + (1...40).map { "s\($0),\($0 % 2 == 0 ? "even" : "odd")" }.joined(separator: "\n")
        let file = try folder.write(csv, to: "groups.csv")
        let labels = try GroupLabels.load(from: file, for: templates.dataset)
        let report = try EvaluationReport(templates: templates, groups: labels, groupsFile: file.path)
        let figures = try #require(report.groups)
        #expect(figures.threshold == 0.363)
        #expect(figures.groups.map(\.name) == ["even", "odd"])
        #expect(figures.unlabelledPeople == [])
        for group in figures.groups {
            #expect(group.people == 20)
            #expect(group.rates.genuineComparisons == 900)
            // Pairs of two different people of the group: C(200, 2) - 20 x C(10, 2).
            #expect(group.rates.impostorComparisons == 19_900 - 900)
            print("ORL group \(group.name): FMR \(group.rates.falseMatchRate ?? -1), FNMR \(group.rates.falseNonMatchRate ?? -1)")
        }
        // Groups split the genuine pairs; their impostor pairs are the same-group subset.
        let overall = report.verification.operatingPoint
        #expect(figures.groups.map(\.rates.falseNonMatches).reduce(0, +) == overall.falseNonMatches)
        #expect(figures.groups.map(\.rates.falseMatches).reduce(0, +) <= overall.falseMatches)
        for (ratio, rate, count) in [
            (figures.falseMatchRateRatio, \ErrorRates.falseMatchRate, \ErrorRates.impostorComparisons),
            (figures.falseNonMatchRateRatio, \ErrorRates.falseNonMatchRate, \ErrorRates.genuineComparisons),
        ] {
            let rates = figures.groups.map { $0.rates[keyPath: rate] ?? 0 }
            let highest = try #require(rates.max())
            let lowest = try #require(rates.min())
            #expect(ratio.highest == highest)
            #expect(ratio.lowest == lowest)
            if lowest > 0 {
                #expect(ratio.ratio == highest / lowest)
            } else if highest > 0 {
                let zeroGroup = try #require(figures.groups.first { $0.rates[keyPath: rate] == 0 })
                #expect(ratio.ratioWithZeroAsOneError == highest * Double(zeroGroup.rates[keyPath: count]))
            }
            print("ORL ratio: \(ratio)")
        }
    }

    @Test("report.html and report.json are written; the JSON reads back to the same figures; the page is self-contained")
    func reportFiles() async throws {
        let templates = try await ORL.templates.value
        let folder = try ScratchFolder()
        defer { folder.cleanUp() }
        let csv = (1...40).map { "s\($0),\($0 <= 20 ? "first half" : "second half")" }.joined(separator: "\n")
        let labels = try GroupLabels(parsing: csv, knownPeople: Set(templates.dataset.personNames))
        let report = try EvaluationReport(templates: templates, groups: labels, groupsFile: "halves.csv")
        let written = try report.write(to: folder.url.appending(path: "out"))
        #expect(try EvaluationReport.read(from: written.json) == report)
        // Readers of the JSON get the rates, not only the counts behind them.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: written.json)) as? [String: Any])
        let verification = try #require(json["verification"] as? [String: Any])
        let operating = try #require(verification["operatingPoint"] as? [String: Any])
        // (JSONSerialization may round the last bit; JSONDecoder above reads numbers exactly.)
        let falseMatchRate = try #require(operating["falseMatchRate"] as? Double)
        let expectedRate = try #require(report.verification.operatingPoint.falseMatchRate)
        #expect(abs(falseMatchRate - expectedRate) <= 1e-12 * expectedRate)
        let identification = try #require(json["identification"] as? [String: Any])
        let ranks = try #require(identification["rankHitRates"] as? [[String: Any]])
        let rankOne = try #require(ranks.first?["rate"] as? Double)
        #expect(abs(rankOne - (report.identification.rankOneHitRate ?? -1)) <= 1e-12)

        let html = try String(contentsOf: written.html, encoding: .utf8)
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.components(separatedBy: "<svg ").count - 1 == 3)
        for heading in ["DET curve", "Score distributions", "1:N identification", "1:1 verification", "Per group", "first half"] {
            #expect(html.contains(heading), "missing \(heading)")
        }
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("href="))
        #expect(!html.contains("@import"))
    }
}
