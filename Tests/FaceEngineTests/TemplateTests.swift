import FaceEngine
import Foundation
import Testing

@Suite("Face templates")
struct TemplateTests {
    @Test("templates are scaled to unit length and compared by cosine")
    func normalisedCosine() throws {
        let first = try FaceTemplate(normalizing: [3, 4, 0, 0, 0], modelIdentifier: "sface-2021dec")
        #expect(first.values == [0.6, 0.8, 0, 0, 0])
        let second = try FaceTemplate(normalizing: [0, 10, 0, 0, 0], modelIdentifier: "sface-2021dec")
        #expect(abs(try first.cosineSimilarity(to: second) - 0.8) < 1e-6)
        #expect(abs(try first.cosineSimilarity(to: first) - 1) < 1e-6)
        let opposite = try FaceTemplate(normalizing: [-3, -4, 0, 0, 0], modelIdentifier: "sface-2021dec")
        #expect(abs(try first.cosineSimilarity(to: opposite) + 1) < 1e-6)
    }

    @Test("the dot product handles lengths that are not multiples of four")
    func oddLengths() throws {
        let values = (0..<131).map { Float($0 % 7) - 3 }
        let template = try FaceTemplate(normalizing: values, modelIdentifier: "m")
        let expected = template.values.reduce(0) { $0 + $1 * $1 }
        #expect(abs(try template.cosineSimilarity(to: template) - expected) < 1e-5)
    }

    @Test("empty, zero and non-finite vectors are refused")
    func invalidVectors() {
        #expect(throws: FaceEngineError.invalidTemplate(reason: "the vector is empty")) {
            try FaceTemplate(normalizing: [], modelIdentifier: "m")
        }
        #expect(throws: FaceEngineError.invalidTemplate(reason: "the vector has no length")) {
            try FaceTemplate(normalizing: [0, 0, 0], modelIdentifier: "m")
        }
        #expect(throws: FaceEngineError.invalidTemplate(reason: "the vector is not finite")) {
            try FaceTemplate(normalizing: [1, .nan], modelIdentifier: "m")
        }
    }

    @Test("a decoded template is unit length even if the stored vector was not")
    func decodingNormalises() throws {
        let stored = Data(#"{"values":[0,3,4],"modelIdentifier":"sface-2021dec"}"#.utf8)
        let template = try JSONDecoder().decode(FaceTemplate.self, from: stored)
        #expect(template.values == [0, 0.6, 0.8] && template.modelIdentifier == "sface-2021dec")
        let roundTrip = try JSONDecoder().decode(FaceTemplate.self, from: JSONEncoder().encode(template))
        #expect(roundTrip == template)
        #expect(throws: FaceEngineError.self) {
            try JSONDecoder().decode(FaceTemplate.self, from: Data(#"{"values":[0,0],"modelIdentifier":"m"}"#.utf8))
        }
    }

    @Test("templates of different models are not compared")
    func modelMismatch() throws {
        let sface = try FaceTemplate(normalizing: [1, 0], modelIdentifier: "sface-2021dec")
        let other = try FaceTemplate(normalizing: [1, 0], modelIdentifier: "arcface-r100")
        #expect(throws: FaceEngineError.self) { try sface.cosineSimilarity(to: other) }
    }
}
