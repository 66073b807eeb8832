import Foundation
import Gallery
import Governance
import Operations
import Review
import Testing

/// `biomatch calibrate ... --gallery G` and `biomatch gallery threshold ... --engine E`, run as
/// the built program on a SQLite store in a temporary folder.
@Suite(.serialized) struct CalibrateCommandTests {
    /// The program sits next to the test binary in the build folder.
    static var program: URL {
        URL(filePath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appending(path: "biomatch")
    }

    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs the program with `arguments` on the store `database` (none: no `--database`), with a
    /// crop key of its own.
    static func run(_ arguments: [String], database: URL?) throws -> Run {
        #expect(FileManager.default.isExecutableFile(atPath: program.path), "build the package first: \(program.path)")
        let process = Process()
        process.executableURL = program
        process.arguments = arguments + (database.map { ["--database", $0.path] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["BIOMATCH_CROP_KEY"] = CropKeyText.shared
        process.environment = environment
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: errorData, as: UTF8.self))
    }

    /// The threshold `calibrate` printed ("threshold for FMR <= T: X (...").
    static func printedThreshold(_ output: String) throws -> Float {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("threshold for FMR <= ") })
        let value = try #require(line.split(separator: ": ").dropFirst().first?.split(separator: " ").first)
        return try #require(Float(String(value)))
    }

    @Test("calibrate --gallery records the fusion and a non-default engine's threshold, audited; gallery threshold --engine sets one; a gallery that does not fit is refused")
    func recordsOnTheGallery() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "calibrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appending(path: "biomatch.sqlite")
        let dataset = try orlSubset(people: 8, images: 4)
        defer { try? FileManager.default.removeItem(at: dataset) }

        for arguments in [
            ["gallery", "create", "border", "--purpose", "immigration", "--engines", "sface,dlib"],
            ["gallery", "create", "solo", "--purpose", "other"],
        ] {
            let created = try Self.run(arguments, database: database)
            #expect(created.status == 0, "\(created.error)")
        }

        // Without --gallery it only prints: the store is not touched.
        let printed = try Self.run(
            ["calibrate", "--engine", "fusion", "--dataset", dataset.path, "--fmr", "1e-2", "--quiet"], database: database)
        #expect(printed.status == 0, "\(printed.error)")
        #expect(!printed.output.contains("recorded on gallery"))
        let untouched = try SQLiteGalleryStore(location: database, additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        #expect(try await untouched.gallery(named: "border").settings.fusion == nil)
        #expect(try await AuditLog(store: untouched).entries(limit: 10_000).count { $0.action == .galleryReconfigured } == 0)

        // Fusion: fitted on the gallery's engines, recorded with its statistics and threshold.
        let fused = try Self.run(
            ["calibrate", "--engine", "fusion", "--dataset", dataset.path, "--fmr", "1e-2", "--gallery", "border",
             "--reason", "ORL s1-s8, photos 1-4", "--quiet"],
            database: database)
        #expect(fused.status == 0, "\(fused.error)")
        #expect(fused.output.contains("recorded on gallery 'border': fused threshold"), "\(fused.output)")
        let fusedThreshold = try Self.printedThreshold(fused.output)
        // The same images, engines and target: the same threshold as printed without --gallery.
        #expect(fusedThreshold == (try Self.printedThreshold(printed.output)))

        // dlib alone: its threshold is printed negated (a similarity) and recorded as a distance.
        let byDlib = try Self.run(
            ["calibrate", "--engine", "dlib", "--dataset", dataset.path, "--fmr", "1e-2", "--gallery", "border",
             "--reason", "dlib on ORL s1-s8", "--quiet"],
            database: database)
        #expect(byDlib.status == 0, "\(byDlib.error)")
        let dlibSimilarity = try Self.printedThreshold(byDlib.output)

        let store = try SQLiteGalleryStore(location: database, additionalMigrations: MatcherOperations.migrations(for: .sqlite))
        let border = try await store.gallery(named: "border")
        let fusion = try #require(border.settings.fusion)
        #expect(Set(fusion.statistics.keys) == ["sface", "dlib"])
        #expect(abs(fusion.threshold - fusedThreshold) < 1e-4)
        #expect(fusion.targetFalseMatchRate == 1e-2)
        #expect(fusion.source.contains("32/32 images"), "\(fusion.source)")
        #expect((fusion.statistics["dlib"]?.mean ?? 0) < -0.5 && (fusion.statistics["dlib"]?.deviation ?? 0) > 0)
        let dlibThreshold = try #require(border.operatingThreshold(of: "dlib"))
        #expect(abs(dlibThreshold + dlibSimilarity) < 1e-4, "distance \(dlibThreshold), similarity \(dlibSimilarity)")
        #expect(dlibThreshold > 0 && dlibThreshold < 1)
        #expect(border.operatingThreshold == 0.363)

        let entries = try await AuditLog(store: store).entries(limit: 10_000).filter { $0.galleryName == "border" }
        let reconfigurations = entries.filter { $0.action == .galleryReconfigured }
        #expect(reconfigurations.count == 2)
        #expect(reconfigurations.first?.parameters.contains(#""reason":"ORL s1-s8, photos 1-4""#) == true)
        #expect(reconfigurations.first?.parameters.contains(#""change":"fusion-calibration""#) == true)
        #expect(reconfigurations.last?.parameters.contains(#""change":"engine-threshold""#) == true)

        // gallery threshold --engine: a non-default engine's threshold, in its native unit.
        let set = try Self.run(["gallery", "threshold", "border", "0.58", "--engine", "dlib", "--reason", "by hand"], database: database)
        #expect(set.status == 0, "\(set.error)")
        #expect(try await store.gallery(named: "border").operatingThreshold(of: "dlib") == 0.58)
        let shown = try Self.run(["gallery", "show", "border"], database: database)
        #expect(shown.output.contains("fusion:      threshold \(fusion.threshold)"), "\(shown.output)")

        // A gallery of one engine cannot take a fusion calibration: refused before any image is read.
        let solo = try Self.run(
            ["calibrate", "--engine", "fusion", "--dataset", dataset.path, "--fmr", "1e-2", "--gallery", "solo",
             "--reason", "ORL", "--quiet"],
            database: database)
        #expect(solo.status != 0)
        #expect(solo.error.contains("fusion needs two or more"), "\(solo.error)")
        // --gallery without a reason is a usage error.
        let unreasoned = try Self.run(
            ["calibrate", "--engine", "fusion", "--dataset", dataset.path, "--fmr", "1e-2", "--gallery", "border"],
            database: database)
        #expect(unreasoned.status != 0)
        #expect(unreasoned.error.contains("--gallery needs --reason"), "\(unreasoned.error)")
        #expect(try await store.gallery(named: "solo").settings.fusion == nil)
        #expect(try await AuditLog(store: store).entries(limit: 10_000).count { $0.action == .galleryReconfigured } == 3)
    }
}

/// One crop key for every run of the program in this process.
private enum CropKeyText {
    static let shared = CropVault.generateKeyText()
}
