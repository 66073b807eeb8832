import Foundation
import Hummingbird
import Testing
@testable import Server

@Suite struct OpenAPITests {
    let document = OpenAPIDocument.document(version: "1.0.0", purposes: ["criminal-investigation"])

    /// Every route the router serves is documented and every documented route is served (the
    /// 405 answers the router adds for other methods aside).
    @Test func theDocumentListsExactlyTheRoutesTheRouterServes() async throws {
        let server = try await TestServer.get()
        let router = buildRouter(
            configuration: ServerConfiguration(),
            dependencies: ServerDependencies(
                operations: server.operations, health: TestServer.health(for: server.operations), metrics: ServerMetrics()))
        let documented = Set(OpenAPIDocument.operations().map { "\($0.method) \($0.path)" })
        let paths = Set(OpenAPIDocument.operations().map(\.path))
        // Routes that only answer 405 are the documented paths' other methods.
        var served = Set<String>()
        for route in router.routes {
            let entry = "\(route.method.rawValue) \(route.path.description)"
            if documented.contains(entry) { served.insert(entry) } else {
                #expect(paths.contains(route.path.description), "undocumented route \(entry)")
            }
        }
        #expect(served == documented)
    }

    /// Every `$ref` resolves, every operation documents a 2xx and 500, and every authenticated
    /// operation documents 401, 403 and 429.
    @Test func theDocumentIsComplete() throws {
        let validator = SchemaValidator(document: document)
        var references: [String] = []
        func collect(_ value: JSON) {
            switch value {
            case .object(let members):
                if let reference = members["$ref"]?.stringValue { references.append(reference) }
                members.values.forEach(collect)
            case .array(let elements): elements.forEach(collect)
            default: break
            }
        }
        collect(document)
        #expect(!references.isEmpty)
        for reference in references { #expect(validator.resolve(reference) != nil, "\(reference)") }
        let paths = try #require(document["paths"]?.objectValue)
        for (path, item) in paths {
            for (method, operation) in item.objectValue ?? [:] {
                let statuses = Set((operation["responses"]?.objectValue ?? [:]).keys)
                #expect(statuses.contains { $0.hasPrefix("2") }, "\(method) \(path)")
                if operation["security"] == nil {
                    #expect(statuses.isSuperset(of: ["401", "403", "429", "500", "413"]), "\(method) \(path)")
                }
            }
        }
        #expect(document["openapi"] == "3.1.0")
    }

    @Test func theValidatorCatchesViolations() {
        let validator = SchemaValidator(document: document)
        let problem = SchemaValidator.ref("Problem")
        #expect(validator.violations(of: ["type": "urn:x", "title": "t", "status": 400], against: problem).isEmpty)
        #expect(!validator.violations(of: ["type": "urn:x", "title": "t"], against: problem).isEmpty)
        #expect(!validator.violations(of: ["type": "urn:x", "title": "t", "status": 400.5], against: problem).isEmpty)
        #expect(!validator.violations(of: ["type": "urn:x", "title": "t", "status": 400, "extra": 1], against: problem).isEmpty)
        #expect(!validator.violations(of: ["type": "urn:x", "title": "t", "status": 400, "errors": [["pointer": "/a"]]], against: problem).isEmpty)
        let actor = SchemaValidator.ref("AuditActor")
        #expect(validator.violations(of: ["kind": "system", "keyID": nil, "role": nil, "component": "cli"], against: actor).isEmpty)
        #expect(!validator.violations(of: ["kind": "robot", "keyID": nil, "role": nil, "component": "cli"], against: actor).isEmpty)
        #expect(!validator.violations(of: ["kind": "key", "keyID": "1", "role": nil, "component": nil], against: actor).isEmpty)
    }

    /// A body longer than the limit sent without a Content-Length is refused while it streams.
    @Test func aStreamedBodyOverTheLimitIs413() async throws {
        let server = try await TestServer.get()
        let app = Application(
            router: buildRouter(
                configuration: ServerConfiguration(maximumBodyBytes: 1_000),
                dependencies: ServerDependencies(
                    operations: server.operations, health: TestServer.health(for: server.operations), metrics: ServerMetrics())))
        try await app.test(.router) { client in
            let body = ByteBuffer(bytes: [UInt8](repeating: 0x7B, count: 5_000))
            try await client.execute(
                uri: "/v1/detect", method: .post,
                headers: [.authorization: "Bearer \(server.keys.searcher.secret)", .contentType: "application/json"], body: body
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }
}
