import Gallery
import Hummingbird
import Operations

/// `/v1/galleries`: create, list, read, set the thresholds and the fusion calibration, erase.
struct GalleryRoutes {
    let operations: MatcherOperations

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("galleries", use: list)
        group.post("galleries", use: create)
        group.get("galleries/{gallery}", use: get)
        group.delete("galleries/{gallery}", use: delete)
        group.put("galleries/{gallery}/threshold", use: setThreshold)
        group.put("galleries/{gallery}/engines/{engine}/threshold", use: setEngineThreshold)
        group.put("galleries/{gallery}/fusion", use: recordFusionCalibration)
    }

    /// The resource of a gallery, with each engine's threshold in effect.
    private func resource(_ record: GalleryRecord, counts: GalleryCounts?) -> GalleryBody {
        GalleryBody(record, counts: counts) { record, engine in
            operations.identification.operatingPoint(gallery: record, engine: engine).threshold
        }
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> GalleryListBody {
        try request.requireOnlyQuery([])
        let summaries = try await operations.galleries(visibleTo: try context.caller())
        return GalleryListBody(galleries: summaries.map { resource($0.gallery, counts: $0.counts) })
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
            resource(record, counts: GalleryCounts(subjects: 0, templates: 0)), status: .created,
            headers: [.location: ResourcePath.gallery(record.name)])
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let summary = try await operations.gallery(try context.pathParameter("gallery"), by: try context.caller())
        return resource(summary.gallery, counts: summary.counts)
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> GalleryErasureBody {
        let erasure = try await operations.deleteGallery(try context.pathParameter("gallery"), by: try context.caller())
        return GalleryErasureBody(
            gallery: erasure.gallery.name, subjectsErased: erasure.counts.subjects, templatesErased: erasure.counts.templates)
    }

    @Sendable func setThreshold(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let input = try await request.decodeJSONBody(SetThresholdBody.self, context: context)
        let record = try await operations.setThreshold(input.threshold, gallery: gallery, reason: input.reason, by: caller)
        let summary = try? await operations.gallery(record.name, by: caller)
        return resource(record, counts: summary?.counts)
    }

    @Sendable func setEngineThreshold(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let engine = try context.pathParameter("engine")
        let input = try await request.decodeJSONBody(SetEngineThresholdBody.self, context: context)
        let record = try await operations.setThreshold(
            input.threshold, engine: engine, gallery: gallery, reason: input.reason, by: caller)
        let summary = try? await operations.gallery(record.name, by: caller)
        return resource(record, counts: summary?.counts)
    }

    @Sendable func recordFusionCalibration(_ request: Request, context: APIRequestContext) async throws -> GalleryBody {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let input = try await request.decodeJSONBody(RecordFusionCalibrationBody.self, context: context)
        let record = try await operations.recordFusionCalibration(
            input.calibration, gallery: gallery, reason: input.reason, by: caller)
        let summary = try? await operations.gallery(record.name, by: caller)
        return resource(record, counts: summary?.counts)
    }
}
