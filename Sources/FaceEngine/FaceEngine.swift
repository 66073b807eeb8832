import Foundation
import Imaging
import Installation
import ONNXRuntime

/// Image bytes in, faces out: decode, detect (YuNet), align, measure quality, and compute
/// templates (SFace), reproducing OpenCV 4.14's `FaceDetectorYN` and `FaceRecognizerSF`.
///
/// One engine serves the whole process and may be called from many tasks at once: it holds
/// only immutable settings and two ONNX Runtime sessions, whose runs are thread-safe. Each call
/// computes on the calling task's thread; with ``FaceEngineConfiguration/intraOpThreads`` at 1,
/// as many calls run in parallel as the concurrency pool has threads (one per core).
public final class FaceEngine: Sendable {
    /// The settings in force.
    public let configuration: FaceEngineConfiguration
    /// ONNX Runtime's version, for reports.
    public let runtimeVersion: String
    /// Identifies the detector in records: `PinnedModel.yunet.modelIdentifier`.
    public let detectorModelIdentifier = PinnedModel.yunet.modelIdentifier
    /// Identifies the recogniser in every template: `PinnedModel.sface.modelIdentifier`.
    public let templateModelIdentifier = PinnedModel.sface.modelIdentifier

    private let detector: ORTSession
    private let recogniser: ORTSession
    private let decoder: ImageDecoder

    private static let detectorInputName = "input"
    private static let recogniserInputName = "data"
    private static let recogniserOutputName = "fc1"

    /// Loads the ONNX Runtime library and the prepared models of `installation`.
    /// - Throws: ``FaceEngineError/modelMissing(model:path:)`` when `biomatch models prepare`
    ///   has not run, ``FaceEngineError/runtime(_:)`` when the library or a model does not load,
    ///   ``FaceEngineError/unexpectedModel(model:reason:)`` for a model with other inputs or
    ///   outputs, ``FaceEngineError/invalidConfiguration(_:)`` for unusable settings.
    public convenience init(
        installation: Installation = .fromEnvironment(),
        configuration: FaceEngineConfiguration = FaceEngineConfiguration()
    ) throws(FaceEngineError) {
        let environment: ORTEnvironment
        do {
            environment = try ORTEnvironment(
                libraryPath: installation.onnxRuntimeLibrary.path, logIdentifier: "biomatch-face-engine")
        } catch {
            throw .runtime(error)
        }
        try self.init(
            environment: environment,
            detectorModel: installation.preparedFile(of: .yunet),
            recogniserModel: installation.preparedFile(of: .sface),
            configuration: configuration)
    }

    /// Uses an already loaded runtime and explicit prepared model files.
    /// - Throws: As ``init(installation:configuration:)``.
    public init(
        environment: ORTEnvironment, detectorModel: URL, recogniserModel: URL,
        configuration: FaceEngineConfiguration = FaceEngineConfiguration()
    ) throws(FaceEngineError) {
        if let problem = configuration.problem { throw .invalidConfiguration(problem) }
        self.configuration = configuration
        runtimeVersion = environment.runtimeVersion
        decoder = ImageDecoder(limits: configuration.decodingLimits)
        detector = try Self.session(
            .yunet, at: detectorModel, environment: environment, threads: configuration.intraOpThreads)
        recogniser = try Self.session(
            .sface, at: recogniserModel, environment: environment, threads: configuration.intraOpThreads)
        try Self.checkDetector(detector)
        try Self.checkRecogniser(recogniser)
    }

    // MARK: - Public entry points

    /// Decodes `imageBytes` (JPEG, PNG, PGM or PPM) and analyses every face in it.
    public func analyze<Bytes: Collection & Sendable>(imageBytes: Bytes) async throws(FaceEngineError)
        -> [AnalyzedFace] where Bytes.Element == UInt8 {
        try await analysis(ofImageBytes: imageBytes).faces
    }

    /// Analyses every face in a decoded image.
    public func analyze(image: RGBImage) async throws(FaceEngineError) -> [AnalyzedFace] {
        try await analysis(of: image).faces
    }

    /// Decodes and analyses, and reports how long each stage took.
    public func analysis<Bytes: Collection & Sendable>(ofImageBytes imageBytes: Bytes) async throws(FaceEngineError)
        -> ImageAnalysis where Bytes.Element == UInt8 {
        var timings = StageTimings()
        let image = try decode(imageBytes, timings: &timings)
        let faces = try analyzeFaces(in: image, timings: &timings)
        return ImageAnalysis(imageWidth: image.width, imageHeight: image.height, faces: faces, timings: timings)
    }

    /// Analyses a decoded image and reports how long each stage took.
    public func analysis(of image: RGBImage) async throws(FaceEngineError) -> ImageAnalysis {
        var timings = StageTimings()
        let faces = try analyzeFaces(in: image, timings: &timings)
        return ImageAnalysis(imageWidth: image.width, imageHeight: image.height, faces: faces, timings: timings)
    }

