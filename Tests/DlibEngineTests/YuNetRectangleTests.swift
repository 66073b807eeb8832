@testable import DlibEngine
import FaceEngine
import Foundation
import Imaging
import Testing

/// How well the predictor rectangle derived from YuNet's box stands in for dlib's own HOG
/// detector rectangle: the predictor's points and the chips on both, on the test photos and on
/// the ORL faces where dlib's detector found a face.
@Suite struct YuNetRectangleTests {
    struct Pair {
        var name: String
        var image: RGBImage
        var yuNet: FaceBox
        var dlib: DlibRectangle
    }

    /// Every face both detectors found, YuNet's box matched to dlib's rectangle by overlap.
    static func pairs(includingORL: Bool) async throws -> [Pair] {
        let fixture = try AlignmentFixture.load()
        let engine = try FaceEngine(installation: AlignmentSupport.installation)
        var pairs: [Pair] = []
        func add(_ name: String, _ image: RGBImage, _ rectangle: DlibRectangle) async throws {
            let faces = try await engine.detect(image: image)
            let dlibBox = FaceBox(x: Double(rectangle.left), y: Double(rectangle.top),
                                  width: Double(rectangle.width), height: Double(rectangle.height))
            guard let face = faces.max(by: { $0.box.intersectionOverUnion(with: dlibBox) < $1.box.intersectionOverUnion(with: dlibBox) }),
                  face.box.intersectionOverUnion(with: dlibBox) > 0.3 else { return }
            pairs.append(Pair(name: name, image: image, yuNet: face.box, dlib: rectangle))
        }
        for fixtureCase in fixture.cases where fixtureCase.enlargement == 1 {
            try await add(fixtureCase.name, try AlignmentSupport.image(of: fixtureCase), fixtureCase.detectorRect.dlib)
        }
        if includingORL {
            for face in fixture.orl {
                guard let rectangle = face.detectorRect else { continue }
                let image = try ImageDecoder().decode(contentsOf: AlignmentSupport.installation.orlFacesDirectory.appending(path: face.image))
                try await add(face.image, image, rectangle.dlib)
            }
        }
        return pairs
    }

    struct Figures {
        var meanPointDistance: Double
        var maximumPointDistance: Double
        var meanChipDifference: Double
        var count: Int
    }

    static func figures(_ pairs: [Pair], predictor: ShapePredictor) -> Figures {
        var distances: [Double] = []
        var chipDifferences: [Double] = []
        for pair in pairs {
            let derived = predictor.landmarks(in: pair.image, rectangle: DlibRectangle(yuNetBox: pair.yuNet))
            let reference = predictor.landmarks(in: pair.image, rectangle: pair.dlib)
            distances += AlignmentSupport.pointDistance(derived.points, reference.points)
            let chipDifference = AlignmentSupport.difference(
                DlibFaceChip.chip(from: pair.image, landmarks: derived), DlibFaceChip.chip(from: pair.image, landmarks: reference))
            chipDifferences.append(chipDifference.mean)
        }
        return Figures(
            meanPointDistance: distances.reduce(0, +) / Double(distances.count), maximumPointDistance: distances.max() ?? 0,
            meanChipDifference: chipDifferences.reduce(0, +) / Double(chipDifferences.count), count: pairs.count)
    }

    /// The predictor's points on the derived rectangle stay close to its points on dlib's own
    /// detector rectangle (measured 2026-12: 395 faces, mean 0.31 px, max 5 px).
    @Test func derivedRectanglesGiveNearlyDlibsPoints() async throws {
        let pairs = try await Self.pairs(includingORL: true)
        #expect(pairs.count >= 390)
        let predictor = try AlignmentSupport.predictor.get()
        let photos = Self.figures(pairs.filter { !$0.name.contains("/") }, predictor: predictor)
        let orl = Self.figures(pairs.filter { $0.name.contains("/") }, predictor: predictor)
        print("YuNet-derived vs dlib rectangle, photos: \(photos)")
        print("YuNet-derived vs dlib rectangle, ORL: \(orl)")
        #expect(photos.count == 5)
        #expect(photos.meanPointDistance < 1 && photos.maximumPointDistance <= 4)
        #expect(orl.meanPointDistance < 0.5 && orl.maximumPointDistance <= 6)
        #expect(photos.meanChipDifference < 4 && orl.meanChipDifference < 5)
    }

    /// The mapping's constants are what the rectangles of both detectors give: the mean
    /// offset of dlib's centre and the mean side ratio over every matched face.
    @Test func theMappingIsTheMeasuredFit() async throws {
        let pairs = try await Self.pairs(includingORL: true)
        var horizontal = 0.0, vertical = 0.0, scale = 0.0
        for pair in pairs {
            let box = pair.yuNet, rect = pair.dlib
            horizontal += (Double(rect.left + rect.right) / 2 - (box.x + box.width / 2)) / box.width
            vertical += (Double(rect.top + rect.bottom) / 2 - (box.y + box.height / 2)) / box.height
            scale += Double(rect.right - rect.left + rect.bottom - rect.top) / (box.width + box.height)
        }
        let count = Double(pairs.count)
        #expect(abs(horizontal / count - DlibRectangle.horizontalShift) < 0.015)
        #expect(abs(vertical / count - DlibRectangle.verticalShift) < 0.015)
        #expect(abs(scale / count - DlibRectangle.sideScale) < 0.015)
    }
}

/// The convenience the engine calls: a YuNet detection in, dlib's points and chip out.
@Suite struct DlibFaceAlignmentTests {
    @Test func alignsAYuNetFaceNearDlibsOwnPipeline() async throws {
        let fixture = try AlignmentFixture.load()
        let engine = try FaceEngine(installation: AlignmentSupport.installation)
        let alignment = try DlibFaceAlignment(installation: AlignmentSupport.installation)
        for fixtureCase in fixture.cases where fixtureCase.enlargement == 1 {
            let image = try AlignmentSupport.image(of: fixtureCase)
            let face = try #require(try await engine.detect(image: image).max { $0.score < $1.score })
            let aligned = alignment.align(face, in: image)
            #expect(aligned.rectangle == DlibRectangle(yuNetBox: face.box))
            #expect(aligned.chip.width == 150 && aligned.chip.height == 150)
            // dlib's own pipeline: its detector's rectangle, its points.
            let distances = AlignmentSupport.pointDistance(aligned.landmarks.points, fixtureCase.landmarks.points)
            #expect(distances.max()! <= 3, "\(fixtureCase.name): \(distances)")
            let dlibChip = try AlignmentFixture.chip(of: fixtureCase)
            #expect(AlignmentSupport.difference(aligned.chip, dlibChip).mean < 6, "\(fixtureCase.name)")
        }
    }
}
