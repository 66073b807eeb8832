import Foundation
import Gallery
import Hummingbird
import Operations

/// `/v1/galleries/{gallery}/engines` and `/v1/engine-jobs`: add an engine to a gallery (its
/// templating job runs in the background), follow the job, drop an engine.
struct EngineRoutes {
    let operations: MatcherOperations
    let runner: EngineJobRunner

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("galleries/{gallery}/engines", use: add)
        group.delete("galleries/{gallery}/engines/{engine}", use: drop)
        group.get("engine-jobs/{job}", use: job)
    }

    @Sendable func add(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller()
        let gallery = try context.pathParameter("gallery")
        let body = try await request.decodeJSONBody(AddEngineBody.self, context: context)
        let job = try await operations.addEngine(body.engine, to: gallery, by: caller)
        runner.start(job.id)
        return try APIResponse.json(
            EngineJobBody(job), status: .accepted, headers: [.location: ResourcePath.engineJob(job.id)])
    }

    @Sendable func drop(_ request: Request, context: APIRequestContext) async throws -> EngineDropBody {
        let engine = try context.pathParameter("engine")
        let receipt = try await operations.dropEngine(engine, from: try context.pathParameter("gallery"), by: try context.caller())
        return EngineDropBody(
            gallery: receipt.gallery.name, engine: engine, templatesErased: receipt.removedTemplates,
            engines: receipt.gallery.engines.map(\.identifier))
    }

    @Sendable func job(_ request: Request, context: APIRequestContext) async throws -> EngineJobBody {
        try request.requireOnlyQuery([])
        return EngineJobBody(try await operations.engineJob(try context.pathParameter("job"), by: try context.caller()))
    }
}

/// `AddEngineRequest`.
struct AddEngineBody: Decodable {
    var engine: String
}

/// `EngineJob`.
struct EngineJobBody: APIResponseBody {
    var id: String
    var gallery: String
    var engine: String
    var state: String
    var subjectsTotal: Int
    var subjectsDone: Int
    var fractionDone: Double
    var templatesMade: Int
    var subjectsWithoutImages: Int
    var startedAt: Date
    var updatedAt: Date
    var message: String?

    init(_ job: EngineJob) {
        id = job.id
        gallery = job.gallery
        engine = job.engine
        state = job.state.rawValue
        subjectsTotal = job.subjectsTotal
        subjectsDone = job.subjectsDone
        fractionDone = job.fractionDone
        templatesMade = job.templatesMade
        subjectsWithoutImages = job.subjectsWithoutImages
        startedAt = job.startedAt
        updatedAt = job.updatedAt
        message = job.message
    }

    // The message is written as null rather than left out, as the schema says.
    private enum CodingKeys: String, CodingKey {
        case id, gallery, engine, state, subjectsTotal, subjectsDone, fractionDone, templatesMade, subjectsWithoutImages
        case startedAt, updatedAt, message
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(gallery, forKey: .gallery)
        try container.encode(engine, forKey: .engine)
        try container.encode(state, forKey: .state)
        try container.encode(subjectsTotal, forKey: .subjectsTotal)
        try container.encode(subjectsDone, forKey: .subjectsDone)
        try container.encode(fractionDone, forKey: .fractionDone)
        try container.encode(templatesMade, forKey: .templatesMade)
        try container.encode(subjectsWithoutImages, forKey: .subjectsWithoutImages)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(message, forKey: .message)
    }
}

/// `EngineDrop`.
struct EngineDropBody: APIResponseBody {
    var gallery: String
    var engine: String
    var templatesErased: Int
    var engines: [String]
}
