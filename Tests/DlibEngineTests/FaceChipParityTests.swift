import DlibEngine
import Foundation
import Imaging
import Testing

/// The Swift port of dlib's `get_face_chip_details` and `extract_image_chip` against
/// `dlib.get_face_chip(img, shape, 150, 0.25)` from dlib's own points.
@Suite struct FaceChipParityTests {
    @Test func chipDetailsMatchDlib() throws {
        let fixture = try AlignmentFixture.load()
        for fixtureCase in fixture.cases {
            let details = DlibChipDetails(faceLandmarks: fixtureCase.landmarks, size: fixture.chipSize, padding: fixture.chipPadding)
            let expected = fixtureCase.chipRect
            let edgeError = [details.left - expected.left, details.top - expected.top,
                             details.right - expected.right, details.bottom - expected.bottom].map(abs).max()!
            #expect(edgeError < 1e-9, "\(fixtureCase.name): \(details) vs \(expected)")
            #expect(abs(details.angle - fixtureCase.chipAngle) < 1e-12, "\(fixtureCase.name)")
            #expect(details.rows == 150 && details.columns == 150)
        }
    }

    @Test func chipsFromDlibsPointsEqualDlibsWithinOneGreyLevel() throws {
        let fixture = try AlignmentFixture.load()
        for fixtureCase in fixture.cases {
            let image = try AlignmentSupport.image(of: fixtureCase)
            let chip = DlibFaceChip.chip(from: image, landmarks: fixtureCase.landmarks)
            let expected = try AlignmentFixture.chip(of: fixtureCase)
            #expect(chip.width == 150 && chip.height == 150)
            let difference = AlignmentSupport.difference(chip, expected)
            print("chip \(fixtureCase.name): max \(difference.maximum), \(difference.differing) of \(chip.pixels.count) bytes differ")
            #expect(difference.maximum <= 1, "\(fixtureCase.name): max \(difference.maximum), \(difference.differing) bytes differ")
        }
    }

    /// The cases include faces large enough for one and for two pyramid halvings (the 3x copy
    /// of obama.jpg), so the tests above cover dlib's pyramid path, not only plain bilinear.
    @Test func theFixturesExerciseThePyramid() throws {
        let fixture = try AlignmentFixture.load()
        let halvings = fixture.cases.map { fixtureCase -> Int in
            let details = DlibChipDetails(faceLandmarks: fixtureCase.landmarks)
            return DlibFaceChip.pyramidHalvings(for: details)
        }
        #expect(halvings.contains(0))
        #expect(halvings.contains(1))
        #expect(halvings.contains { $0 >= 2 })
        let enlarged = try #require(fixture.cases.first { $0.enlargement == 3 })
        #expect(DlibFaceChip.pyramidHalvings(for: DlibChipDetails(faceLandmarks: enlarged.landmarks)) >= 2)
    }
}
