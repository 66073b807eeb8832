import FaceEngine
import Imaging
import Installation

/// A face aligned for dlib's descriptor: the rectangle the shape predictor ran on, its five
/// points and the 150x150 chip.
public struct DlibAlignedFace: Sendable, Equatable {
    /// The predictor's face rectangle, derived from YuNet's box.
    public var rectangle: DlibRectangle
    /// dlib's 5 points (eye corners, nose base) in pixels of the image.
    public var landmarks: DlibFaceLandmarks
    /// The 150x150 RGB chip dlib's ResNet expects.
    public var chip: RGBImage

    /// An aligned face from its parts.
    public init(rectangle: DlibRectangle, landmarks: DlibFaceLandmarks, chip: RGBImage) {
        self.rectangle = rectangle
        self.landmarks = landmarks
        self.chip = chip
    }
}

/// dlib's alignment run on a face YuNet found: the box becomes a dlib-detector-like rectangle
/// (``DlibRectangle/init(yuNetBox:)``), the 5-point shape predictor places its points there,
/// and `get_face_chip(img, shape, 150, 0.25)` cuts the chip.
public struct DlibFaceAlignment: Sendable {
    /// The 5-point shape predictor.
    public let predictor: ShapePredictor

    /// Alignment with an already loaded predictor.
    public init(predictor: ShapePredictor) {
        self.predictor = predictor
    }

    /// Alignment with the installation's pinned `shape_predictor_5_face_landmarks.dat`.
    public init(installation: Installation) throws(ShapePredictorError) {
        self.init(predictor: ShapePredictor(model: try ShapePredictorModel.load(from: installation)))
    }

    /// The 5 points and the chip of a face YuNet detected in `image`.
    public func align(_ face: DetectedFace, in image: RGBImage) -> DlibAlignedFace {
        align(rectangle: DlibRectangle(yuNetBox: face.box), in: image)
    }

    /// The 5 points and the chip for the face in a given predictor rectangle (for example
    /// one from dlib's own detector).
    public func align(rectangle: DlibRectangle, in image: RGBImage) -> DlibAlignedFace {
        let landmarks = predictor.landmarks(in: image, rectangle: rectangle)
        return DlibAlignedFace(rectangle: rectangle, landmarks: landmarks, chip: DlibFaceChip.chip(from: image, landmarks: landmarks))
    }
}
