import FaceEngine
import Foundation
import Imaging
import Installation

/// SFace (OpenCV Zoo, 2021dec) behind the recognition-engine seam: faces aligned on YuNet's five
/// landmarks to the 112x112 ArcFace template, 128 values scaled to unit length, compared by
/// cosine (same person at 0.363, OpenCV's operating point).
///
/// It runs on the ``FaceEngine``'s own SFace session, so enrolling through the engine seam and
/// through ``FaceEngine/analyze(image:)`` gives identical templates.
public final class SFaceRecognitionEngine: RecognitionEngine {
    /// The engine's identifier in requests, galleries and reports.
    public static let identifier = "sface"

    /// What the engine is and how its templates compare.
    public let profile: RecognitionEngineProfile
    private let faceEngine: FaceEngine

    /// SFace as loaded by `faceEngine`; `installation` names the files whose digests the profile
    /// reports.
    public init(faceEngine: FaceEngine, installation: Installation = .fromEnvironment()) {
        self.faceEngine = faceEngine
        profile = RecognitionEngineProfile(
            identifier: Self.identifier,
            version: "2021dec",
            templateModel: faceEngine.templateModelIdentifier,
            chip: ChipSpecification(
                side: FaceAlignment.cropSide,
                alignment: "similarity transform of YuNet's five landmarks (eye centres, nose tip, mouth corners) "
                    + "to the ArcFace 112x112 template, bilinear",
                colourOrder: "RGB", normalisation: "raw 0-255"),
            templateLength: FaceTemplate.dimension,
            comparison: .cosineSimilarity,
            sameSubjectThreshold: 0.363,
            models: [
                EngineModelFile(
                    role: "recogniser", file: PinnedModel.sface.originalFileName,
                    originalSHA256: PinnedModel.sface.originalSHA256,
                    preparedSHA256: try? FileDigest.sha256(of: installation.preparedFile(of: .sface)))
            ],
            // Measured by `biomatch evaluate --engines sface,dlib,fusion` on ORL.
            impostorSimilarity: ScoreDistribution(
                mean: 0.075_608_76, deviation: 0.098_019_85, source: "ORL, 78,000 impostor pairs"))
    }

    /// SFace templates of `faces`, aligned as OpenCV's `alignCrop` does, in one batch.
    public func templates(for faces: [DetectedFace], in image: RGBImage) async throws(FaceEngineError) -> [FaceTemplate] {
        let crops = faces.map { FaceAlignment.alignedCrop(of: image, landmarks: $0.landmarks) }
        return try await faceEngine.templates(forAlignedCrops: crops)
    }
}
