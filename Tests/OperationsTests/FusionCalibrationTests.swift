import Evaluation
import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Installation
import Operations
import Testing

/// A gallery's fused comparison calibrated on data (`biomatch calibrate --engine fusion
/// --gallery`) and each engine's own threshold: recorded, audited, used by fused searches and
/// verifications on every node, refused when they do not fit the gallery.
@Suite struct FusionCalibrationTests {
    static let justified = StatedJustification(purpose: "missing-person", caseReference: "CASE-2026-0113")

    /// A real calibration: SFace and dlib fitted together on 12 ORL people x 5 photos, the fused
    /// threshold at FMR 1e-2 (1,650 impostor pairs).
    static let orlCalibration = Task<FusionCalibration, any Error> {
        let registry = try Support.recognisers.get()
        let folder = try orlSubset(people: 12, images: 5)
        defer { try? FileManager.default.removeItem(at: folder) }
        let extraction = await EngineExtraction.extract(
            from: try LabelledDataset.load(from: folder), detector: try Support.engine.get(),
            engines: [try registry.engine(named: "sface"), try registry.engine(named: "dlib")])
        let model = try FusionModel.fit(on: extraction.clean)
        let result = try DatasetCalibration(templates: model.fuse(extraction.clean), targetFalseMatchRate: 1e-2, fusion: model)
        return FusionCalibration(
            statistics: Dictionary(uniqueKeysWithValues: model.parts.map {
                ($0.engine, FusionCalibration.Statistics(mean: $0.impostorMean, deviation: $0.impostorDeviation))
            }),
            threshold: result.calibration.threshold, targetFalseMatchRate: 1e-2,
            source: "ORL s1-s12, photos 1-5: \(result.calibration.rates.impostorComparisons) impostor comparisons")
    }

