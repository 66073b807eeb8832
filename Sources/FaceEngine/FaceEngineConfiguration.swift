import Imaging

/// Settings of a ``FaceEngine``. The defaults reproduce OpenCV 4.14's `FaceDetectorYN` and
/// `FaceRecognizerSF` on an image first scaled so that its longer side is 640 pixels.
public struct FaceEngineConfiguration: Sendable, Equatable {
    /// Longest side, in pixels, of the image the detector sees; larger images are scaled down
    /// (never up). Detector time grows with the area: about 12 ms at 640 here.
    public var maximumDetectionSide: Int
    /// Black pixels added on every side of the (scaled) image before detection; coordinates are
    /// mapped back. 0 by default: YuNet already finds all 400 tightly cropped ORL faces without
    /// it, while a border of 5-25 % shifts landmarks on ordinary photos by up to 3 px (and boxes of faces
    /// cut by the frame by up to 30 px) away from what OpenCV reports.
    public var detectionBorder: Int
    /// Lowest detector score kept (OpenCV's default 0.6 here too).
    public var scoreThreshold: Float
    /// Intersection over union above which the weaker of two detections is dropped.
    public var nmsThreshold: Double
    /// Faces whose box is narrower or shorter than this, in original pixels, are dropped.
    public var minimumFaceSize: Double
    /// The limits ``AnalyzedFace/verdict`` reports against.
    public var qualityThresholds: QualityThresholds
    /// Threads each model run may use. 1 suits servers: concurrent calls then use the cores
    /// (ONNX Runtime's spinning workers fight when several multi-threaded runs share few cores).
    /// Raise it to cut the latency of a single call on an otherwise idle machine.
    public var intraOpThreads: Int
    /// Whether ``AnalyzedFace/alignedCrop`` is filled in (37 KB per face).
    public var keepsAlignedCrops: Bool
    /// Bounds checked on every encoded image before it is decoded.
    public var decodingLimits: DecodingLimits

    /// Settings from their values.
    public init(
        maximumDetectionSide: Int = 640,
        detectionBorder: Int = 0,
        scoreThreshold: Float = 0.6,
        nmsThreshold: Double = 0.3,
        minimumFaceSize: Double = 0,
        qualityThresholds: QualityThresholds = .standard,
        intraOpThreads: Int = 1,
        keepsAlignedCrops: Bool = false,
        decodingLimits: DecodingLimits = .default
    ) {
        self.maximumDetectionSide = maximumDetectionSide
        self.detectionBorder = detectionBorder
        self.scoreThreshold = scoreThreshold
        self.nmsThreshold = nmsThreshold
        self.minimumFaceSize = minimumFaceSize
        self.qualityThresholds = qualityThresholds
        self.intraOpThreads = intraOpThreads
        self.keepsAlignedCrops = keepsAlignedCrops
        self.decodingLimits = decodingLimits
    }

    /// The reason these settings cannot work, or `nil` when they can.
    public var problem: String? {
        if maximumDetectionSide < 32 { return "maximumDetectionSide must be at least 32, not \(maximumDetectionSide)" }
        if detectionBorder < 0 { return "detectionBorder must not be negative, not \(detectionBorder)" }
        if !(0...1).contains(scoreThreshold) { return "scoreThreshold must lie in 0...1, not \(scoreThreshold)" }
        if !(0...1).contains(nmsThreshold) { return "nmsThreshold must lie in 0...1, not \(nmsThreshold)" }
        if !(minimumFaceSize >= 0) { return "minimumFaceSize must not be negative, not \(minimumFaceSize)" }
        if intraOpThreads < 1 { return "intraOpThreads must be at least 1, not \(intraOpThreads)" }
        return nil
    }
}
