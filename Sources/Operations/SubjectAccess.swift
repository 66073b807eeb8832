import Foundation
import Gallery
import Governance
import Imaging
import Review

/// Which subject a subject access concerns.
public enum SubjectSelector: Sendable, Hashable, CustomStringConvertible {
    /// The subject's external reference (only while it is enrolled: erasure removes it).
    case reference(String)
    /// The store's identifier, which the audit log keeps after erasure.
    case id(SubjectRecord.ID)

    public var description: String {
        switch self {
        case .reference(let reference): "reference '\(reference)'"
        case .id(let id): "\(id)"
        }
    }

    /// How the audit entry of the access records the selector (never the reference itself).
    var auditName: String {
        switch self {
        case .reference: "reference"
        case .id: "id"
        }
    }
}

/// A request to disclose everything held about one subject of a gallery.
public struct SubjectAccessRequest: Sendable, Hashable {
    /// The gallery's name.
    public var gallery: String
    /// The subject.
    public var subject: SubjectSelector
    /// Why: one of the access purposes (``PurposePolicy/subjectAccess(_:)``) and the request's
    /// case reference.
    public var justification: StatedJustification

    /// Describes a request.
    public init(gallery: String, subject: SubjectSelector, justification: StatedJustification) {
        self.gallery = gallery
        self.subject = subject
        self.justification = justification
    }
}

/// One template held about a subject, with the face crop it was made from.
public struct HeldTemplate: Sendable {
    /// The stored template, vector included.
    public var template: TemplateRecord
    /// The gallery's engine whose templates carry the template's tag (nil when the gallery no
    /// longer lists it).
    public var engine: String?
    /// The aligned face crop sealed with the template, opened (nil when none is stored).
    public var crop: RGBImage?
    /// Why a stored crop could not be opened (another key sealed it, or it was altered).
    public var cropProblem: String?
}

/// Everything held about one subject, and every audit entry that names them.
public struct SubjectDisclosure: Sendable {
    /// The gallery's name as requested.
    public var galleryName: String
    /// The gallery, while it exists.
    public var gallery: GalleryRecord?
    /// The subject's identifier.
    public var subjectID: SubjectRecord.ID
    /// The subject's record (reference, attributes, dates), nil once erased.
    public var subject: SubjectRecord?
    /// The templates held, each with its crop.
    public var templates: [HeldTemplate]
    /// The enrolment images kept, opened: the bytes exactly as supplied.
    public var images: [EnrolmentImage]
    /// Why the kept images could not be opened (another key sealed them, or they were altered):
    /// the rest is disclosed all the same.
    public var imagesProblem: String?
    /// Every audit entry that names the subject, in log order, this access's own entry last.
    public var auditEntries: [SubjectAuditEntry]
    /// The newest signed checkpoint, which the entries' inclusion proofs lead to (nil until the
    /// log has one).
    public var checkpoint: StoredCheckpoint?
    /// Why the data was disclosed, as checked and recorded.
    public var justification: SearchJustification
    /// The sequence number of the entry that records this access.
    public var accessSequence: Int64

    /// The entry that erased the subject, if they were erased.
    public var erasure: SubjectAuditEntry? { auditEntries.first { $0.relation.isErasure } }
}