    /// A custody gallery of SFace and dlib with obama and biden enrolled.
    private static func enrolled(_ backend: StoreBackend) async throws -> Support.Fixture {
        let fixture = try await Support.fixture(backend, recognisers: try Support.recognisers.get())
        _ = try await fixture.operations.createGallery(
            GalleryDraft(name: "custody", purpose: .custody, engines: ["sface", "dlib"]), by: fixture.admin)
        for (reference, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            _ = try await fixture.operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: reference, images: [try Support.photo(photo)]),
                by: fixture.enroller)
        }
        return fixture
    }

    /// The fused score of a pair from its engines' native scores and the statistics fusion uses.
    private static func fused(_ scores: [String: Float], _ statistics: [String: (mean: Float, deviation: Float)]) -> Float {
        let sface = try! #require(scores["sface"])
        let dlib = try! #require(scores["dlib"])
        let zs = (sface - statistics["sface"]!.mean) / statistics["sface"]!.deviation
        // dlib's native score is a distance: its similarity is the distance negated.
        let zd = (-dlib - statistics["dlib"]!.mean) / statistics["dlib"]!.deviation
        return (zs + zd) / 2
    }

    @Test("a recorded calibration's statistics and threshold drive fused verification and search; without one, the published figures and 3.1", arguments: StoreBackend.allCases)
    func recordedCalibrationDrivesFusion(backend: StoreBackend) async throws {
        let fixture = try await Self.enrolled(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        func verify(_ subject: String) async throws -> VerificationOutcome {
            try await operations.verify(
                SubjectVerificationRequest(
                    gallery: "custody", subjectReference: subject, image: try Support.photo("obama2.jpg"),
                    justification: Self.justified, engine: "fusion"),
                by: fixture.searcher)
        }
        func search(threshold: Float? = nil) async throws -> SearchOutcome {
            try await operations.search(
                SearchRequest(
                    gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, k: 5,
                    threshold: threshold, engine: "fusion"),
                by: fixture.searcher)
        }

        // Before: the engines' published impostor figures and the built-in threshold.
        let registry = try Support.recognisers.get()
        let published = Dictionary(uniqueKeysWithValues: try ["sface", "dlib"].map { name in
            let figures = try #require(try registry.engine(named: name).profile.impostorSimilarity)
            return (name, (mean: figures.mean, deviation: figures.deviation))
        })
        let before = try await verify("obama")
        #expect(before.threshold == GallerySearchService.fusionThreshold)
        #expect(abs(before.score - Self.fused(before.engineScores, published)) < 1e-3, "\(before.score)")
        #expect(before.isMatch)
        let record = try operations.identification.gallery(named: "custody")
        #expect(record.settings.fusion == nil)
        #expect(operations.identification.operatingPoint(gallery: record, engine: "fusion").threshold == 3.1)

        // Recorded: the calibration's statistics score, its threshold decides.
        let calibration = try await Self.orlCalibration.value
        let updated = try await operations.recordFusionCalibration(
            calibration, gallery: "custody", reason: "calibrated on ORL at FMR 1e-2", by: fixture.admin)
        #expect(updated.settings.fusion == calibration)
        #expect(try await fixture.store.gallery(named: "custody").settings.fusion == calibration)
        #expect(operations.identification.operatingPoint(gallery: updated, engine: "fusion").threshold == calibration.threshold)
        let recorded = Dictionary(uniqueKeysWithValues: calibration.statistics.map { ($0.key, (mean: $0.value.mean, deviation: $0.value.deviation)) })
        let after = try await verify("obama")
        #expect(after.threshold == calibration.threshold)
        #expect(after.engineScores == before.engineScores)
        #expect(abs(after.score - Self.fused(after.engineScores, recorded)) < 1e-3, "\(after.score)")
        #expect(abs(after.score - before.score) > 0.01, "the statistics changed the fused score: \(before.score) -> \(after.score)")
        #expect(after.isMatch == (after.score >= calibration.threshold))
        let other = try await verify("biden")
        #expect(!other.isMatch, "obama2 against biden, fused \(other.score) at \(calibration.threshold)")

        let found = try await search()
        #expect(found.threshold == calibration.threshold)
        #expect(found.candidates.map(\.subjectReference) == ["obama"])
        #expect(abs((found.candidates.first?.score ?? 0) - after.score) < 0.05)
        // A request may narrow the recorded threshold, never loosen it.
        let narrowed = try await search(threshold: after.score + 1)
        #expect(narrowed.candidates.isEmpty)
        await #expect(throws: OperationError.self) { try await search(threshold: calibration.threshold - 0.5) }

        // A stricter recorded threshold turns the same pair into a non-match.
        var strict = calibration
        strict.threshold = after.score + 1
        _ = try await operations.recordFusionCalibration(strict, gallery: "custody", reason: "stricter", by: fixture.admin)
        let refused = try await verify("obama")
        #expect(refused.threshold == strict.threshold && !refused.isMatch)
        #expect(try await search().candidates.isEmpty)

        // Removed: back to the published figures.
        _ = try await operations.recordFusionCalibration(nil, gallery: "custody", reason: "back to the defaults", by: fixture.admin)
        let reset = try await verify("obama")
        #expect(reset.threshold == 3.1 && abs(reset.score - before.score) < 1e-5)
    }

    @Test("the change is audited as a reconfiguration with its reason and figures")
    func calibrationIsAudited() async throws {
        let fixture = try await Self.enrolled(.sqlite)
        defer { fixture.cleanUp() }
        let calibration = try await Self.orlCalibration.value
        _ = try await fixture.operations.recordFusionCalibration(
            calibration, gallery: "custody", reason: "ORL, FMR 1e-2", by: fixture.admin)
        let entry = try #require(try await fixture.operations.auditLog.entries(limit: 10_000).last)
        #expect(entry.action == .galleryReconfigured)
        #expect(entry.galleryName == "custody")
        let parameters = try #require(try JSONSerialization.jsonObject(with: Data(entry.parameters.utf8)) as? [String: Any])
        #expect(parameters["reason"] as? String == "ORL, FMR 1e-2")
        #expect(parameters["change"] as? String == "fusion-calibration")
        #expect(parameters["engines"] as? [String] == ["dlib", "sface"])
        #expect(abs((parameters["fusionThreshold"] as? Double ?? 0) - Double(calibration.threshold)) < 1e-4)
        #expect(parameters["source"] as? String == calibration.source)
        #expect(try await AuditVerifier.verify(fixture.operations.auditLog).isIntact)
    }

    @Test("a calibration that does not fit the gallery, bad figures, no reason or no admin are refused and change nothing")
    func misfitsRefused() async throws {
        let fixture = try await Self.enrolled(.sqlite)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        _ = try await operations.createGallery(GalleryDraft(name: "single", purpose: .other), by: fixture.admin)
        let calibration = try await Self.orlCalibration.value
        let auditBefore = try await fixture.auditCount()
        let galleriesBefore = try await fixture.store.galleries()

        func refusal(_ candidate: FusionCalibration, gallery: String = "custody", reason: String = "a reason", by caller: Caller? = nil) async -> String? {
            do {
                _ = try await operations.recordFusionCalibration(candidate, gallery: gallery, reason: reason, by: caller ?? fixture.admin)
                return nil
            } catch {
                return error.description
            }
        }
        // The gallery holds SFace alone: the fitted parts do not match it.
        #expect(await refusal(calibration, gallery: "single")?.contains("fitted on engines dlib, sface but gallery 'single' has sface") == true)
        var foreign = calibration
        foreign.statistics["arcface"] = foreign.statistics["dlib"]
        foreign.statistics["dlib"] = nil
        #expect(await refusal(foreign)?.contains("fitted on engines arcface, sface") == true)
        var lone = calibration
        lone.statistics["dlib"] = nil
        #expect(await refusal(lone)?.contains("two engines or more") == true)
        var unbounded = calibration
        unbounded.threshold = .infinity
        #expect(await refusal(unbounded)?.contains("invalid threshold") == true)
        var flat = calibration
        flat.statistics["dlib"]?.deviation = 0
        #expect(await refusal(flat)?.contains("positive deviation") == true)
        var rate = calibration
        rate.targetFalseMatchRate = 1.5
        #expect(await refusal(rate)?.contains("targetFalseMatchRate") == true)
        #expect(await refusal(calibration, reason: "  ")?.contains("needs a reason") == true)
        #expect(await refusal(calibration, by: fixture.searcher) != nil)
        #expect(await refusal(calibration, gallery: "nowhere")?.contains("no gallery is named 'nowhere'") == true)

        #expect(try await fixture.auditCount() == auditBefore)
        #expect(try await fixture.store.galleries() == galleriesBefore)
    }

    @Test("an engine's own threshold: set, used by its searches, reset to the published one; the default engine's is the gallery's", arguments: StoreBackend.allCases)
    func engineThresholds(backend: StoreBackend) async throws {
        let fixture = try await Self.enrolled(backend)
        defer { fixture.cleanUp() }
        let operations = fixture.operations
        func searchByDlib() async throws -> SearchOutcome {
            try await operations.search(
                SearchRequest(gallery: "custody", image: try Support.photo("obama2.jpg"), justification: Self.justified, engine: "dlib"),
                by: fixture.searcher)
        }
        #expect(try await searchByDlib().threshold == 0.6)
        let obamaDistance = try #require(try await searchByDlib().candidates.first?.score)

        // Stricter than obama2's distance: obama is no longer a candidate by dlib.
        let strict = obamaDistance - 0.05
        let updated = try await operations.setThreshold(
            strict, engine: "dlib", gallery: "custody", reason: "dlib calibrated at FMR 1e-4", by: fixture.admin)
        #expect(updated.operatingThreshold(of: "dlib") == strict)
        #expect(updated.operatingThreshold == 0.363)
        #expect(try await fixture.store.gallery(named: "custody").operatingThreshold(of: "dlib") == strict)
        let entry = try #require(try await operations.auditLog.entries(limit: 10_000).last)
        let narrowed = try await searchByDlib()
        #expect(narrowed.threshold == strict && narrowed.candidates.isEmpty)
        #expect(entry.action == .galleryReconfigured)
        #expect(entry.parameters.contains(#""reason":"dlib calibrated at FMR 1e-4""#), "\(entry.parameters)")
        #expect(entry.parameters.contains(#""change":"engine-threshold""#), "\(entry.parameters)")

        // nil: the engine's published threshold again.
        let reset = try await operations.setThreshold(nil, engine: "dlib", gallery: "custody", reason: "published", by: fixture.admin)
        #expect(reset.operatingThreshold(of: "dlib") == nil)
        #expect(try await searchByDlib().threshold == 0.6)

        // The default engine's threshold is the gallery's, audited as a threshold change.
        let sface = try await operations.setThreshold(0.4, engine: "sface", gallery: "custody", reason: "sface at FMR 1e-5", by: fixture.admin)
        #expect(sface.operatingThreshold == 0.4)
        #expect(try await operations.auditLog.entries(limit: 10_000).last?.action == .thresholdChanged)

        let auditBefore = try await fixture.auditCount()
        for (threshold, engine, expected) in [
            (Float(1.5), "dlib", "must lie in 0.0...1.0"), (-0.1, "dlib", "must lie in 0.0...1.0"),
            (0.5, "arcface", "has no engine 'arcface'"), (.nan, "sface", "must lie in -1.0...1.0"),
        ] {
            do {
                _ = try await operations.setThreshold(threshold, engine: engine, gallery: "custody", reason: "r", by: fixture.admin)
                Issue.record("\(engine) \(threshold) was accepted")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
        await #expect(throws: OperationError.self) {
            try await operations.setThreshold(nil, engine: "sface", gallery: "custody", reason: "r", by: fixture.admin)
        }
        await #expect(throws: OperationError.self) {
            try await operations.setThreshold(0.5, engine: "dlib", gallery: "custody", reason: "", by: fixture.admin)
        }
        #expect(try await fixture.auditCount() == auditBefore)
    }

    @Test("dropping an engine the calibration covers removes the calibration")
    func droppingAnEngineClearsTheCalibration() async throws {
        let fixture = try await Self.enrolled(.sqlite)
        defer { fixture.cleanUp() }
        let calibration = try await Self.orlCalibration.value
        let record = try await fixture.operations.recordFusionCalibration(
            calibration, gallery: "custody", reason: "ORL", by: fixture.admin)
        let receipt = try await fixture.store.reconfigureGallery(record.id, .dropEngine("dlib"), companion: nil)
        #expect(receipt.gallery.settings.fusion == nil)
        #expect(try await fixture.store.gallery(named: "custody").settings.fusion == nil)
    }

    @Test("a calibration and an engine threshold recorded on node A reach node B's gallery through the feed", arguments: ClusterPropagationTests.Backend.allCases)
    func followersAdoptTheCalibration(backend: ClusterPropagationTests.Backend) async throws {
        try await SharedDatabase.with(backend) { database in
            let recognisers = try Support.recognisers.get()
            let a = try await database.node(recognisers: recognisers)
            let b = try await database.node(recognisers: recognisers)
            let keys = try await a.keys()
            _ = try await a.operations.createGallery(
                GalleryDraft(name: "border", purpose: .immigration, engines: ["sface", "dlib"]), by: keys.admin)
            _ = try await a.operations.enrol(
                EnrolmentRequest(gallery: "border", reference: "obama", images: [try Support.photo("obama.jpg")]),
                by: keys.enroller)
            try await b.operations.identification.catchUp()
            #expect(try b.operations.identification.gallery(named: "border").settings.fusion == nil)

            let calibration = try await Self.orlCalibration.value
            _ = try await a.operations.recordFusionCalibration(calibration, gallery: "border", reason: "ORL", by: keys.admin)
            _ = try await a.operations.setThreshold(0.55, engine: "dlib", gallery: "border", reason: "dlib", by: keys.admin)
            try await b.operations.identification.catchUp()
            let seen = try b.operations.identification.gallery(named: "border")
            #expect(seen.settings.fusion == calibration)
            #expect(seen.operatingThreshold(of: "dlib") == 0.55)
            let verified = try await b.operations.verify(
                SubjectVerificationRequest(
                    gallery: "border", subjectReference: "obama", image: try Support.photo("obama2.jpg"),
                    justification: Self.justified, engine: "fusion"),
                by: keys.searcher)
            #expect(verified.threshold == calibration.threshold)
            let byDlib = try await b.operations.search(
                SearchRequest(gallery: "border", image: try Support.photo("obama2.jpg"), justification: Self.justified, engine: "dlib"),
                by: keys.searcher)
            #expect(byDlib.threshold == 0.55)
        }
    }
}

/// A small ORL subset copied to a temporary folder: `people` people, `images` photos each.
func orlSubset(people: Int, images: Int) throws -> URL {
    let source = Installation.fromEnvironment().orlFacesDirectory
    let folder = FileManager.default.temporaryDirectory.appending(path: "orl-subset-\(UUID().uuidString)")
    for person in 1...people {
        let target = folder.appending(path: "s\(person)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for image in 1...images {
            try FileManager.default.copyItem(
                at: source.appending(path: "s\(person)/\(image).pgm"), to: target.appending(path: "\(image).pgm"))
        }
    }
    return folder
}
