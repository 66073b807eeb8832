import FaceEngine
import Gallery
import Matching

/// Why one image cannot be enrolled. The image changed nothing.
public enum ImageRefusalReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// The detector found no face.
    case noFace
    /// The detector found more than one face, so the subject is ambiguous.
    case severalFaces(count: Int)
    /// The face fails the engine's quality thresholds.
    case poorQuality([QualityFailure])
    /// The bytes are not an image the decoder accepts.
    case unreadable(String)

    /// A short category name for summaries: `no face`, `several faces`, `poor quality`, `unreadable`.
    public var category: String {
        switch self {
        case .noFace: "no face"
        case .severalFaces: "several faces"
        case .poorQuality: "poor quality"
        case .unreadable: "unreadable"
        }
    }

    public var description: String {
        switch self {
        case .noFace: "no face found"
        case let .severalFaces(count): "\(count) faces found; exactly one is required"
        case let .poorQuality(failures): "poor quality: " + failures.map(\.description).joined(separator: "; ")
        case let .unreadable(reason): "unreadable: \(reason)"
        }
    }
}

/// Why an enrolment was refused. A refused enrolment stored nothing and left the index unchanged.
public enum EnrolmentRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// No images were given.
    case noImages
    /// The image at `index` (0-based, in the order given) cannot be enrolled.
    case image(index: Int, reason: ImageRefusalReason)
    /// The gallery already has a subject with this reference.
    case duplicateReference(String)

    public var description: String {
        switch self {
        case .noImages: "no images were given"
        case let .image(index, reason): "image \(index + 1): \(reason)"
        case let .duplicateReference(reference): "a subject with reference '\(reference)' is already enrolled"
        }
    }
}

/// Why the identification service refused or failed an operation. Refusals change nothing.
public enum IdentificationError: Error, CustomStringConvertible {
    /// An enrolment was refused; see the reason.
    case refused(EnrolmentRefusal)
    /// No gallery of the service has this name.
    case unknownGallery(String)
    /// The engine was added to the gallery and its templating job has not finished: its index
    /// lacks subjects enrolled before it, so it is not searched yet (409).
    case engineNotReady(engine: String, gallery: String, job: String)
    /// The probe image holds no face to search with.
    case noFaceInProbe
    /// An argument is out of range or malformed.
    case invalidInput(field: String, reason: String)
    /// The face engine failed for a reason other than the image itself.
    case engine(FaceEngineError)
    /// The gallery store refused or failed.
    case store(GalleryError)
    /// The in-memory index refused a template or query.
    case index(MatchingError)

    public var description: String {
        switch self {
        case let .refused(refusal): "enrolment refused: \(refusal)"
        case let .unknownGallery(name): "no gallery is named '\(name)'"
        case let .engineNotReady(engine, gallery, job):
            "engine '\(engine)' of gallery '\(gallery)' is still being added (templating job \(job)); it is searched once the job ends"
        case .noFaceInProbe: "the probe image holds no face"
        case let .invalidInput(field, reason): "invalid \(field): \(reason)"
        case let .engine(error): error.description
        case let .store(error): error.description
        case let .index(error): "index: \(error.description)"
        }
    }
}