extension MatcherOperations {
    /// Discloses everything held about one subject to a caller with
    /// ``Permission/accessSubject(_:)`` for the gallery: the record, every template (vector
    /// included) with its sealed face crop opened, the kept enrolment images opened, and every
    /// audit entry naming the subject. An erased subject, asked for by identifier, has only
    /// audit entries left, the erasure among them.
    ///
    /// The request states a purpose (one of ``accessPurposes``) and case reference; the
    /// disclosure is recorded as a `subjectAccessed` entry before anything is returned, with
    /// what was disclosed (counts, never the data).
    public func accessSubject(_ request: SubjectAccessRequest, by caller: Caller) async throws(OperationError) -> SubjectDisclosure {
        try authorize(caller, .accessSubject(request.gallery))
        let justification: SearchJustification
        do {
            justification = try accessPurposes.justify(
                purpose: request.justification.purpose, caseReference: request.justification.caseReference)
        } catch {
            throw .governance(error)
        }
        // The gallery may be gone (erased with its subjects) while its entries remain.
        let gallery: GalleryRecord?
        do {
            gallery = try identification.gallery(named: request.gallery)
        } catch {
            guard case .unknownGallery = error, case .id = request.subject else { throw .identification(error) }
            gallery = nil
        }
        var enrolled: EnrolledSubject?
        let subjectID: SubjectRecord.ID
        switch request.subject {
        case .reference(let reference):
            // `gallery` is set: only an identifier may name a subject of an erased gallery.
            guard let gallery else { throw .identification(.unknownGallery(request.gallery)) }
            let found: EnrolledSubject
            do { found = try await store.subject(reference: reference, in: gallery.id) } catch {
                throw .identification(.store(error))
            }
            enrolled = found
            subjectID = found.subject.id
        case .id(let id):
            subjectID = id
            do {
                let found = try await store.subject(id)
                // A subject of another gallery is not this gallery's to disclose.
                if found.subject.galleryID == gallery?.id { enrolled = found }
            } catch {
                guard case .unknownSubject = error else { throw .identification(.store(error)) }
            }
        }
        let trail: SubjectAuditTrail
        do { trail = try await auditLog.trail(of: subjectID, galleryName: request.gallery) } catch { throw .governance(error) }
        guard enrolled != nil || trail.enrolmentGalleryID != nil else {
            throw .identification(.store(.unknownSubject(subjectID)))
        }
        let templates = try await heldTemplates(enrolled?.templates ?? [], gallery: gallery)
        var images: [EnrolmentImage] = []
        var imagesProblem: String?
        if enrolled != nil {
            do {
                images = try await review.images.images(of: subjectID)
            } catch {
                guard case .crop(let problem) = error else { throw .review(error) }
                imagesProblem = problem.description
            }
        }
        let event = AuditEvent.subjectAccessed(
            by: caller, galleryName: request.gallery, galleryID: gallery?.id ?? trail.enrolmentGalleryID,
            subjectID: subjectID.rawValue, justification: justification, selector: request.subject.auditName,
            disclosed: [
                "subjectErased": .bool(enrolled == nil), "templates": .integer(Int64(templates.count)),
                "crops": .integer(Int64(templates.filter { $0.crop != nil }.count)),
                "images": .integer(Int64(images.count)), "auditEntries": .integer(Int64(trail.entries.count)),
            ])
        let accessEntry: AuditEntry
        do { accessEntry = try await auditLog.record(event) } catch { throw .governance(error) }
        // An entry appended on its own takes the next position, which equals its sequence.
        var entries = trail.entries + [SubjectAuditEntry(position: accessEntry.sequence, entry: accessEntry, relation: .accessed)]
        let checkpoint = try await attachInclusionProofs(to: &entries)
        return SubjectDisclosure(
            galleryName: request.gallery, gallery: gallery, subjectID: subjectID, subject: enrolled?.subject,
            templates: templates, images: images, imagesProblem: imagesProblem, auditEntries: entries, checkpoint: checkpoint,
            justification: justification, accessSequence: accessEntry.sequence)
    }

    /// Each template with its engine and its crop opened.
    private func heldTemplates(_ templates: [TemplateRecord], gallery: GalleryRecord?) async throws(OperationError) -> [HeldTemplate] {
        var held: [HeldTemplate] = []
        for template in templates {
            var entry = HeldTemplate(
                template: template, engine: gallery?.engine(templateModel: template.modelIdentifier)?.identifier)
            do {
                entry.crop = try await review.crops.enrolmentCrop(of: template.id)
            } catch {
                switch error {
                case .cropMissing: break
                case .crop(let problem): entry.cropProblem = problem.description
                default: throw .review(error)
                }
            }
            held.append(entry)
        }
        return held
    }

    /// Attaches to each entry its inclusion proof to the latest checkpoint that covers it, and
    /// returns that checkpoint.
    /// Entries newer than the checkpoint (this access's own among them) keep none.
    private func attachInclusionProofs(to entries: inout [SubjectAuditEntry]) async throws(OperationError) -> StoredCheckpoint? {
        do {
            guard let latest = try await auditLog.latestCheckpoint() else { return nil }
            let size = latest.checkpoint.size
            for index in entries.indices where entries[index].position <= size {
                entries[index].inclusionProof = try await auditLog.inclusionProof(
                    leafIndex: entries[index].leafIndex, treeSize: size)
            }
            return latest
        } catch {
            throw .governance(error)
        }
    }
}
