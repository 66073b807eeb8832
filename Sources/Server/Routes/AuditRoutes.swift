import Hummingbird
import Operations

/// `GET /v1/audit`: the audit chain a page at a time (auditors and admins).
struct AuditRoutes {
    let operations: MatcherOperations

    /// Entries per page when the request does not say.
    static let defaultPageSize = 100

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("audit", use: entries)
    }

    @Sendable func entries(_ request: Request, context: APIRequestContext) async throws -> AuditPageBody {
        try request.requireOnlyQuery(["after", "limit"])
        let limit = try request.integerQuery("limit") ?? Self.defaultPageSize
        let entries = try await operations.auditEntries(
            after: try request.integerQuery("after").map(Int64.init), limit: limit, by: try context.caller())
        // A full page may have a successor; a short one is the end of the log for now.
        return AuditPageBody(
            entries: entries.map(AuditEntryBody.init), nextAfter: entries.count == limit ? entries.last?.sequence : nil)
    }
}
