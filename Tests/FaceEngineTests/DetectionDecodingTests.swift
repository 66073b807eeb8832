import Foundation
@testable import FaceEngine
import Imaging
import ONNXRuntime
import Testing

@Suite("Detection post-processing: NMS and YuNet decoding")
struct DetectionDecodingTests {
    @Test("NMS keeps the best of overlapping boxes and every separate one, best first")
    func suppression() {
        let boxes = [
            FaceBox(x: 0, y: 0, width: 100, height: 100),
            FaceBox(x: 10, y: 5, width: 100, height: 100),  // IoU with box 0 about 0.75
            FaceBox(x: 300, y: 300, width: 50, height: 50),
            FaceBox(x: 60, y: 0, width: 100, height: 100),  // IoU with box 1 about 0.31, with box 0 0.25
        ]
        let kept = NonMaximumSuppression.keptIndices(boxes: boxes, scores: [0.8, 0.9, 0.7, 0.85], iouThreshold: 0.3)
        #expect(kept == [1, 2])
        let lenient = NonMaximumSuppression.keptIndices(boxes: boxes, scores: [0.8, 0.9, 0.7, 0.85], iouThreshold: 0.5)
        #expect(lenient == [1, 3, 2])
    }

    @Test("NMS breaks score ties by input order and keeps boxes exactly at the threshold")
    func suppressionTies() {
        let boxes = [
            FaceBox(x: 0, y: 0, width: 10, height: 10),
            FaceBox(x: 5, y: 0, width: 10, height: 10),  // IoU 50 / 150 = 1/3
        ]
        #expect(NonMaximumSuppression.keptIndices(boxes: boxes, scores: [0.7, 0.7], iouThreshold: 0.3) == [0])
        #expect(NonMaximumSuppression.keptIndices(boxes: boxes, scores: [0.7, 0.7], iouThreshold: 1.0 / 3.0) == [0, 1])
    }

    @Test("intersection over union of crafted boxes")
    func intersectionOverUnion() {
        let box = FaceBox(x: 0, y: 0, width: 10, height: 10)
        #expect(box.intersectionOverUnion(with: box) == 1)
        #expect(box.intersectionOverUnion(with: FaceBox(x: 10, y: 0, width: 10, height: 10)) == 0)
        #expect(box.intersectionOverUnion(with: FaceBox(x: 5, y: 5, width: 10, height: 10)) == 25.0 / 175.0)
    }

