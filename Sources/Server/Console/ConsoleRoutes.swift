import Foundation
import Gallery
import Governance
import Hummingbird
import Operations
import Review

/// The review console: server-rendered pages under `/console` for people reviewing search
/// results. Sign in with an API key (kept in a cookie, see ``ConsoleSession``), the queue of
/// cases awaiting review, and a case page with the probe beside each candidate, the decision
/// forms and the search's audit trail. No script: every action is a form POST answered with a
/// redirect (post/redirect/get), so reloading a page never repeats a decision.
///
/// The console is HTML for people, not part of the JSON API the OpenAPI document describes, so
/// ``buildApplication(configuration:dependencies:logger:onServerRunning:)`` adds it beside the
/// API router's routes rather than inside ``buildRouter(configuration:dependencies:)``.
struct ConsoleRoutes {
    let operations: MatcherOperations

    func addRoutes(to router: Router<APIRequestContext>) {
        let console = router.group(RouterPath(ConsoleSession.basePath))
        console.get(use: queue)
        console.get("sign-in", use: signInForm)
        console.post("sign-in", use: signIn)
        console.post("sign-out", use: signOut)
        console.get("reviews/{case}", use: reviewCase)
        console.post("reviews/{case}/decisions", use: decide)
        console.get("reviews/{case}/probe/{face}.png", use: probeCrop)
        console.get("reviews/{case}/candidates/{subject}.png", use: candidateCrop)
    }

    // MARK: - Signing in and out

    @Sendable func signInForm(_ request: Request, context: APIRequestContext) async throws -> Response {
        Self.html(ConsolePages.signIn(message: nil), status: .ok)
    }

