import Imaging

/// One face found, measured and turned into a template.
public struct AnalyzedFace: Sendable, Equatable {
    /// Box, landmarks and score, in pixels of the original image.
    public var detection: DetectedFace
    /// Quality measurements.
    public var quality: FaceQuality
    /// The measurements judged against the engine's ``FaceEngineConfiguration/qualityThresholds``.
    public var verdict: QualityVerdict
    /// The SFace template.
    public var template: FaceTemplate
    /// The 112x112 aligned crop the template was computed from, when
    /// ``FaceEngineConfiguration/keepsAlignedCrops`` is set.
    public var alignedCrop: RGBImage?

    /// A face from its parts.
    public init(
        detection: DetectedFace, quality: FaceQuality, verdict: QualityVerdict, template: FaceTemplate,
        alignedCrop: RGBImage?
    ) {
        self.detection = detection
        self.quality = quality
        self.verdict = verdict
        self.template = template
        self.alignedCrop = alignedCrop
    }
}

/// Everything one analysis produced, with the time each stage took.
public struct ImageAnalysis: Sendable, Equatable {
    /// Width of the decoded image.
    public var imageWidth: Int
    /// Height of the decoded image.
    public var imageHeight: Int
    /// The faces, highest detector score first.
    public var faces: [AnalyzedFace]
    /// Where the time went.
    public var timings: StageTimings
}

/// Wall-clock time of each stage of one call, for benchmarks that separate the fixed cost of
/// the models from the engine's own overhead. Stages a call does not run stay zero.
public struct StageTimings: Sendable, Hashable {
    /// Decoding the encoded image.
    public var decode: Duration = .zero
    /// Scaling the image and filling the detector's input tensor.
    public var detectionPreprocessing: Duration = .zero
    /// The YuNet run.
    public var detectorModel: Duration = .zero
    /// Decoding the detector heads, non-maximum suppression, mapping back to the image.
    public var detectionPostprocessing: Duration = .zero
    /// Similarity transforms, warps to 112x112, and quality measurements.
    public var alignment: Duration = .zero
    /// Filling SFace's input tensor and scaling its outputs to unit length.
    public var embeddingPreprocessing: Duration = .zero
    /// The SFace run (all faces of the image in one batch).
    public var embedderModel: Duration = .zero

    /// Timings with every stage at zero.
    public init() {}

    /// Time inside ONNX Runtime.
    public var modelTime: Duration { detectorModel + embedderModel }
    /// Time in every stage.
    public var total: Duration {
        decode + detectionPreprocessing + detectorModel + detectionPostprocessing + alignment
            + embeddingPreprocessing + embedderModel
    }
    /// Time outside ONNX Runtime.
    public var overhead: Duration { total - modelTime }
}

/// Runs `body` and adds its wall-clock time to `stage`.
@inline(__always)
func measure<Result, Failure: Error>(
    _ stage: inout Duration, _ body: () throws(Failure) -> Result
) throws(Failure) -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    defer { stage += clock.now - start }
    return try body()
}
