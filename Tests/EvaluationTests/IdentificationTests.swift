import Evaluation
import FaceEngine
import Testing

/// 1:N figures on hand-made search outcomes and on tiny hand-made templates.
@Suite("Rank hit rates, FPIR and FNIR on hand-made searches")
struct IdentificationTests {
    /// Five mated searches and ten non-mated ones whose outcomes are chosen, not computed.
    static let searches = IdentificationScores(
        galleryCount: 4,
        matedSearches: [
            MatedSearch(mateRank: 1, mateScore: 0.9),
            MatedSearch(mateRank: 1, mateScore: 0.5),
            MatedSearch(mateRank: 2, mateScore: 0.7),
            MatedSearch(mateRank: 1, mateScore: 0.35),
            .failedProbe,
        ],
        nonMatedTopScores: [0.6, 0.45, 0.4, 0.3, nil, 0.2, 0.1, 0.05, 0, -0.1])

    @Test("rank-k hit rates count mates within the first k candidates; a failed probe is a miss")
    func rankHitRates() {
        #expect(Self.searches.hitRate(atRank: 1) == RankHitRate(rank: 1, hits: 3, searches: 5))
        #expect(Self.searches.hitRate(atRank: 2).hits == 4)
        #expect(Self.searches.hitRate(atRank: 4).rate == 0.8)
    }

    @Test("FPIR counts non-mated top scores at or above t; FNIR counts mates not first at or above t")
    func ratesAtThreshold() {
        let rates = Self.searches.rates(atThreshold: 0.45)
        #expect(rates.falsePositives == 2)
        #expect(rates.nonMatedSearches == 10)
        #expect(rates.falsePositiveRate == 0.2)
        // Hits at 0.45: the rank-1 mates scoring 0.9 and 0.5.
        #expect(rates.misses == 3)
        #expect(rates.falseNegativeRate == 0.6)
        let open = Self.searches.rates(atThreshold: -1)
        #expect(open.falsePositives == 9)
        #expect(open.misses == 2)
    }

    @Test("FNIR at FPIR uses the smallest threshold that keeps FPIR within the target")
    func fnirAtFPIR() throws {
        // FPIR 0.2 of 10 searches allows two false positives: the threshold lies just above the third (0.4).
        let figure = try Self.searches.falseNegativeRate(atFalsePositiveRate: 0.2)
        #expect(figure.rates.threshold == Float(0.4).nextUp)
        #expect(figure.rates.falsePositives == 2)
        #expect(figure.rates.misses == 3)
        #expect(figure.isSupported)
        // 0.1 allows one: above 0.45, so the rank-1 mate at 0.5 still counts.
        let strict = try Self.searches.falseNegativeRate(atFalsePositiveRate: 0.1)
        #expect(strict.rates.threshold == Float(0.45).nextUp)
        #expect(strict.rates.falsePositives == 1)
        #expect(strict.rates.misses == 3)
        // 0.01 would need 100 non-mated searches; it allows none.
        let unsupported = try Self.searches.falseNegativeRate(atFalsePositiveRate: 0.01)
        #expect(!unsupported.isSupported)
        #expect(unsupported.minimumNonMatedSearches == 100)
        #expect(unsupported.rates.threshold == Float(0.6).nextUp)
        #expect(unsupported.rates.falsePositives == 0)
        #expect(unsupported.rates.misses == 4)
        #expect(throws: EvaluationError.invalidTargetRate(name: "FPIR", value: 1)) {
            try Self.searches.falseNegativeRate(atFalsePositiveRate: 1)
        }
    }

    @Test("searching tiny templates: mate rank and score, and leave-one-person-out non-mated top scores")
    func searchesFromTemplates() throws {
        func template(_ values: [Float]) throws -> FaceTemplate {
            try FaceTemplate(normalizing: values, modelIdentifier: "test")
        }
        let gallery = [
            (person: 0, template: try template([1, 0, 0])),
            (person: 1, template: try template([0, 1, 0])),
            (person: 2, template: try template([0, 0, 1])),
        ]
        let probes: [(person: Int, template: FaceTemplate?)] = [
            (0, try template([0.8, 0.6, 0])),  // scores 0.8 (mate), 0.6, 0
            (1, try template([0.8, 0.6, 0])),  // the same vector as person 1's probe: mate 0.6 ranks second
            (2, nil),  // no face
            (7, try template([0, 0.6, 0.8])),  // not enrolled: only a non-mated search
        ]
        let searches = IdentificationScores(gallery: gallery, probes: probes)
        #expect(searches.galleryCount == 3)
        #expect(searches.matedSearches.count == 3)
        #expect(searches.matedSearches[0].mateRank == 1)
        #expect(abs((searches.matedSearches[0].mateScore ?? 0) - 0.8) < 1e-6)
        #expect(searches.matedSearches[1].mateRank == 2)
        #expect(abs((searches.matedSearches[1].mateScore ?? 0) - 0.6) < 1e-6)
        #expect(searches.matedSearches[2] == .failedProbe)
        let tops = searches.nonMatedTopScores
        #expect(tops.count == 4)
        #expect(abs((tops[0] ?? 0) - 0.6) < 1e-6)  // without person 0
        #expect(abs((tops[1] ?? 0) - 0.8) < 1e-6)  // without person 1
        #expect(tops[2] == nil)
        #expect(abs((tops[3] ?? 0) - 0.8) < 1e-6)  // the whole gallery
    }
}
