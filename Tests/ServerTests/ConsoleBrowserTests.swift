import Foundation
import Gallery
import Governance
import Review
import Testing
@testable import Server

#if canImport(Glibc)
    import Glibc
#endif

/// The review console in a real browser: Debian's headless Chromium, driven over the DevTools
/// protocol on `--remote-debugging-pipe` (file descriptors 3 and 4, NUL-terminated JSON), so
/// real forms are filled in and submitted and the real cookie is kept, with no WebSocket client
/// needed.
@Suite(.serialized) struct ConsoleBrowserTests {
    @Test func aReviewerSignsInOpensTheSearchRecordsADecisionAndSignsOut() async throws {
        let server = try await ReviewTestServer.get()
        let client = APIClient(port: server.port, document: server.document)
        let caseID = try await server.searchOpeningCase("obama2.jpg", client: client)
        let admin = Caller.key(server.keys.admin.key.principal)
        let opened = try await server.operations.review.reviewCase(ReviewCase.ID(caseID), for: admin)
        let top = try #require(opened.candidates.first)
        #expect(top.subjectReference == "obama")
        let subject = top.subjectID.rawValue

        let base = "http://127.0.0.1:\(server.port)"
        let browser = try Chromium.launch()
        defer { browser.close() }
        let page = try await browser.newPage(width: 1280, height: 1000)

        // Signed out, the console sends the browser to the sign-in form.
        try await page.navigate("\(base)/console")
        try await page.waitUntil("location.pathname === '/console/sign-in'")
        try await page.evaluate(
            "document.querySelector('#key').value = \(Chromium.literal(server.keys.reviewer.secret)); "
                + "document.querySelector('form.signin button').click(); true")
        try await page.waitUntil("location.pathname === '/console' && document.querySelector('h1') !== null")
        #expect(try await page.text("document.querySelector('h1').textContent") == "Searches awaiting review")
        #expect(try await page.text("document.body.textContent").contains("Case \(caseID)"))
        #expect(try await page.text("document.cookie") == "", "the session cookie must be HttpOnly")
        let cookies = try await page.cookies(for: base + "/console")
        let session = try #require(cookies.first { $0["name"] as? String == ConsoleSession.cookieName })
        #expect(session["httpOnly"] as? Bool == true)
        #expect(session["sameSite"] as? String == "Strict")
        #expect(session["path"] as? String == "/console")

        // The queue links to the case; the case shows the probe beside the candidate.
        try await page.evaluate("document.querySelector('a[href=\"/console/reviews/\(caseID)\"]').click(); true")
        try await page.waitUntil(
            "location.pathname === '/console/reviews/\(caseID)' && document.readyState === 'complete' "
                + "&& [...document.images].every(image => image.complete)")
        #expect(try await page.text("document.querySelector('h1').textContent") == "Case \(caseID): search of \(TestServer.custody)")
        let faceWidths = try await page.text("[...document.querySelectorAll('#subject-\(subject) img')].map(image => image.naturalWidth).join(',')")
        #expect(faceWidths == "112,112", "probe and candidate crops are both shown")
        let cardText = try await page.text("document.querySelector('#subject-\(subject)').textContent")
        #expect(cardText.contains("Gallery threshold"))
        #expect(cardText.contains(HTML.decimal(top.score, places: 4)))
        #expect(cardText.contains("awaiting review"))

        // A decision is a form POST; the browser comes back to the case at the candidate.
        let note = "Same person: brow, nose & ear shape agree <checked twice>."
        try await page.evaluate(
            "document.querySelector('#note-\(subject)').value = \(Chromium.literal(note)); "
                + "document.querySelector('#subject-\(subject) button[value=confirmed]').click(); true")
        try await page.waitUntil("location.hash === '#subject-\(subject)' && document.readyState === 'complete'")
        let decidedCard = try await page.text("document.querySelector('#subject-\(subject)').textContent")
        #expect(decidedCard.contains("Decision: confirmed"))
        #expect(decidedCard.contains(note), "the note is shown as text, escaped")
        let trail = try await page.text("[...document.querySelectorAll('table')].pop().textContent")
        #expect(trail.contains("search"))
        #expect(trail.contains("reviewDecision"))

        // Stored in the ledger, and audited.
        let decided = try await server.operations.review.reviewCase(ReviewCase.ID(caseID), for: admin)
        let decision = try #require(decided.candidate(top.subjectID)?.decision)
        #expect(decision.verdict == .confirmed)
        #expect(decision.note == note)
        #expect(decision.reviewer.keyID == server.keys.reviewer.key.id)
        #expect(decided.identifications.map(\.candidate.subjectID) == [top.subjectID])
        let entry = try #require(try await server.operations.auditLog.entries(after: decision.auditSequence - 1, limit: 1).first)
        #expect(entry.sequence == decision.auditSequence)
        #expect(entry.action == .reviewDecision)
        #expect(ConsoleRoutes.names(decided, entry))

        let screenshot = try await page.screenshot()
        #expect(screenshot.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let location = FileManager.default.temporaryDirectory.appending(path: "biomatch-console-screenshot.png")
        try Data(screenshot).write(to: location)
        print("console screenshot: \(location.path)")

        // Signing out drops the cookie: the case page sends the browser to sign in again.
        try await page.evaluate("document.querySelector('header form button').click(); true")
        try await page.waitUntil("location.pathname === '/console/sign-in'")
        try await page.navigate("\(base)/console/reviews/\(caseID)")
        try await page.waitUntil("location.pathname === '/console/sign-in'")
        #expect(try await page.cookies(for: base + "/console").isEmpty)
    }
}

