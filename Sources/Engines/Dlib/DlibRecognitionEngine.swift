import FaceEngine
import Foundation
import Imaging
import Installation
import ONNXRuntime

/// dlib's face recognition behind the recognition-engine seam: its 5-point shape predictor run on
/// a rectangle derived from YuNet's box, dlib's 150x150 face chip, and its ResNet (converted to an
/// ONNX graph by BioMatch) giving raw 128-D descriptors compared by Euclidean distance (same person
/// below 0.6, dlib's operating point).
public final class DlibRecognitionEngine: RecognitionEngine {
    /// The engine's identifier in requests, galleries and reports.
    public static let identifier = "dlib"

    /// What the engine is and how its templates compare.
    public let profile: RecognitionEngineProfile
    private let alignment: DlibFaceAlignment
    private let model: DlibDescriptorModel

    /// Loads the predictor and the converted ResNet of `installation` on `environment`.
    /// - Throws: ``FaceEngineError/engineFailure(engine:reason:)`` when a file is missing, not the
    ///   pinned one, or does not load (run `biomatch models prepare`).
    public init(environment: ORTEnvironment, installation: Installation = .fromEnvironment()) throws(FaceEngineError) {
        guard let preparedFile = installation.preparedFile(of: PinnedDlibModel.resNet) else {
            throw .engineFailure(engine: Self.identifier, reason: "dlib's ResNet has no prepared file name")
        }
        do {
            alignment = try DlibFaceAlignment(installation: installation)
        } catch {
            throw .engineFailure(engine: Self.identifier, reason: error.description)
        }
        do {
            model = try DlibDescriptorModel(environment: environment, file: preparedFile)
        } catch {
            throw .engineFailure(engine: Self.identifier, reason: "\(error.description) Run `biomatch models prepare`.")
        }
        profile = RecognitionEngineProfile(
            identifier: Self.identifier,
            version: "resnet-v1",
            templateModel: PinnedDlibModel.resNet.modelIdentifier,
            chip: ChipSpecification(
                side: DlibDescriptorModel.chipSide,
                alignment: "dlib's 5-point shape predictor (eye corners, nose base) on a rectangle derived from "
                    + "YuNet's box; dlib's get_face_chip (padding 0.25, bilinear, pyramid halving for large faces)",
                colourOrder: "RGB", normalisation: "(pixel - channel mean) / 256 inside the graph"),
            templateLength: DlibDescriptorModel.descriptorLength,
            comparison: .euclideanDistance,
            sameSubjectThreshold: DlibDescriptorModel.sameIdentityDistance,
            models: [
                EngineModelFile(
                    role: "recogniser", file: PinnedDlibModel.resNet.originalFileName,
                    originalSHA256: PinnedDlibModel.resNet.originalSHA256,
                    preparedSHA256: try? FileDigest.sha256(of: preparedFile)),
                EngineModelFile(
                    role: "landmarks", file: PinnedDlibModel.shapePredictor5.originalFileName,
                    originalSHA256: PinnedDlibModel.shapePredictor5.originalSHA256),
            ],
            // Negated distances, measured by `biomatch evaluate --engines sface,dlib,fusion` on ORL.
            impostorSimilarity: ScoreDistribution(
                mean: -0.759_148_7, deviation: 0.079_558_09, source: "ORL, 78,000 impostor pairs"))
    }

    /// dlib descriptors of `faces`: each aligned by dlib's own predictor and chip, all in batches.
    public func templates(for faces: [DetectedFace], in image: RGBImage) async throws(FaceEngineError) -> [FaceTemplate] {
        guard !faces.isEmpty else { return [] }
        let chips = faces.map { alignment.align($0, in: image).chip }
        let descriptors: [[Float]]
        do {
            descriptors = try model.descriptors(of: chips)
        } catch {
            throw .engineFailure(engine: Self.identifier, reason: error.description)
        }
        return try descriptors.map { values throws(FaceEngineError) in
            try FaceTemplate(raw: values, modelIdentifier: PinnedDlibModel.resNet.modelIdentifier)
        }
    }
}
