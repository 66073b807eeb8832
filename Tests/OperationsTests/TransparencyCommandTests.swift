import Foundation
import Gallery
import Governance
import Installation
import Operations
import Testing

/// `biomatch subject access` and `biomatch report transparency`, run as the built program on a
/// SQLite store in a temporary folder.
@Suite(.serialized) struct TransparencyCommandTests {
    @Test("subject access writes one self-contained, escaped page; report transparency gives the same figures from the store and from an export with the checkpoint")
    func subjectAccessPageAndTransparencyReport() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "transparency-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appending(path: "biomatch.sqlite")
        func file(_ name: String) -> String { folder.appending(path: name).path }
        func run(_ arguments: [String], store: Bool = true) throws -> CalibrateCommandTests.Run {
            let result = store
                ? try CalibrateCommandTests.run(arguments, database: database)
                : try CalibrateCommandTests.run(arguments, database: nil)
            #expect(result.status == 0, "\(arguments): \(result.error)")
            return result
        }
        let photos = Installation.fromEnvironment().testPhotosDirectory
        let reference = "o<b>ama & co"
        _ = try run(["gallery", "create", "custody", "--purpose", "custody"])
        _ = try run(["enrol", "custody", "--subject", reference, photos.appending(path: "obama.jpg").path])
        _ = try run([
            "search", "custody", photos.appending(path: "obama2.jpg").path, "--purpose", "criminal-investigation",
            "--case-reference", "C-1",
        ])
        let checkpoint = try run(["audit", "checkpoint", "--key-file", file("signing.key")]).output
        try Data(checkpoint.utf8).write(to: folder.appending(path: "checkpoint.txt"))
        let publicKey = try run(["audit", "public-key", "--key-file", file("signing.key")], store: false).output
        try Data(publicKey.utf8).write(to: folder.appending(path: "public.key"))

        _ = try run([
            "subject", "access", "custody", "--reference", reference, "--purpose", "subject-access-request",
            "--case-reference", "SAR-<1>", "--out", file("page.html"),
        ])
        let page = try String(contentsOf: folder.appending(path: "page.html"), encoding: .utf8)
        let photo = try Data(contentsOf: photos.appending(path: "obama.jpg"))
        #expect(page.contains("data:image/jpeg;base64,\(photo.base64EncodedString())"))
        #expect(page.contains("o&lt;b&gt;ama &amp; co") && !page.contains(reference))
        #expect(page.contains("SAR-&lt;1&gt;") && !page.contains("SAR-<1>"))
        #expect(page.contains("a candidate in a search") && page.contains("data:image/png;base64,"))
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"))

        let today = StatisticsPeriod.day.start(of: Date())
        let day = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day()
        let window = [
            "--from", today.addingTimeInterval(-86_400).formatted(day), "--to", today.addingTimeInterval(86_400).formatted(day),
            "--period", "day",
        ]
        _ = try run(["report", "transparency"] + window + ["--out", file("report.html"), "--json", file("report.json")])
        let export = try run(["audit", "export", "--jsonl"]).output
        try Data(export.utf8).write(to: folder.appending(path: "log.jsonl"))
        _ = try run(
            ["report", "transparency"] + window + [
                "--out", file("report2.html"), "--json", file("report2.json"), "--jsonl", file("log.jsonl"),
                "--checkpoint", file("checkpoint.txt"), "--public-key", file("public.key"),
            ], store: false)
        let stored = try Data(contentsOf: folder.appending(path: "report.json"))
        #expect(stored == (try Data(contentsOf: folder.appending(path: "report2.json"))))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let report = try decoder.decode(TransparencyReport.self, from: stored)
        #expect(report.basis.checkpoint?.trimmingCharacters(in: .newlines) == checkpoint.trimmingCharacters(in: .newlines))
        #expect(report.basis.treeSize == 3)
        #expect(report.totalActivity.map(\.figures.searches) == [1])
        #expect(report.totalActivity.map(\.figures.searchesWithCandidates) == [1])
        let html = try String(contentsOf: folder.appending(path: "report.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains(report.basis.rootHash))
        // The subject access came after the checkpoint: its entry is in the export, not the figures.
        #expect(export.split(separator: "\n").count == 4)
    }
}