/// A headless Chromium spoken to over `--remote-debugging-pipe`.
final class Chromium: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case launch(Int32)
        case pipeClosed
        case protocolError(String)
        case timedOut(String)

        var description: String {
            switch self {
            case .notInstalled: "chromium is not installed (scripts/setup installs it: apt-get install chromium)"
            case .launch(let code): "chromium could not be started (posix_spawn \(code))"
            case .pipeClosed: "chromium closed the DevTools pipe"
            case .protocolError(let message): "DevTools error: \(message)"
            case .timedOut(let condition): "timed out waiting for \(condition)"
            }
        }
    }

    private let process: pid_t
    private let commands: Int32
    private let events: Int32
    private let profile: URL
    private var nextID = 0
    private var buffer: [UInt8] = []
    /// Requests run one at a time on this queue: reads block, and must not block the server's threads.
    private let queue = DispatchQueue(label: "chromium-devtools")

    private init(process: pid_t, commands: Int32, events: Int32, profile: URL) {
        self.process = process
        self.commands = commands
        self.events = events
        self.profile = profile
    }

    static func launch() throws -> Chromium {
        let executable = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else { throw Failure.notInstalled }
        let profile = FileManager.default.temporaryDirectory.appending(path: "biomatch-chromium-\(UUID().uuidString)")
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw Failure.launch(errno) }
        for descriptor in toBrowser + fromBrowser { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The protocol's fixed descriptors: the browser reads commands from 3, writes to 4.
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--user-data-dir=\(profile.path)", "about:blank",
        ]
        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        _ = Glibc.close(toBrowser[0])
        _ = Glibc.close(fromBrowser[1])
        guard status == 0 else { throw Failure.launch(status) }
        return Chromium(process: pid, commands: toBrowser[1], events: fromBrowser[0], profile: profile)
    }

    /// Ends the browser this test started (by its process id) and removes its profile.
    func close() {
        _ = Glibc.close(commands)
        kill(process, SIGTERM)
        var status: Int32 = 0
        waitpid(process, &status, 0)
        _ = Glibc.close(events)
        try? FileManager.default.removeItem(at: profile)
    }

    /// A JavaScript string literal holding `text`.
    static func literal(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// Sends a command and returns its result (events in between are skipped).
    func send(_ method: String, _ parameters: [String: Any] = [:], session: String? = nil) async throws -> [String: Any] {
        let message = SendableMessage(method: method, parameters: parameters, session: session)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SendableMessage.Result, any Error>) in
            queue.async {
                do { continuation.resume(returning: try self.call(message)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        }.value
    }

    private func call(_ message: SendableMessage) throws -> SendableMessage.Result {
        nextID += 1
        let id = nextID
        var envelope: [String: Any] = ["id": id, "method": message.method, "params": message.parameters]
        if let session = message.session { envelope["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: envelope))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure.pipeClosed }
            written += count
        }
        while true {
            let reply = try readMessage()
            guard reply["id"] as? Int == id else { continue }
            if let error = reply["error"] as? [String: Any] {
                throw Failure.protocolError("\(message.method): \(error["message"] ?? error)")
            }
            return SendableMessage.Result(value: reply["result"] as? [String: Any] ?? [:])
        }
    }

    private func readMessage() throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                return (try JSONSerialization.jsonObject(with: Data(message))) as? [String: Any] ?? [:]
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { read(events, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure.pipeClosed }
            buffer += chunk[..<count]
        }
    }

    /// A new tab of the given viewport size.
    func newPage(width: Int, height: Int) async throws -> Page {
        let target = try await send("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"] as? String else { throw Failure.protocolError("no targetId") }
        let attached = try await send("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw Failure.protocolError("no sessionId") }
        let page = Page(browser: self, session: session)
        _ = try await page.send("Page.enable")
        _ = try await page.send("Network.enable")
        _ = try await page.send(
            "Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
        return page
    }

    /// One tab.
    struct Page: Sendable {
        let browser: Chromium
        let session: String

        func send(_ method: String, _ parameters: [String: Any] = [:]) async throws -> [String: Any] {
            try await browser.send(method, parameters, session: session)
        }

        func navigate(_ url: String) async throws { _ = try await send("Page.navigate", ["url": url]) }

        /// Evaluates `expression` in the page and returns its value.
        @discardableResult
        func evaluate(_ expression: String) async throws -> Any? {
            let reply = try await send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
            if let exception = reply["exceptionDetails"] as? [String: Any] {
                throw Failure.protocolError("\(expression): \(exception["text"] ?? exception)")
            }
            return (reply["result"] as? [String: Any])?["value"]
        }

        func text(_ expression: String) async throws -> String { try await evaluate(expression) as? String ?? "" }

        /// Waits until `condition` is true in the page (a navigation in flight makes it false).
        func waitUntil(_ condition: String) async throws {
            for _ in 0..<300 {
                if (try? await evaluate(condition)) as? Bool == true { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw Failure.timedOut(condition)
        }

        func cookies(for url: String) async throws -> [[String: Any]] {
            try await send("Network.getCookies", ["urls": [url]])["cookies"] as? [[String: Any]] ?? []
        }

        /// A PNG of the whole page (the viewport is grown to the document's height).
        func screenshot() async throws -> [UInt8] {
            let height = try await evaluate("document.documentElement.scrollHeight") as? Int ?? 1000
            _ = try await send(
                "Emulation.setDeviceMetricsOverride",
                ["width": 1280, "height": min(max(height, 600), 4000), "deviceScaleFactor": 1, "mobile": false])
            let shot = try await send("Page.captureScreenshot", ["format": "png"])
            guard let encoded = shot["data"] as? String, let data = Data(base64Encoded: encoded) else {
                throw Failure.protocolError("no screenshot data")
            }
            return [UInt8](data)
        }
    }
}

/// A DevTools message and result crossing to the protocol queue; JSON objects are not
/// Sendable, but each is handed over once and never shared.
private struct SendableMessage: @unchecked Sendable {
    let method: String
    let parameters: [String: Any]
    let session: String?

    struct Result: @unchecked Sendable {
        let value: [String: Any]
    }
}
