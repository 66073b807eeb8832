import Foundation
import Imaging
import ONNXRuntime

/// The image as YuNet sees it: scaled, framed by an optional black border, padded bottom and
/// right with black to multiples of 32, as a 1x3xHxW float32 BGR tensor of raw 0-255 values.
struct DetectorInput: Sendable {
    /// YuNet's strides need every side to be a multiple of this.
    static let sideMultiple = 32

    /// Tensor width (a multiple of 32).
    let tensorWidth: Int
    /// Tensor height (a multiple of 32).
    let tensorHeight: Int
    /// The planar B, G, R values, `3 * tensorHeight * tensorWidth` floats.
    let values: [Float]
    /// Black pixels added on every side of the scaled image.
    let border: Int
    /// Original pixels per scaled pixel, horizontally.
    let scaleX: Double
    /// Original pixels per scaled pixel, vertically.
    let scaleY: Double

    /// Scales `image` so that its longer side is at most `maximumSide` (never enlarging; each
    /// side rounded, as the OpenCV reference does), then frames and pads it.
    init(image: RGBImage, maximumSide: Int, border: Int) {
        let longerSide = max(image.width, image.height)
        let factor = min(1, Double(maximumSide) / Double(longerSide))
        let scaledWidth = max(1, Int((Double(image.width) * factor).rounded()))
        let scaledHeight = max(1, Int((Double(image.height) * factor).rounded()))
        self.border = border
        scaleX = Double(image.width) / Double(scaledWidth)
        scaleY = Double(image.height) / Double(scaledHeight)
        tensorWidth = Self.roundedUp(scaledWidth + 2 * border)
        tensorHeight = Self.roundedUp(scaledHeight + 2 * border)
        values = Self.planarBGR(
            image, scaledWidth: scaledWidth, scaledHeight: scaledHeight, border: border,
            tensorWidth: tensorWidth, tensorHeight: tensorHeight)
    }

    /// The tensor shape `[1, 3, H, W]`.
    var shape: [Int] { [1, 3, tensorHeight, tensorWidth] }

    /// A tensor-space position in pixels of the original image.
    func originalPoint(x: Float, y: Float) -> ImagePoint {
        ImagePoint(x: (Double(x) - Double(border)) * scaleX, y: (Double(y) - Double(border)) * scaleY)
    }

    private static func roundedUp(_ side: Int) -> Int {
        (side + sideMultiple - 1) / sideMultiple * sideMultiple
    }

    /// Resizes row by row straight into the planes: each resized row is converted while it is
    /// in cache, and only the frame and padding are zeroed.
    private static func planarBGR(
        _ image: RGBImage, scaledWidth: Int, scaledHeight: Int, border: Int, tensorWidth: Int, tensorHeight: Int
    ) -> [Float] {
        let planeSize = tensorWidth * tensorHeight
        return [Float](unsafeUninitializedCapacity: 3 * planeSize) { planes, initialized in
            let blue = planes.baseAddress!
            let green = blue + planeSize
            let red = green + planeSize
            let rightPadding = tensorWidth - border - scaledWidth
            let lastImageRow = border + scaledHeight
            for plane in [blue, green, red] {
                plane.initialize(repeating: 0, count: border * tensorWidth)
                for y in border..<lastImageRow {
                    (plane + y * tensorWidth).initialize(repeating: 0, count: border)
                    (plane + y * tensorWidth + border + scaledWidth).initialize(repeating: 0, count: rightPadding)
                }
                (plane + lastImageRow * tensorWidth).initialize(repeating: 0, count: (tensorHeight - lastImageRow) * tensorWidth)
            }
            image.forEachRowResizedBilinear(width: scaledWidth, height: scaledHeight) { y, row in
                let start = (y + border) * tensorWidth + border
                deinterleave(row.baseAddress!, count: scaledWidth, red: red + start, green: green + start, blue: blue + start)
            }
            initialized = 3 * planeSize
        }
    }

    /// Interleaved RGB bytes to three float rows.
    @inline(__always)
    private static func deinterleave(
        _ rgb: UnsafePointer<UInt8>, count: Int,
        red: UnsafeMutablePointer<Float>, green: UnsafeMutablePointer<Float>, blue: UnsafeMutablePointer<Float>
    ) {
        for x in 0..<count {
            let pixel = rgb + x &* 3
            red[x] = Float(pixel[0])
            green[x] = Float(pixel[1])
            blue[x] = Float(pixel[2])
        }
    }
}

