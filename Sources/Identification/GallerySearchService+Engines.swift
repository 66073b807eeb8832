import FaceEngine
import Foundation
import Gallery
import Imaging

/// Adding, completing and dropping a gallery's engines, and making a new engine's templates from
/// kept enrolment images (re-templating).
extension GallerySearchService {
    /// Adds an installed engine to a gallery, marked as being templated by `job`: enrolments
    /// make its templates from now on, and the job makes them for subjects enrolled before. The
    /// engine is not searched until ``completeEngine(_:gallery:companion:)``.
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for an engine not installed
    ///   here or already in the gallery.
    @discardableResult
    public func addEngine(
        _ identifier: String, gallery: String, job: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryReconfigurationReceipt {
        guard var entry = catalogue.galleryEngine(named: identifier) else { throw unknownEngine(identifier) }
        entry.operatingThreshold = catalogue.publishedThreshold(of: identifier)
        entry.templatingJob = job
        return try await reconfigure(gallery, .addEngine(entry), companion: companion)
    }

    /// Marks an engine's templating as finished: searches may use it from now on.
    @discardableResult
    public func completeEngine(
        _ identifier: String, gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryReconfigurationReceipt {
        try await reconfigure(gallery, .engineTemplated(identifier), companion: companion)
    }

    /// Drops an engine (never the default) from a gallery, with its templates and its index.
    @discardableResult
    public func dropEngine(
        _ identifier: String, gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryReconfigurationReceipt {
        try await reconfigure(gallery, .dropEngine(identifier), companion: companion)
    }

    /// Commits a change to a gallery's engines or settings, then brings this node's index in
    /// line (rebuilt from the store when the engines changed); other nodes follow the feed.
    @discardableResult
    public func reconfigure(
        _ gallery: String, _ change: GalleryReconfiguration, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> GalleryReconfigurationReceipt {
        let index = try index(of: gallery)
        let receipt: GalleryReconfigurationReceipt
        do { receipt = try await store.reconfigureGallery(index.record.id, change, companion: companion) } catch {
            noteFailure(error, index: index)
            throw .store(error)
        }
        try await adopt(receipt.gallery, into: index)
        return receipt
    }

    /// Gives an index a gallery's newer record; when the gallery's engines changed, the index is
    /// replaced by one rebuilt from the store with the new engines' layouts.
    func adopt(_ record: GalleryRecord, into index: GalleryIndex) async throws(IdentificationError) {
        let before = index.record.engines.map(\.templateModel)
        index.record = record
        if before != record.engines.map(\.templateModel) {
            snapshots?.remove(record.id)
            try await replaceWithRebuild(index)
        }
    }

    /// Adds templates made for subjects already enrolled (a templating job's batch) to the store
    /// and the index, skipping any a subject already holds (see
    /// ``GalleryStore/addMissingTemplates(_:in:companion:)``); returns how many were stored.
    public func addMissingTemplates(
        _ additions: [TemplateAddition], gallery: String, companion: CompanionRecord? = nil
    ) async throws(IdentificationError) -> Int {
        let index = try index(of: gallery)
        return try await tracked { () async throws(IdentificationError) -> Int in
            let added: [SubjectRecord.ID: [TemplateRecord]]
            do throws(GalleryError) {
                added = try await store.addMissingTemplates(additions, in: index.record.id, companion: companion)
            } catch {
                noteFailure(error, index: index)
                throw .store(error)
            }
            try apply(to: index) { () throws(IdentificationError) in
                for (subject, templates) in added { try index.add(templates, to: subject) }
            }
            return added.values.reduce(0) { $0 + $1.count }
        }
    }

    /// The template engine `identifier` of `gallery` makes of a face found earlier in an image
    /// (re-templating: the face enrolment found, so nothing is detected again and the template
    /// equals the one enrolment would have made).
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` when the engine is not
    ///   installed here, ``IdentificationError/refused(_:)`` when the image cannot be decoded.
    public func template(
        of face: DetectedFace, imageBytes: [UInt8], engine identifier: String, gallery: String
    ) async throws(IdentificationError) -> FaceTemplate {
        let record = try index(of: gallery).record
        guard let entry = record.engine(named: identifier) else {
            throw .invalidInput(field: "engine", reason: "gallery '\(gallery)' has no engine '\(identifier)'")
        }
        return try await template(of: face, imageBytes: imageBytes, entry: entry, context: "gallery '\(gallery)'")
    }

    private func template(
        of face: DetectedFace, imageBytes: [UInt8], entry: GalleryEngine, context: String
    ) async throws(IdentificationError) -> FaceTemplate {
        let identifier = entry.identifier
        let image: RGBImage
        do { image = try ImageDecoder(limits: engine.configuration.decodingLimits).decode(imageBytes) } catch {
            throw .refused(.image(index: 0, reason: .unreadable(error.description)))
        }
        let templates: [FaceTemplate]
        if catalogue.isDetectorRecogniser(entry) {
            let crop = FaceAlignment.alignedCrop(of: image, landmarks: face.landmarks)
            do { templates = try await engine.templates(forAlignedCrops: [crop]) } catch { throw .engine(error) }
        } else {
            guard let recogniser = catalogue.engine(for: entry) else {
                throw .invalidInput(field: "engine", reason: "engine '\(identifier)' (\(context)) is not installed on this node")
            }
            do { templates = try await recogniser.templates(for: [face], in: image) } catch { throw .engine(error) }
        }
        guard let template = templates.first else {
            throw .invalidInput(field: "engine", reason: "engine '\(identifier)' made no template")
        }
        return template
    }

    /// How an installed engine's templates compare (SFace: cosine).
    /// - Throws: ``IdentificationError/invalidInput(field:reason:)`` for an engine not installed
    ///   here, or for ``fusion`` (a fused score needs a gallery's calibration).
    public func comparison(ofEngine identifier: String) throws(IdentificationError) -> TemplateComparison {
        guard identifier != Self.fusion else {
            throw .invalidInput(field: "engine", reason: "two images are compared by one engine; fusion needs a gallery")
        }
        guard let entry = catalogue.galleryEngine(named: identifier), let comparison = catalogue.comparison(of: entry) else {
            throw unknownEngine(identifier)
        }
        return comparison
    }

    /// The same-subject threshold an installed engine publishes, in its native unit.
    public func publishedThreshold(ofEngine identifier: String) -> Float {
        catalogue.publishedThreshold(of: identifier)
    }

    /// An installed engine's template of a face found in an image (not bound to a gallery).
    public func template(
        of face: DetectedFace, imageBytes: [UInt8], engine identifier: String
    ) async throws(IdentificationError) -> FaceTemplate {
        guard let entry = catalogue.galleryEngine(named: identifier) else { throw unknownEngine(identifier) }
        return try await template(of: face, imageBytes: imageBytes, entry: entry, context: "this node")
    }
}
