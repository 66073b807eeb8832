import Synchronization
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

/// One `biomatch serve` process on the pair's store, on a loopback port of its own.
struct ServeNode: Sendable {
    let name: String
    let port: Int
    let process: ChildProcess

    /// The `biomatch` built beside this test binary.
    static var binary: URL {
        URL(filePath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appending(path: "biomatch")
    }

    /// Starts a node and waits until it answers `/health`.
    static func start(name: String, storeURL: String, cropKey: String, folder: URL) async throws -> ServeNode {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw ClusterTestError.missingBinary(binary.path) }
        let snapshots = folder.appending(path: "\(name)-snapshots")
        try FileManager.default.createDirectory(at: snapshots, withIntermediateDirectories: true)
        let port = try freePort()
        let process = try ChildProcess.start(
            [binary.path, "serve", "--store", storeURL, "--host", "127.0.0.1", "--port", "\(port)"],
            environment: [
                "BIOMATCH_SNAPSHOT_DIRECTORY": snapshots.path, "BIOMATCH_CROP_KEY": cropKey,
                "BIOMATCH_RATE_LIMIT": "10000", "BIOMATCH_RATE_BURST": "10000",
            ],
            standardOutput: folder.appending(path: "\(name).out"), standardError: folder.appending(path: "\(name).log"))
        let node = ServeNode(name: name, port: port, process: process)
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            if let reply = try? await node.send(.get, "/health"), reply.status == 200 { return node }
            var status: Int32 = 0
            // Ended (and now reaped): nothing left to stop.
            if waitpid(process.pid, &status, WNOHANG) == process.pid {
                throw ClusterTestError.notReady("serve node \(name) (ended, wait status \(status))", log: process.logTail())
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = process.logTail()
        await process.stop(grace: .seconds(5))
        throw ClusterTestError.notReady("serve node \(name) within 180 s", log: log)
    }

    /// The bootstrap admin key the first node on an empty store printed on standard output.
    var bootstrapKey: String? {
        (try? String(contentsOf: process.standardOutput, encoding: .utf8))?
            .split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// One request on a connection of its own; throws when the connection fails or dies.
    func send(
        _ method: HTTPRequest.Method, _ path: String, key: String? = nil, headers: HTTPFields = [:],
        body: [UInt8]? = nil, contentType: String? = nil
    ) async throws -> NodeReply {
        var fields = headers
        if let key { fields[.authorization] = "Bearer \(key)" }
        if let contentType { fields[.contentType] = contentType }
        let request = TestClient.Request(path, method: method, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        let response = try await Self.execute(request, port: port, timeout: .seconds(30))
        return NodeReply(
            status: Int(response.status.code), headers: response.headers,
            body: response.body.map { Array($0.readableBytesView) } ?? [])
    }

    /// `request` on a connection of its own, bounded for real: TestClient's own timeout throws
    /// only once the response's future completes, which a node that never answers never does, so
    /// here the connection is closed at the deadline, which fails the request.
    static func execute(_ request: TestClient.Request, port: Int, timeout: Duration) async throws -> TestClient.Response {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: timeout + .seconds(60)))
        client.connect()
        let expired = Mutex(false)
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            expired.withLock { $0 = true }
            try? await client.shutdown()
        }
        defer { watchdog.cancel() }
        do {
            let response = try await client.execute(request)
            try? await client.shutdown()
            return response
        } catch {
            try? await client.shutdown()
            if expired.withLock({ $0 }) { throw ClusterTestError.noAnswer("\(request.head.method) \(request.head.path ?? "")", within: timeout) }
            throw error
        }
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick).
    static func freePort() throws(ClusterTestError) -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw .spawnFailed("socket", errno: errno) }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw .spawnFailed("bind", errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A node's answer.
struct NodeReply: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: [UInt8]

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    var retryAfter: String? { headers[HTTPField.Name("Retry-After")!] }
}