    /// Decodes `imageBytes` and finds the faces, without templates.
    public func detect<Bytes: Collection & Sendable>(imageBytes: Bytes) async throws(FaceEngineError)
        -> [DetectedFace] where Bytes.Element == UInt8 {
        var timings = StageTimings()
        let image = try decode(imageBytes, timings: &timings)
        return try detectFaces(in: image, timings: &timings)
    }

    /// Finds the faces in a decoded image, highest score first, in its pixel coordinates.
    public func detect(image: RGBImage) async throws(FaceEngineError) -> [DetectedFace] {
        try await detection(of: image).faces
    }

    /// Finds the faces and reports how long each detection stage took.
    public func detection(of image: RGBImage) async throws(FaceEngineError)
        -> (faces: [DetectedFace], timings: StageTimings) {
        var timings = StageTimings()
        let faces = try detectFaces(in: image, timings: &timings)
        return (faces, timings)
    }

    /// Templates for 112x112 crops already aligned to ``FaceAlignment/template``, in order.
    public func templates(forAlignedCrops crops: [RGBImage]) async throws(FaceEngineError) -> [FaceTemplate] {
        var timings = StageTimings()
        return try embed(crops, timings: &timings)
    }

    // MARK: - Stages

    /// The whole image at full size: detection resizes it as OpenCV does, alignment samples it.
    ///
    /// A JPEG decoded smaller in the DCT domain (1/2, 1/4) for detection, with only the faces'
    /// regions decoded at full size for alignment, was measured and rejected: detection on the
    /// reduced decode moved biden.jpg's landmarks by 2.0 px (obama3.jpg 1.2 px) from OpenCV's,
    /// and the templates aligned on them fell to cosine 0.965 (0.974) against OpenCV's; and as
    /// entropy decoding, which every pass repeats, is ~60 % of decoding these photos, the two
    /// passes cost more than one full decode on images below ~3 megapixels.
    private func decode<Bytes: Collection>(_ bytes: Bytes, timings: inout StageTimings) throws(FaceEngineError)
        -> RGBImage where Bytes.Element == UInt8 {
        do {
            return try measure(&timings.decode) { () throws(ImageDecodingError) in try decoder.decode(bytes) }
        } catch {
            throw .decoding(error)
        }
    }

    private func detectFaces(in image: RGBImage, timings: inout StageTimings) throws(FaceEngineError) -> [DetectedFace] {
        guard image.width > 0, image.height > 0 else { return [] }
        let input = measure(&timings.detectionPreprocessing) {
            DetectorInput(
                image: image, maximumSide: configuration.maximumDetectionSide, border: configuration.detectionBorder)
        }
        let outputs = try measure(&timings.detectorModel) { () throws(FaceEngineError) in
            try Self.run(
                detector, input: Self.detectorInputName, shape: input.shape, values: input.values,
                outputs: YuNetDecoding.outputNames)
        }
        return try measure(&timings.detectionPostprocessing) { () throws(FaceEngineError) in
            let found = try YuNetDecoding.decode(
                outputs, tensorWidth: input.tensorWidth, tensorHeight: input.tensorHeight,
                scoreThreshold: configuration.scoreThreshold, nmsThreshold: configuration.nmsThreshold)
            return found.compactMap { face in
                let corner = input.originalPoint(x: face.x, y: face.y)
                let box = FaceBox(
                    x: corner.x, y: corner.y,
                    width: Double(face.width) * input.scaleX, height: Double(face.height) * input.scaleY)
                guard min(box.width, box.height) >= configuration.minimumFaceSize else { return nil }
                let points = (0..<5).map { input.originalPoint(x: face.landmarks[$0 * 2], y: face.landmarks[$0 * 2 + 1]) }
                return DetectedFace(box: box, landmarks: FaceLandmarks(points: points), score: face.score)
            }
        }
    }

    private func analyzeFaces(in image: RGBImage, timings: inout StageTimings) throws(FaceEngineError) -> [AnalyzedFace] {
        let faces = try detectFaces(in: image, timings: &timings)
        guard !faces.isEmpty else { return [] }
        let (crops, qualities) = measure(&timings.alignment) {
            let crops = faces.map { FaceAlignment.alignedCrop(of: image, landmarks: $0.landmarks) }
            let qualities = zip(faces, crops).map { FaceQuality(face: $0, alignedCrop: $1) }
            return (crops, qualities)
        }
        let templates = try embed(crops, timings: &timings)
        return faces.indices.map { index in
            AnalyzedFace(
                detection: faces[index], quality: qualities[index],
                verdict: qualities[index].verdict(under: configuration.qualityThresholds),
                template: templates[index],
                alignedCrop: configuration.keepsAlignedCrops ? crops[index] : nil)
        }
    }

