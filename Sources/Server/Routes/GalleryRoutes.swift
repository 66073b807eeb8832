import Gallery
import Hummingbird
import Operations

/// `/v1/galleries`: create, list, read, set the threshold, erase.
struct GalleryRoutes {
    let operations: MatcherOperations

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("galleries", use: list)
        group.post("galleries", use: create)
        group.get("galleries/{gallery}", use: get)
        group.delete("galleries/{gallery}", use: delete)
        group.put("galleries/{gallery}/threshold", use: setThreshold)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> GalleryListBody {
        try request.requireOnlyQuery([])
        let summaries = try await operations.galleries(visibleTo: try context.caller())
        return GalleryListBody(galleries: summaries.map { GalleryBody($0.gallery, counts: $0.counts) })
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller()
        let body = try await request.decodeJSONBody(CreateGalleryBody.self, context: context)
        guard let purpose = GalleryPurpose(rawValue: body.purpose) else {
            throw RequestError.invalidField(
                pointer: "/purpose", reason: "must be one of: \(GalleryPurpose.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let record = try await operations.createGallery(
            GalleryDraft(
                name: body.name, description: body.description ?? "", purpose: purpose, retentionDays: body.retentionDays,
                operatingThreshold: body.operatingThreshold, engines: body.engines, defaultEngine: body.defaultEngine,
                keepsEnrolmentImages: body.keepsEnrolmentImages),
            by: caller)
        return try APIResponse.json(
            GalleryBody(record, counts: GalleryCounts(subjects: 0, templates: 0)), status: .created,
            headers: [.location: ResourcePath.gallery(record.name)])
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let summary = try await operations.gallery(try context.pathParameter("gallery"), by: try context.caller())
        return GalleryBody(summary.gallery, counts: summary.counts)
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> GalleryErasureBody {
        let erasure = try await operations.deleteGallery(try context.pathParameter("gallery"), by: try context.caller())
        return GalleryErasureBody(
            gallery: erasure.gallery.name, subjectsErased: erasure.counts.subjects, templatesErased: erasure.counts.templates)
    }

    @Sendable func setThreshold(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let body = try await request.decodeJSONBody(SetThresholdBody.self, context: context)
        let record = try await operations.setThreshold(body.threshold, gallery: gallery, reason: body.reason, by: caller)
        let summary = try? await operations.gallery(record.name, by: caller)
        return GalleryBody(record, counts: summary?.counts)
    }
}
