import FaceEngine
import Foundation
import Testing

/// The AT&T/ORL faces: 40 people x 10 tightly cropped 92x112 grey photos.
@Suite("ORL faces: detection on tight crops and 1:N identification")
struct ORLTests {
    struct Outcome: Sendable {
        var person: Int
        var photo: Int
        var template: FaceTemplate?
        var verdict: QualityVerdict?
    }

    /// Analyses all 400 photos, two at a time (one per core), and keeps each photo's best face.
    static func analyzeAll(with engine: FaceEngine) async throws -> [Outcome] {
        let jobs = (1...40).flatMap { person in (1...10).map { (person, $0) } }
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            var outcomes: [Outcome] = []
            var next = 0
            func submit() {
                let (person, photo) = jobs[next]
                next += 1
                group.addTask {
                    let bytes = try TestSupport.bytes("orl/s\(person)/\(photo).pgm")
                    let best = try await engine.analyze(imageBytes: bytes).first
                    return Outcome(person: person, photo: photo, template: best?.template, verdict: best?.verdict)
                }
            }
            for _ in 0..<min(2, jobs.count) { submit() }
            while let outcome = try await group.next() {
                outcomes.append(outcome)
                if next < jobs.count { submit() }
            }
            return outcomes
        }
    }

    @Test("every ORL photo yields a face, and photo 1 of each person finds the other nine (rank-1 >= 0.99)")
    func identification() async throws {
        let engine = try TestSupport.engine.get()
        let clock = ContinuousClock()
        let start = clock.now
        let outcomes = try await Self.analyzeAll(with: engine)
        let elapsed = clock.now - start
        print("ORL: analysed \(outcomes.count) photos in \(elapsed)")

        let missing = outcomes.filter { $0.template == nil }.map { "s\($0.person)/\($0.photo)" }
        #expect(missing.isEmpty, "no face in \(missing)")
        #expect(outcomes.count == 400)

        let gallery = Dictionary(uniqueKeysWithValues: outcomes.filter { $0.photo == 1 }.compactMap { outcome in
            outcome.template.map { (outcome.person, $0) }
        })
        #expect(gallery.count == 40)
        var hits = 0
        var searches = 0
        for probe in outcomes where probe.photo != 1 {
            guard let template = probe.template else { continue }
            searches += 1
            var bestPerson = 0
            var bestScore = -Float.infinity
            for (person, enrolled) in gallery {
                let score = try template.cosineSimilarity(to: enrolled)
                if score > bestScore {
                    bestScore = score
                    bestPerson = person
                }
            }
            if bestPerson == probe.person { hits += 1 }
        }
        let rankOne = Double(hits) / 360
        print("ORL: rank-1 \(hits)/\(searches) = \(rankOne)")
        #expect(rankOne >= 0.99)
    }
}
