import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Operations
import Review
import Testing

/// The acceptance test of re-templating: `biomatch gallery add-engine` is killed with SIGKILL
/// mid-job, run again, and the gallery ends with exactly one template per subject, image and
/// engine, each equal to a fresh enrolment's.
@Suite struct EngineJobCrashTests {
    /// The `biomatch` executable built beside the test bundle.
    static var biomatch: URL {
        URL(filePath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appending(path: "biomatch")
    }

    static let subjects = 16
    static let imagesPerSubject = 2
    static let dlibModel = "dlib-resnet-v1"

    @Test("a templating job killed with SIGKILL resumes on the next run: one dlib template per subject and image, equal to a fresh enrolment's")
    func resumesAfterKill() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "engine-job-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appending(path: "biomatch.sqlite")
        let key = CropVault.generateKeyText()
        let store = try await GalleryStoreLocation.sqlite(database).openForOperations().store
        let operations = try await MatcherOperations.open(
            store: store, engine: try Support.engine.get(), recognisers: try Support.recognisers.get(), purposes: PurposePolicy(),
            reviewPolicy: ReviewPolicy(), cropVault: try CropVault.fromEnvironment([CropVault.environmentKey: key]))
        let localOperator = Caller.localOperator(name: "test")
        _ = try await operations.createGallery(GalleryDraft(name: "custody", purpose: .custody), by: localOperator)
        let people = (1...Self.subjects).map { "s\($0)" }
        func photos(_ person: String) throws -> [[UInt8]] {
            try (1...Self.imagesPerSubject).map { image in
                Array(try Data(contentsOf: Support.installation.orlFacesDirectory.appending(path: "\(person)/\(image).pgm")))
            }
        }
        for person in people {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "custody", reference: person, images: try photos(person)), by: localOperator)
        }
        let gallery = try await store.gallery(named: "custody")

        // First run: killed once a few batches have committed.
        let arguments = [
            "gallery", "add-engine", "custody", "dlib", "--database", database.path, "--batch-size", "2", "--lease-duration", "3",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment[CropVault.environmentKey] = key
        let first = Process()
        first.executableURL = Self.biomatch
        first.arguments = arguments
        first.environment = environment
        first.standardInput = FileHandle.nullDevice
        first.standardOutput = FileHandle.nullDevice
        let firstLog = folder.appending(path: "first-run.log")
        _ = FileManager.default.createFile(atPath: firstLog.path, contents: nil)
        first.standardError = try FileHandle(forWritingTo: firstLog)
        try first.run()
        var killedAt: EngineJobProgress?
        // Generous: a loaded machine starts the process and its engines slowly.
        let deadline = ContinuousClock.now + .seconds(600)
        while killedAt == nil, first.isRunning, ContinuousClock.now < deadline {
            if let progress = try await Self.progress(store, gallery: "custody"), progress.done >= 4 {
                kill(first.processIdentifier, SIGKILL)
                killedAt = progress
            } else {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        if killedAt == nil && first.isRunning { first.terminate() }
        first.waitUntilExit()
        let firstOutput = (try? String(contentsOf: firstLog, encoding: .utf8)) ?? "no log"
        let atKill = try #require(
            killedAt, "the job ended or stalled before it could be killed (exit \(first.terminationStatus)): \(firstOutput)")
        #expect(first.terminationReason == .uncaughtSignal && first.terminationStatus == SIGKILL)
        #expect(atKill.state == "running" && atKill.done < Self.subjects)
        let templatedAtKill = try await Self.dlibTemplates(store, gallery: gallery.id, people: people).count
        #expect(templatedAtKill >= 4 * Self.imagesPerSubject && templatedAtKill < Self.subjects * Self.imagesPerSubject)

        // Second run: waits out the dead run's lease and resumes.
        let second = Process()
        second.executableURL = Self.biomatch
        second.arguments = arguments
        second.environment = environment
        second.standardInput = FileHandle.nullDevice
        let output = Pipe()
        second.standardOutput = output
        second.standardError = FileHandle.nullDevice
        try second.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0, "\(printed)")
        #expect(printed.contains("resuming job"))
        let finished = try #require(await Self.progress(store, gallery: nil, job: atKill.job))
        #expect(finished.state == "completed" && finished.done == Self.subjects)

        // Exactly one dlib template per subject and image, each equal to a fresh enrolment's.
        let templated = try await Self.dlibTemplates(store, gallery: gallery.id, people: people)
        #expect(templated.count == Self.subjects * Self.imagesPerSubject)
        #expect(Set(templated.map { "\($0.subjectID.rawValue)|\($0.sourceImageSHA256)" }).count == templated.count)
        _ = try await operations.createGallery(
            GalleryDraft(name: "fresh", purpose: .custody, engines: ["sface", "dlib"]), by: localOperator)
        let fresh = try await store.gallery(named: "fresh")
        var compared = 0
        for person in people {
            _ = try await operations.enrol(
                EnrolmentRequest(gallery: "fresh", reference: person, images: try photos(person)), by: localOperator)
            let enrolled = try await store.subject(reference: person, in: fresh.id).templates.filter { $0.modelIdentifier == Self.dlibModel }
            let retemplated = try await store.subject(reference: person, in: gallery.id).templates.filter {
                $0.modelIdentifier == Self.dlibModel
            }
            for template in enrolled {
                let twin = retemplated.first { $0.sourceImageSHA256 == template.sourceImageSHA256 }
                #expect(twin?.vector == template.vector, "\(person)")
                compared += 1
            }
        }
        #expect(compared == Self.subjects * Self.imagesPerSubject)
    }

    struct EngineJobProgress {
        var job: String
        var state: String
        var done: Int
    }

    /// The last recorded state of the gallery's templating job (or of `job`).
    static func progress(_ store: any GalleryStore, gallery: String?, job: String? = nil) async throws -> EngineJobProgress? {
        var id = job
        if let gallery { id = try await store.gallery(named: gallery).engine(named: "dlib")?.templatingJob }
        guard let id,
            let row = try await store.lastRecord(in: "engine_jobs", matching: ["job_id": .text(id)], orderedBy: "row_id"),
            case .text(let state)? = row["state"], case .integer(let done)? = row["subjects_done"]
        else { return nil }
        return EngineJobProgress(job: id, state: state, done: Int(done))
    }

    static func dlibTemplates(_ store: any GalleryStore, gallery: GalleryRecord.ID, people: [String]) async throws -> [TemplateRecord] {
        var templates: [TemplateRecord] = []
        for person in people {
            templates += try await store.subject(reference: person, in: gallery).templates.filter { $0.modelIdentifier == dlibModel }
        }
        return templates
    }
}
