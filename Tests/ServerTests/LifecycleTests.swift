import FaceEngine
import Dispatch
import Foundation
import Gallery
import Governance
import HummingbirdTesting
import Operations
import Review
import ServiceLifecycle
import Synchronization
import Testing
@testable import Server

@Suite struct LifecycleTests {
    /// Events in the order they happened.
    final class Timeline: Sendable {
        private let events = Mutex<[String]>([])
        func record(_ event: String) { events.withLock { $0.append(event) } }
        var all: [String] { events.withLock { $0 } }
    }

    /// Graceful shutdown lets the in-flight request finish (its audit entry written) and closes
    /// the store only after the HTTP server has stopped.
    @Test func gracefulShutdownFinishesInFlightRequestsThenClosesTheStore() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "biomatch-lifecycle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let location = folder.appending(path: "gallery.sqlite")
        let timeline = Timeline()
        let groupBox = Mutex<ServiceGroup?>(nil)
        let auditLength: Int
        do {
            let store = try SQLiteGalleryStore(location: location, additionalMigrations: MatcherOperations.migrations(for: .sqlite))
            let engine = try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
            // The engine reports each analysed image while the request is still being handled:
            // that is the moment to ask the server to stop.
            let operations = try await MatcherOperations.open(
                store: store, engine: engine, purposes: PurposePolicy(),
                cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: CropVault.generateKeyText()]),
                analysisObserver: { _ in
                    timeline.record("analysed")
                    guard let group = groupBox.withLock({ $0 }) else { return }
                    // Hold the request here until the shutdown has been requested, so it is
                    // certainly in flight when it is.
                    let requested = DispatchSemaphore(value: 0)
                    Task {
                        await group.triggerGracefulShutdown()
                        timeline.record("shutdown requested")
                        requested.signal()
                    }
                    // Bounded: under a loaded test run the task may start late, and a blocked
                    // cooperative thread must never wait for it forever.
                    _ = requested.wait(timeout: .now() + 10)
                })
            let admin = try #require(try await operations.keys.bootstrapAdminKey())
            let (group, port) = try await TestServer.startGroup(
                configuration: ServerConfiguration(host: "127.0.0.1", port: 0), operations: operations,
                metrics: ServerMetrics(),
                closeStore: {
                    // By now the in-flight detection must have written its audit entry.
                    let entries = (try? await operations.auditLog.entries(after: nil, limit: 10).count) ?? -1
                    timeline.record("store closed after \(entries) entries")
                })
            groupBox.withLock { $0 = group }
            let running = Task { try await group.run() }
            let client = APIClient(port: try await port.value, document: OpenAPIDocument.document(version: "test", purposes: []))
            let reply = try await client.send(
                .post, "/v1/detect", template: "/v1/detect", key: admin.secret,
                body: .multipart([.file("image", try Photos.bytes("obama.jpg"))]))
            timeline.record("response \(reply.status)")
            try await running.value
            timeline.record("group finished")
            auditLength = try await operations.auditLog.entries(after: nil, limit: 1_000).count
        }
        // The client may read the response before or after the server closes the store; the server
        // finished the request first either way (the entry count at closing shows it).
        let events = timeline.all
        #expect(Array(events.prefix(2)) == ["analysed", "shutdown requested"])
        #expect(Set(events.dropFirst(2).dropLast()) == ["response 200", "store closed after 2 entries"])
        #expect(events.last == "group finished")
        // Bootstrap key and the detection, both committed to the file.
        #expect(auditLength == 2)
        let reopened = try SQLiteGalleryStore(location: location, additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let entries = try await AuditLog(store: reopened).entries(after: nil, limit: 10)
        #expect(entries.map(\.action) == [.keyCreated, .detect])
    }
}