/// A face in tensor coordinates before it is mapped back to the original image.
struct TensorFace: Sendable, Equatable {
    /// Box left, top, width, height.
    var x: Float
    var y: Float
    var width: Float
    var height: Float
    /// Five landmarks as x0, y0, x1, y1, ….
    var landmarks: [Float]
    var score: Float
}

/// Turns YuNet's twelve outputs into faces exactly as OpenCV 4.x's `FaceDetectorYN` does.
enum YuNetDecoding {
    /// The feature-map strides of YuNet's three heads.
    static let strides = [8, 16, 32]

    /// Every output name, for `ORTSession.run`.
    static let outputNames: [String] = ["cls", "obj", "bbox", "kps"].flatMap { head in
        strides.map { "\(head)_\($0)" }
    }

    /// Decodes the heads of one run on a `tensorWidth` x `tensorHeight` input.
    ///
    /// For grid cell (row, col) of stride S: score = sqrt(clamp01(cls) * clamp01(obj));
    /// centre = ((col + bbox0) S, (row + bbox1) S); size = (exp(bbox2) S, exp(bbox3) S);
    /// landmark k = ((col + kps[2k]) S, (row + kps[2k+1]) S). Cells scoring below
    /// `scoreThreshold` are dropped; the rest go through NMS on integer boxes, as OpenCV's.
    static func decode(
        _ outputs: [String: ORTTensor], tensorWidth: Int, tensorHeight: Int,
        scoreThreshold: Float, nmsThreshold: Double
    ) throws(FaceEngineError) -> [TensorFace] {
        var faces: [TensorFace] = []
        for stride in strides {
            let columns = tensorWidth / stride
            let cells = columns * (tensorHeight / stride)
            let classification = try head(outputs, "cls_\(stride)", cells: cells, width: 1)
            let objectness = try head(outputs, "obj_\(stride)", cells: cells, width: 1)
            let boxes = try head(outputs, "bbox_\(stride)", cells: cells, width: 4)
            let keypoints = try head(outputs, "kps_\(stride)", cells: cells, width: 10)
            let step = Float(stride)
            for cell in 0..<cells {
                let score = (clamp01(classification[cell]) * clamp01(objectness[cell])).squareRoot()
                guard score >= scoreThreshold else { continue }
                let column = Float(cell % columns)
                let row = Float(cell / columns)
                let centreX = (column + boxes[cell * 4]) * step
                let centreY = (row + boxes[cell * 4 + 1]) * step
                let width = exp(boxes[cell * 4 + 2]) * step
                let height = exp(boxes[cell * 4 + 3]) * step
                var landmarks = [Float](repeating: 0, count: 10)
                for point in 0..<5 {
                    landmarks[point * 2] = (column + keypoints[cell * 10 + point * 2]) * step
                    landmarks[point * 2 + 1] = (row + keypoints[cell * 10 + point * 2 + 1]) * step
                }
                faces.append(TensorFace(
                    x: centreX - width / 2, y: centreY - height / 2, width: width, height: height,
                    landmarks: landmarks, score: score))
            }
        }
        guard faces.count > 1 else { return faces }
        // OpenCV suppresses on boxes truncated to integers (cv::Rect2i).
        let integerBoxes = faces.map { face in
            FaceBox(
                x: Double(Int(face.x)), y: Double(Int(face.y)),
                width: Double(Int(face.width)), height: Double(Int(face.height)))
        }
        let kept = NonMaximumSuppression.keptIndices(
            boxes: integerBoxes, scores: faces.map(\.score), iouThreshold: nmsThreshold)
        return kept.map { faces[$0] }
    }

    private static func head(_ outputs: [String: ORTTensor], _ name: String, cells: Int, width: Int)
        throws(FaceEngineError) -> [Float] {
        guard let tensor = outputs[name] else {
            throw .unexpectedModelOutput(model: .yunet, reason: "output '\(name)' is missing")
        }
        guard tensor.values.count == cells * width else {
            throw .unexpectedModelOutput(
                model: .yunet,
                reason: "output '\(name)' has \(tensor.values.count) values, expected \(cells) x \(width)")
        }
        return tensor.values
    }

    private static func clamp01(_ value: Float) -> Float { min(max(value, 0), 1) }
}
