import Evaluation
import Foundation
import Testing

/// Figure computations on small score sets whose answers follow from their construction.
@Suite("FMR, FNMR, thresholds, DET and EER on hand-made scores")
struct ScoreSetTests {
    /// Scores 0.00, 0.01, ..., 0.99 (exactly the floats i/100).
    static let hundredths = (0..<100).map { Float($0) / 100 }

    @Test("a score at the threshold matches: FMR counts impostors >= t, FNMR genuines < t")
    func countsAtThreshold() {
        let scores = ScoreSets(genuine: [0.9, 0.5, 0.7, 0.6, 0.8], impostor: [0.4, 0.1, 0.6, 0.3, 0.2])
        let rates = scores.rates(atThreshold: 0.6)
        #expect(rates.falseMatches == 1)
        #expect(rates.falseNonMatches == 1)
        #expect(rates.falseMatchRate == 0.2)
        #expect(rates.falseNonMatchRate == 0.2)
        #expect(scores.rates(atThreshold: 0.95).falseMatchRate == 0)
        #expect(scores.rates(atThreshold: 0.95).falseNonMatchRate == 1)
        #expect(scores.rates(atThreshold: -1).falseMatchRate == 1)
        #expect(scores.rates(atThreshold: -1).falseNonMatchRate == 0)
        #expect(ScoreSets(genuine: [], impostor: [0.1]).rates(atThreshold: 0).falseNonMatchRate == nil)
    }

    @Test("binary-search counts agree with counting every score, at every score and between them")
    func countsAgreeWithBruteForce() {
        let genuine = (0..<157).map { Float(($0 * 37) % 101) / 100 }
        let impostor = (0..<311).map { Float(($0 * 53) % 97) / 120 - 0.2 }
        let scores = ScoreSets(genuine: genuine, impostor: impostor)
        for threshold in (genuine + impostor + [-1, 0.333, 2]) {
            #expect(scores.falseMatches(atThreshold: threshold) == impostor.count { $0 >= threshold })
            #expect(scores.falseNonMatches(atThreshold: threshold) == genuine.count { $0 < threshold })
        }
    }

    @Test("calibration: with 100 impostors 0.00...0.99 and FMR 0.05, the five highest may match: threshold just above 0.94")
    func calibrationPicksTheSmallestThreshold() throws {
        let scores = ScoreSets(genuine: [0.9, 0.95, 0.97, 0.99], impostor: Self.hundredths)
        let calibration = try scores.calibrate(targetFalseMatchRate: 0.05)
        #expect(calibration.threshold == (Float(94) / 100).nextUp)
        #expect(calibration.rates.falseMatches == 5)
        #expect(calibration.rates.falseMatchRate == 0.05)
        #expect(calibration.rates.falseNonMatches == 1)
        // Smallest: one float lower lets a sixth impostor through.
        #expect(try #require(scores.rates(atThreshold: calibration.threshold.nextDown).falseMatchRate) > 0.05)
        #expect(calibration.isSupported)
        #expect(calibration.warning == nil)
        #expect(calibration.minimumImpostorComparisons == 20)
        // The trade-off rows surround the threshold, ascending, and include it.
        #expect(calibration.tradeOff.map(\.threshold) == calibration.tradeOff.map(\.threshold).sorted())
        #expect(calibration.tradeOff.contains(calibration.rates))
        #expect(calibration.tradeOff.count == ThresholdCalibration.defaultOffsets.count)
        #expect(calibration.tradeOff.first?.threshold ?? 1 < calibration.threshold)
        #expect(calibration.tradeOff.last?.threshold ?? 0 > calibration.threshold)
    }

    @Test("calibration with tied impostor scores never lets more than the target through")
    func calibrationWithTies() throws {
        // Ten impostors: three tied at 0.8 on top. FMR 0.2 allows two, so all three must be excluded.
        let scores = ScoreSets(genuine: [0.85, 0.9], impostor: [0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0, -0.1])
        let calibration = try scores.calibrate(targetFalseMatchRate: 0.2)
        #expect(calibration.threshold == Float(0.8).nextUp)
        #expect(calibration.rates.falseMatches == 0)
        let looser = try scores.calibrate(targetFalseMatchRate: 0.3)
        #expect(looser.threshold == Float(0.5).nextUp)
        #expect(looser.rates.falseMatches == 3)
    }

