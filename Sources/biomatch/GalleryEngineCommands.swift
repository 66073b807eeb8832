import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Operations

extension GalleryCommand {
    /// `biomatch gallery add-engine NAME ENGINE`: adds an engine and makes its templates for
    /// every subject from the kept enrolment images, with progress; run again to resume.
    struct AddEngine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-engine",
            abstract: "Add a recognition engine to a gallery and make its templates from the kept enrolment images.",
            discussion: """
                Subjects enrolled from now on get the engine's template at once; a job makes it for every subject \
                enrolled before, from the images the gallery kept (sealed). The engine is searched once the job ends. \
                The job commits in batches and survives a crash: run the same command again to resume it (after \
                --lease-duration, if the process that ran it died). Subjects whose images were not kept are counted: \
                add their images again with `biomatch subject add-images`.
                """)

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var name: String
        @Argument(help: "The engine to add (see `biomatch engines list`).") var engine: String
        @Option(help: "Subjects templated per committed batch.") var batchSize = 16
        @Option(help: "Seconds a run holds the job; a crashed run's job may be resumed after this.") var leaseDuration = 30

        func validate() throws {
            guard (1...1_000).contains(batchSize) else { throw ValidationError("--batch-size must lie in 1...1000") }
            guard (2...3_600).contains(leaseDuration) else { throw ValidationError("--lease-duration must lie in 2...3600 seconds") }
        }

        func run() async throws {
            let detector = try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
            let operations = try await databaseOptions.openOperations(engine: detector, engines: [engine])
            let gallery = try await operations.gallery(name, by: StoreOptions.caller).gallery
            let jobID: String
            if let entry = gallery.engine(named: engine) {
                guard let running = entry.templatingJob else {
                    print("gallery '\(name)' already has engine '\(engine)' with its templates")
                    return
                }
                jobID = running
                print("resuming job \(jobID): adding '\(engine)' to gallery '\(name)'")
            } else {
                jobID = try await operations.addEngine(engine, to: name, by: StoreOptions.caller).id
                print("started job \(jobID): adding '\(engine)' to gallery '\(name)'")
            }
            let holder = "cli:\(ProcessInfo.processInfo.hostName):\(getpid())"
            let display = ProgressDisplay(verb: "templated", unit: "subjects")
            var finished: EngineJob?
            while finished == nil {
                do {
                    finished = try await operations.runEngineJob(
                        jobID, holder: holder, batchSize: batchSize, leaseDuration: .seconds(leaseDuration)
                    ) { job in
                        display.update(
                            done: job.state == .completed ? job.subjectsTotal : min(job.subjectsDone, job.subjectsTotal),
                            total: job.subjectsTotal)
                    }
                } catch {
                    guard case let .jobHeldElsewhere(_, other, until) = error else { throw error }
                    let wait = max(until.timeIntervalSinceNow, 0) + 0.5
                    FileHandle.standardError.write(
                        Data("job \(jobID) is held by \(other); waiting \(String(format: "%.0f", wait)) s for its lease to end\n".utf8))
                    try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                    display.restartClock()
                }
            }
            display.stop()
            await operations.identification.writeSnapshots()
            guard let job = finished else { return }
            switch job.state {
            case .completed:
                print(
                    "engine '\(engine)' added to gallery '\(name)': \(job.subjectsDone) subjects visited, "
                        + "\(job.templatesMade) templates made, \(job.subjectsWithoutImages) subject(s) without kept images")
                if job.subjectsWithoutImages > 0 {
                    print("  those subjects have no '\(engine)' template until their images are added again (biomatch subject add-images)")
                }
            case .abandoned:
                throw CommandFailure("job \(job.id) was abandoned: \(job.message ?? "no reason recorded")")
            case .running:
                throw CommandFailure("job \(job.id) stopped before it ended; run the command again to resume it")
            }
        }
    }

    /// `biomatch gallery drop-engine NAME ENGINE --confirm`.
    struct DropEngine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drop-engine", abstract: "Remove an engine (not the default) from a gallery, with its templates and index.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var name: String
        @Argument(help: "The engine to remove.") var engine: String
        @Flag(help: "Confirm: the engine's templates are erased.") var confirm = false

        func validate() throws {
            guard confirm else { throw ValidationError("dropping an engine erases its templates: add --confirm") }
        }

        func run() async throws {
            let detector = try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
            let operations = try await databaseOptions.openOperations(engine: detector)
            let receipt = try await operations.dropEngine(engine, from: name, by: StoreOptions.caller)
            await operations.identification.writeSnapshots()
            print(
                "engine '\(engine)' dropped from gallery '\(name)': \(receipt.removedTemplates) templates erased; "
                    + "engines now \(receipt.gallery.engines.map(\.identifier).joined(separator: ", "))")
        }
    }
}