    /// Outputs for a 64x32 input (strides 8, 16, 32: 8x4, 4x2, 2x1 cells) with zero logits.
    private func emptyOutputs() throws -> [String: ORTTensor] {
        var outputs: [String: ORTTensor] = [:]
        for stride in YuNetDecoding.strides {
            let cells = (64 / stride) * (32 / stride)
            for (head, width) in [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)] {
                outputs["\(head)_\(stride)"] = try ORTTensor(
                    shape: [1, cells, width], values: [Float](repeating: 0, count: cells * width))
            }
        }
        return outputs
    }

    private func set(_ outputs: inout [String: ORTTensor], _ name: String, cell: Int, _ values: [Float]) {
        var tensor = outputs[name]!
        for (offset, value) in values.enumerated() {
            tensor.values[cell * values.count + offset] = value
        }
        outputs[name] = tensor
    }

    @Test("decodes a cell into OpenCV's box, landmarks and score")
    func decodesCell() throws {
        var outputs = try emptyOutputs()
        // Stride 16, grid 4 wide: cell 6 is row 1, column 2.
        set(&outputs, "cls_16", cell: 6, [0.81])
        set(&outputs, "obj_16", cell: 6, [1.4])  // clamped to 1
        set(&outputs, "bbox_16", cell: 6, [0.5, 0.25, 0, Float(log(2.0))])
        set(&outputs, "kps_16", cell: 6, [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1])
        let faces = try YuNetDecoding.decode(
            outputs, tensorWidth: 64, tensorHeight: 32, scoreThreshold: 0.6, nmsThreshold: 0.3)
        #expect(faces.count == 1)
        let face = try #require(faces.first)
        #expect(abs(face.score - 0.9) < 1e-6)
        // Centre ((2 + 0.5) * 16, (1 + 0.25) * 16) = (40, 20); size (16, 32).
        #expect(abs(face.x - 32) < 1e-4 && abs(face.y - 4) < 1e-4)
        #expect(abs(face.width - 16) < 1e-4 && abs(face.height - 32) < 1e-4)
        #expect(face.landmarks == [32, 16, 48, 16, 40, 24, 32, 32, 48, 32])
    }

    @Test("drops cells under the score threshold and negative logits")
    func thresholds() throws {
        var outputs = try emptyOutputs()
        set(&outputs, "cls_8", cell: 3, [0.35])
        set(&outputs, "obj_8", cell: 3, [1])  // sqrt(0.35) = 0.59 < 0.6
        set(&outputs, "cls_32", cell: 1, [-0.5])
        set(&outputs, "obj_32", cell: 1, [1])
        let faces = try YuNetDecoding.decode(
            outputs, tensorWidth: 64, tensorHeight: 32, scoreThreshold: 0.6, nmsThreshold: 0.3)
        #expect(faces.isEmpty)
        let lenient = try YuNetDecoding.decode(
            outputs, tensorWidth: 64, tensorHeight: 32, scoreThreshold: 0.5, nmsThreshold: 0.3)
        #expect(lenient.count == 1)
    }

    @Test("overlapping detections from two strides collapse to the stronger one")
    func crossStrideSuppression() throws {
        var outputs = try emptyOutputs()
        // The same 16x16 face at (8, 8) seen by stride 8 (cell row 1, column 1) and stride 16 (cell 0).
        set(&outputs, "cls_8", cell: 9, [0.7])
        set(&outputs, "obj_8", cell: 9, [0.7])
        set(&outputs, "bbox_8", cell: 9, [0, 0, Float(log(2.0)), Float(log(2.0))])
        set(&outputs, "cls_16", cell: 0, [0.9])
        set(&outputs, "obj_16", cell: 0, [0.9])
        set(&outputs, "bbox_16", cell: 0, [0.5, 0.5, 0, 0])
        let faces = try YuNetDecoding.decode(
            outputs, tensorWidth: 64, tensorHeight: 32, scoreThreshold: 0.6, nmsThreshold: 0.3)
        #expect(faces.count == 1)
        #expect(faces.first.map { abs($0.score - 0.9) < 1e-6 } == true)
    }

    @Test("a missing or short head is reported as unexpected model output")
    func malformedOutputs() throws {
        var outputs = try emptyOutputs()
        outputs["kps_32"] = nil
        #expect(throws: FaceEngineError.unexpectedModelOutput(model: .yunet, reason: "output 'kps_32' is missing")) {
            try YuNetDecoding.decode(outputs, tensorWidth: 64, tensorHeight: 32, scoreThreshold: 0.6, nmsThreshold: 0.3)
        }
    }

    @Test("the detector input is scaled, padded to multiples of 32 and planar BGR")
    func detectorInput() {
        var pixels = [UInt8](repeating: 0, count: 40 * 20 * 3)
        pixels[0] = 10  // top-left R
        pixels[1] = 20  // G
        pixels[2] = 30  // B
        let image = RGBImage(width: 40, height: 20, pixels: pixels)
        let input = DetectorInput(image: image, maximumSide: 640, border: 0)
        #expect(input.shape == [1, 3, 32, 64])
        let plane = 32 * 64
        #expect(input.values[0] == 30 && input.values[plane] == 20 && input.values[2 * plane] == 10)
        #expect(input.scaleX == 1 && input.scaleY == 1)

        let large = RGBImage(width: 1000, height: 250)
        let scaled = DetectorInput(image: large, maximumSide: 640, border: 0)
        #expect(scaled.shape == [1, 3, 160, 640])
        #expect(scaled.scaleX == 1000.0 / 640.0 && scaled.scaleY == 250.0 / 160.0)

        let framed = DetectorInput(image: image, maximumSide: 640, border: 32)
        #expect(framed.shape == [1, 3, 96, 128])
        #expect(framed.values[32 * 128 + 32] == 30)
        let point = framed.originalPoint(x: 42, y: 33)
        #expect(point.x == 10 && point.y == 1)
    }
}