    @Test("a target finer than one in the number of impostor comparisons is flagged as unsupported")
    func unsupportedTarget() throws {
        let scores = ScoreSets(genuine: [0.9], impostor: Self.hundredths)
        let fine = try scores.calibrate(targetFalseMatchRate: 1e-3)
        #expect(!fine.isSupported)
        #expect(fine.minimumImpostorComparisons == 1000)
        #expect(fine.warning?.contains("1000") == true)
        #expect(fine.threshold == (Float(99) / 100).nextUp)
        #expect(fine.rates.falseMatches == 0)
        #expect(try scores.calibrate(targetFalseMatchRate: 1e-2).isSupported)
        #expect(throws: EvaluationError.invalidTargetRate(name: "FMR", value: 0)) {
            try scores.calibrate(targetFalseMatchRate: 0)
        }
        #expect(throws: EvaluationError.noImpostorComparisons) {
            try ScoreSets(genuine: [0.5], impostor: []).calibrate(targetFalseMatchRate: 0.1)
        }
    }

    @Test("the DET curve runs from (FMR 1, FNMR 0) to (FMR 0, FNMR 1), monotone, and every point is exact")
    func detCurve() {
        let genuine = (0..<400).map { 0.3 + Float(($0 * 7) % 61) / 100 }
        let impostor = (0..<2000).map { Float(($0 * 13) % 83) / 150 - 0.1 }
        let scores = ScoreSets(genuine: genuine, impostor: impostor)
        for resolution in [0, 0.01, 0.1] {
            let curve = scores.detCurve(logResolution: resolution)
            #expect(curve.first?.falseMatchRate == 1)
            #expect(curve.first?.falseNonMatchRate == 0)
            #expect(curve.last?.falseMatchRate == 0)
            #expect(curve.last?.falseNonMatchRate == 1)
            for (earlier, later) in zip(curve, curve.dropFirst()) {
                #expect(later.threshold > earlier.threshold)
                #expect(later.falseMatchRate <= earlier.falseMatchRate)
                #expect(later.falseNonMatchRate >= earlier.falseNonMatchRate)
            }
            for point in curve {
                #expect(point.falseMatchRate == Double(impostor.count { $0 >= point.threshold }) / 2000)
                #expect(point.falseNonMatchRate == Double(genuine.count { $0 < point.threshold }) / 400)
            }
        }
        let full = scores.detCurve(logResolution: 0)
        #expect(full.count == Set(genuine + impostor).count + 1)
        #expect(scores.detCurve(logResolution: 0.1).count < full.count)
    }

    @Test("EER: exact where the rates meet at a score, interpolated where they cross between scores")
    func equalErrorRate() throws {
        let meeting = ScoreSets(genuine: [0.6, 0.7, 0.8, 0.9], impostor: [0.1, 0.2, 0.3, 0.65])
        let exact = try #require(meeting.equalErrorRate())
        #expect(exact.rate == 0.25)
        #expect(exact.threshold == 0.65)
        // FNMR sits at 1/3 while FMR falls from 1/2 to 0 between 0.5 and 0.6: they cross at 1/3.
        let crossing = try #require(ScoreSets(genuine: [0.3, 0.6, 0.9], impostor: [0.1, 0.5]).equalErrorRate())
        #expect(abs(crossing.rate - 1.0 / 3) < 1e-12)
        #expect(crossing.threshold > 0.5 && crossing.threshold < 0.6)
        let separated = try #require(ScoreSets(genuine: [0.7, 0.8], impostor: [0.1, 0.2]).equalErrorRate())
        #expect(separated.rate == 0)
        #expect(ScoreSets(genuine: [], impostor: [0.1]).equalErrorRate() == nil)
    }

    @Test("histogram bins share edges on multiples of the width and count every score once")
    func histogram() {
        let scores = ScoreSets(genuine: [0.41, 0.45, 0.59, 0.61], impostor: [-0.05, 0.01, 0.19, 0.2])
        let histogram = scores.histogram(binWidth: 0.2)
        #expect(histogram.lowerBound == -0.2)
        // Bins [-0.2, 0), [0, 0.2), [0.2, 0.4), [0.4, 0.6), [0.6, 0.8).
        #expect(histogram.genuine == [0, 0, 0, 3, 1])
        #expect(histogram.impostor == [1, 2, 1, 0, 0])
        #expect(histogram.binWidth == 0.2)
    }

    @Test("summary statistics: count, range, mean and median")
    func summary() throws {
        let summary = ScoreSets(genuine: [0.5, 0.9, 0.7, 0.6], impostor: [0.25]).summary
        #expect(summary.genuine.count == 4)
        #expect(summary.genuine.minimum == 0.5)
        #expect(summary.genuine.maximum == 0.9)
        #expect(abs(try #require(summary.genuine.median) - 0.65) < 1e-6)
        #expect(abs(try #require(summary.genuine.mean) - 0.675) < 1e-6)
        #expect(summary.impostor.median == 0.25)
    }
}