    @Sendable func signIn(_ request: Request, context: APIRequestContext) async throws -> Response {
        let form = URLEncodedForm(try await IncomingBody.bytes(of: request, limit: context.maximumBodyBytes))
        let key = (form["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard (try? await operations.keys.authenticate(key)) != nil else {
            // The same words whatever was wrong with the key, as the API's 401 says.
            return Self.html(ConsolePages.signIn(message: "That API key was not accepted."), status: .unauthorized)
        }
        return Self.redirect(to: ConsoleSession.basePath, setCookie: ConsoleSession.signInCookie(key: key))
    }

    @Sendable func signOut(_ request: Request, context: APIRequestContext) async throws -> Response {
        Self.redirect(to: "\(ConsoleSession.basePath)/sign-in", setCookie: ConsoleSession.signOutCookie)
    }

    // MARK: - Pages

    @Sendable func queue(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let principal = await ConsoleSession.principal(for: request, keys: operations.keys) else { return Self.toSignIn }
        do {
            let entries = try await operations.review.queue(for: .key(principal), limit: ReviewLedger.maximumQueuePage)
            return Self.html(ConsolePages.queue(entries, principal: principal), status: .ok)
        } catch {
            return errorPage(error, principal: principal, context: context)
        }
    }

    @Sendable func reviewCase(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let principal = await ConsoleSession.principal(for: request, keys: operations.keys) else { return Self.toSignIn }
        do {
            return Self.html(try await casePage(try context.caseID(), principal: principal, message: nil), status: .ok)
        } catch {
            return errorPage(error, principal: principal, context: context)
        }
    }

    @Sendable func decide(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let principal = await ConsoleSession.principal(for: request, keys: operations.keys) else { return Self.toSignIn }
        let caseID: ReviewCase.ID
        do { caseID = try context.caseID() } catch { return errorPage(error, principal: principal, context: context) }
        do {
            let form = URLEncodedForm(try await IncomingBody.bytes(of: request, limit: context.maximumBodyBytes))
            guard let subject = form["subjectID"].flatMap({ Int64($0) }) else {
                throw ReviewError.invalidDecision(reason: "the form names no candidate")
            }
            let verdict = try ReviewVerdict.parse(form["decision"] ?? "")
            try await operations.review.decide(
                verdict, on: SubjectRecord.ID(subject), in: caseID, note: form["note"] ?? "", by: .key(principal))
            return Self.redirect(to: "\(ConsoleSession.basePath)/reviews/\(caseID.rawValue)#subject-\(subject)")
        } catch {
            // A refused decision shows the case again with the reason, and changes nothing.
            let problem = ProblemMapping.problem(for: error)
            guard problem.status < 500, problem.status != 404, problem.status != 403 else {
                return errorPage(error, principal: principal, context: context)
            }
            do {
                let page = try await casePage(caseID, principal: principal, message: problem.detail ?? problem.title)
                return Self.html(page, status: HTTPResponse.Status(code: problem.status))
            } catch {
                return errorPage(error, principal: principal, context: context)
            }
        }
    }

    @Sendable func probeCrop(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let principal = await ConsoleSession.principal(for: request, keys: operations.keys) else {
            return Response(status: .unauthorized)
        }
        let face = Int(try context.integerParameter("face"))
        return try ReviewRoutes.png(try await operations.review.probeCrop(of: try context.caseID(), face: face, for: .key(principal)))
    }

    @Sendable func candidateCrop(_ request: Request, context: APIRequestContext) async throws -> Response {
        guard let principal = await ConsoleSession.principal(for: request, keys: operations.keys) else {
            return Response(status: .unauthorized)
        }
        let subject = SubjectRecord.ID(try context.integerParameter("subject"))
        return try ReviewRoutes.png(
            try await operations.review.candidateCrop(of: try context.caseID(), subject: subject, for: .key(principal)))
    }

    // MARK: - Building pages

    /// The case page: reading the case checks the caller may read it, and only then are the
    /// candidates' template quality and the search's audit trail read.
    func casePage(_ id: ReviewCase.ID, principal: Principal, message: String?) async throws -> String {
        let caller = Caller.key(principal)
        let reviewCase = try await operations.review.reviewCase(id, for: caller)
        var quality: [SubjectRecord.ID: TemplateQuality] = [:]
        for candidate in reviewCase.candidates {
            let enrolled = try? await operations.store.subject(candidate.subjectID)
            quality[candidate.subjectID] = enrolled?.templates.first { $0.id == candidate.templateID }?.quality
        }
        return ConsolePages.reviewCase(
            reviewCase, candidateQuality: quality, auditTrail: try await auditTrail(of: reviewCase),
            mayReview: caller.may(.review(reviewCase.galleryName)), principal: principal, message: message)
    }

    /// The search's audit entry and its decisions' entries, in chain order.
    func auditTrail(of reviewCase: ReviewCase) async throws -> [AuditEntry] {
        var entries: [AuditEntry] = []
        for sequence in [reviewCase.searchSequence] + reviewCase.decisions.map(\.auditSequence) {
            let page = try await operations.auditLog.entries(after: sequence - 1, limit: 1)
            if let entry = page.first, entry.sequence == sequence { entries.append(entry) }
        }
        return entries.filter { $0.action == .search || ($0.action == .reviewDecision && Self.names(reviewCase, $0)) }
    }

    /// Whether a decision entry's parameters name this case.
    static func names(_ reviewCase: ReviewCase, _ entry: AuditEntry) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(entry.parameters.utf8)) as? [String: Any],
            let caseID = object["caseID"] as? NSNumber
        else { return false }
        return caseID.int64Value == reviewCase.id.rawValue
    }

    func errorPage(_ error: any Error, principal: Principal, context: APIRequestContext) -> Response {
        let problem = ProblemMapping.problem(for: error)
        if ProblemMapping.isServerFault(problem) {
            context.logger.error("console request failed", metadata: ["error": "\(error)"])
        }
        let page = ConsolePages.error(
            status: problem.status, detail: problem.detail ?? problem.title, principal: principal)
        return Self.html(page, status: HTTPResponse.Status(code: problem.status))
    }

    // MARK: - Responses

    static var toSignIn: Response { redirect(to: "\(ConsoleSession.basePath)/sign-in") }

    static func redirect(to location: String, setCookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(status: .seeOther, headers: headers)
    }

    /// A page, never cached (it shows biometric leads), never framed by another site.
    static func html(_ page: String, status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            .contentSecurityPolicy: "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ]
        if let noSniff = HTTPFields.Element.Name("X-Content-Type-Options") { headers[noSniff] = "nosniff" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }
}
