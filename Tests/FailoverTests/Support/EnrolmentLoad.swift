import Foundation
import HTTPTypes

/// One request of the load and what came back.
struct Attempt: Sendable {
    enum Outcome: Sendable {
        /// A 2xx; `replayed` when the node answered with a stored outcome (`Idempotent-Replayed`).
        case acknowledged(status: Int, replayed: Bool = false)
        case answered(status: Int, retryAfter: String?)
        case connectionFailed(String)
    }

    var node: String
    var reference: String
    var started: ContinuousClock.Instant
    var ended: ContinuousClock.Instant
    var outcome: Outcome

    var isAcknowledged: Bool {
        if case .acknowledged = outcome { return true }
        return false
    }

    /// Anything but a 2xx or a 503 carrying Retry-After.
    var isUnexpected: Bool {
        switch outcome {
        case .acknowledged: false
        case .answered(let status, let retryAfter): status != 503 || retryAfter == nil
        case .connectionFailed: true
        }
    }
}

/// Every attempt of every client, and the switch that ends the load.
actor LoadRecord {
    private(set) var attempts: [Attempt] = []
    /// References never acknowledged when the load stopped: their outcome is unknown.
    private(set) var unresolved: Set<String> = []
    private(set) var stopped = false

    func add(_ attempt: Attempt) { attempts.append(attempt) }
    func giveUp(_ reference: String) { unresolved.insert(reference) }
    func stop() { stopped = true }

    var acknowledgedReferences: Set<String> { Set(attempts.filter(\.isAcknowledged).map(\.reference)) }
    var acknowledgements: Int { attempts.count { $0.isAcknowledged } }

    /// The first acknowledgement each node completed after `instant`.
    func firstAcknowledgement(of node: String, after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        attempts.filter { $0.node == node && $0.isAcknowledged && $0.started >= instant }.map(\.ended).min()
    }
}

/// Clients that enrol one new subject after another through a node, each with its own
/// Idempotency-Key, retrying the same enrolment (same key) after a 503 or a dead connection until
/// it is acknowledged or the load stops.
enum EnrolmentLoad {
    static let gallery = "failover"

    /// One enrolment request, sent once.
    static func enrol(
        reference: String, key idempotencyKey: String, photo: [UInt8], through node: ServeNode, adminKey: String
    ) async -> Attempt.Outcome {
        let boundary = "cluster-test-\(UUID().uuidString)"
        var body: [UInt8] = []
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"reference\"\r\n\r\n\(reference)\r\n".utf8)
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"images\"; filename=\"face.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
                .utf8)
        body += photo + Array("\r\n--\(boundary)--\r\n".utf8)
        do {
            let reply = try await node.send(
                .post, "/v1/galleries/\(gallery)/subjects", key: adminKey,
                headers: [HTTPField.Name("Idempotency-Key")!: idempotencyKey], body: body,
                contentType: "multipart/form-data; boundary=\(boundary)")
            if (200..<300).contains(reply.status) {
                return .acknowledged(status: reply.status, replayed: reply.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            }
            return .answered(status: reply.status, retryAfter: reply.retryAfter)
        } catch {
            return .connectionFailed(String(describing: error))
        }
    }

    /// Runs `clientsPerNode` clients on every node until `record` is stopped.
    static func run(
        nodes: [ServeNode], clientsPerNode: Int, photos: [[UInt8]], adminKey: String, record: LoadRecord
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for node in nodes {
                for number in 0..<clientsPerNode {
                    group.addTask {
                        await client(node: node, number: number, photos: photos, adminKey: adminKey, record: record)
                    }
                }
            }
        }
    }

    private static func client(
        node: ServeNode, number: Int, photos: [[UInt8]], adminKey: String, record: LoadRecord
    ) async {
        var index = 0
        while await !record.stopped {
            let reference = "\(node.name)-c\(number)-\(index)"
            let key = UUID().uuidString
            let photo = photos[(number + index) % photos.count]
            while true {
                let started = ContinuousClock.now
                let outcome = await enrol(reference: reference, key: key, photo: photo, through: node, adminKey: adminKey)
                let attempt = Attempt(node: node.name, reference: reference, started: started, ended: .now, outcome: outcome)
                await record.add(attempt)
                if attempt.isAcknowledged { break }
                if await record.stopped {
                    await record.giveUp(reference)
                    break
                }
                // Faster than Retry-After asks: the test measures when the nodes serve again.
                try? await Task.sleep(for: .milliseconds(100))
            }
            index += 1
        }
    }
}

/// What the store holds for the load's gallery, against what clients were told.
struct LossCheck: Sendable {
    /// Acknowledged references absent from the store: lost acknowledgements.
    var missing: [String]
    /// References stored more than once.
    var duplicated: [String]
    /// Subjects without exactly the one template their enrolment carried.
    var halfThere: [String]
    /// Stored references no client ever sent.
    var strangers: [String]

    var isClean: Bool { missing.isEmpty && duplicated.isEmpty && halfThere.isEmpty && strangers.isEmpty }

    /// Reads the gallery from the node at `port` (the promoted standby).
    static func check(
        acknowledged: Set<String>, attempted: Set<String>, pair: TestPair, port: Int, scratch: URL
    ) async throws -> LossCheck {
        let rows = try await pair.query(
            """
            SELECT s.external_reference, count(t.id)
            FROM subjects s
            JOIN galleries g ON g.id = s.gallery_id
            LEFT JOIN templates t ON t.gallery_id = s.gallery_id AND t.subject_id = s.id
            WHERE g.name = '\(EnrolmentLoad.gallery)'
            GROUP BY s.id, s.external_reference
            """, port: port, scratch: scratch)
        var copies: [String: Int] = [:]
        var halfThere: [String] = []
        for row in rows where row.count == 2 {
            copies[row[0], default: 0] += 1
            if row[1] != "1" { halfThere.append(row[0]) }
        }
        return LossCheck(
            missing: acknowledged.filter { copies[$0] == nil }.sorted(),
            duplicated: copies.filter { $0.value > 1 }.keys.sorted(),
            halfThere: halfThere.sorted(),
            strangers: copies.keys.filter { !attempted.contains($0) }.sorted())
    }
}