    private func embed(_ crops: [RGBImage], timings: inout StageTimings) throws(FaceEngineError) -> [FaceTemplate] {
        guard !crops.isEmpty else { return [] }
        let side = FaceAlignment.cropSide
        for crop in crops where crop.width != side || crop.height != side {
            throw .invalidConfiguration("an aligned crop must be \(side)x\(side), not \(crop.width)x\(crop.height)")
        }
        let batch = measure(&timings.embeddingPreprocessing) { Self.planarRGB(crops) }
        let outputs = try measure(&timings.embedderModel) { () throws(FaceEngineError) in
            try Self.run(
                recogniser, input: Self.recogniserInputName, shape: [crops.count, 3, side, side], values: batch,
                outputs: [Self.recogniserOutputName])
        }
        guard let features = outputs[Self.recogniserOutputName],
              features.values.count == crops.count * FaceTemplate.dimension else {
            throw .unexpectedModelOutput(
                model: .sface, reason: "expected \(crops.count) x \(FaceTemplate.dimension) values from fc1")
        }
        return try measure(&timings.embeddingPreprocessing) { () throws(FaceEngineError) in
            try crops.indices.map { index throws(FaceEngineError) in
                let start = index * FaceTemplate.dimension
                return try FaceTemplate(
                    normalizing: Array(features.values[start..<(start + FaceTemplate.dimension)]),
                    modelIdentifier: templateModelIdentifier)
            }
        }
    }

    /// SFace's input: N x 3 x 112 x 112, planes in R, G, B order (not BGR: OpenCV's
    /// `blobFromImage(..., swapRB: true)` on its BGR crop), raw 0-255 values.
    private static func planarRGB(_ crops: [RGBImage]) -> [Float] {
        let planeSize = FaceAlignment.cropSide * FaceAlignment.cropSide
        var values = [Float](repeating: 0, count: crops.count * 3 * planeSize)
        values.withUnsafeMutableBufferPointer { values in
            for (index, crop) in crops.enumerated() {
                let base = index * 3 * planeSize
                crop.pixels.withUnsafeBufferPointer { rgb in
                    for pixel in 0..<planeSize {
                        values[base + pixel] = Float(rgb[pixel * 3])
                        values[base + planeSize + pixel] = Float(rgb[pixel * 3 + 1])
                        values[base + 2 * planeSize + pixel] = Float(rgb[pixel * 3 + 2])
                    }
                }
            }
        }
        return values
    }

    /// Runs a model on one input read in place.
    private static func run(
        _ session: ORTSession, input: String, shape: [Int], values: [Float], outputs: [String]
    ) throws(FaceEngineError) -> [String: ORTTensor] {
        do throws(ORTError) {
            return try values.withUnsafeBufferPointer { buffer throws(ORTError) in
                try session.run(inputName: input, shape: shape, data: buffer, outputNames: outputs)
            }
        } catch {
            throw .runtime(error)
        }
    }

    // MARK: - Loading

    private static func session(
        _ model: PinnedModel, at file: URL, environment: ORTEnvironment, threads: Int
    ) throws(FaceEngineError) -> ORTSession {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw .modelMissing(model: model, path: file.path)
        }
        do {
            return try ORTSession(environment: environment, modelPath: file.path, intraOpThreads: threads)
        } catch {
            throw .runtime(error)
        }
    }

    private static func checkDetector(_ session: ORTSession) throws(FaceEngineError) {
        guard let input = session.inputs.first, session.inputs.count == 1, input.name == detectorInputName,
              input.shape.count == 4, input.shape[1] == 3 else {
            throw .unexpectedModel(model: .yunet, reason: "expected one input 'input' shaped 1x3xHxW")
        }
        guard input.shape[2] < 0, input.shape[3] < 0 else {
            throw .unexpectedModel(model: .yunet, reason: "the input size is fixed at \(input.shape), not symbolic")
        }
        let names = Set(session.outputs.map(\.name))
        let missing = YuNetDecoding.outputNames.filter { !names.contains($0) }
        guard missing.isEmpty else {
            throw .unexpectedModel(model: .yunet, reason: "outputs \(missing.joined(separator: ", ")) are missing")
        }
    }

    private static func checkRecogniser(_ session: ORTSession) throws(FaceEngineError) {
        let side = FaceAlignment.cropSide
        guard let input = session.inputs.first, session.inputs.count == 1, input.name == recogniserInputName,
              input.shape.count == 4, input.shape[0] < 0, Array(input.shape[1...]) == [3, side, side] else {
            throw .unexpectedModel(
                model: .sface, reason: "expected one input 'data' shaped Bx3x\(side)x\(side) with a symbolic batch")
        }
        guard let output = session.outputs.first(where: { $0.name == recogniserOutputName }),
              output.shape.last == FaceTemplate.dimension else {
            throw .unexpectedModel(model: .sface, reason: "expected an output 'fc1' of \(FaceTemplate.dimension) values")
        }
    }
}
