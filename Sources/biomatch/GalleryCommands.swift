import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Identification
import Installation

/// Where the CLI's gallery commands keep their data.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "SQLite gallery file (default: <data directory>/biomatch.sqlite).")
    var database: String?

    /// Opens the store at `--database`, or the installation's default location.
    func openStore() throws -> SQLiteGalleryStore {
        let location = database.map { URL(filePath: $0) } ?? SQLiteGalleryStore.defaultLocation()
        return try SQLiteGalleryStore(location: location)
    }

    /// Opens the store and the identification service over it, rebuilding the indexes.
    func openService(engine: FaceEngine) async throws -> GallerySearchService {
        try await GallerySearchService.open(store: try openStore(), engine: engine)
    }
}

extension GalleryPurpose: ExpressibleByArgument {}

/// `biomatch gallery create|list|show`.
struct GalleryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery", abstract: "Create and inspect galleries.",
        subcommands: [CreateGallery.self, ListGalleries.self, ShowGallery.self])

    /// `biomatch gallery create NAME --purpose P`.
    struct CreateGallery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a gallery.")

        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The gallery's unique name.") var name: String
        @Option(help: "Why the gallery exists: \(GalleryPurpose.allCases.map(\.rawValue).joined(separator: ", ")).")
        var purpose: GalleryPurpose
        @Option(help: "Free text shown with the gallery.") var description = ""
        @Option(help: "Operating threshold: lowest cosine similarity reported as a candidate.")
        var threshold: Float = GalleryRecord.defaultOperatingThreshold
        @Option(help: "Erase subjects this many days after enrolment (default: keep).") var retentionDays: Int?

        func validate() throws {
            guard threshold.isFinite, (-1...1).contains(threshold) else {
                throw ValidationError("--threshold must lie in -1...1")
            }
            if let retentionDays, retentionDays <= 0 { throw ValidationError("--retention-days must be positive") }
        }

        func run() async throws {
            let store = try databaseOptions.openStore()
            let record = try await store.createGallery(
                NewGallery(
                    name: name, description: description, purpose: purpose,
                    retention: retentionDays.map { .daysAfterEnrolment($0) } ?? .indefinite,
                    operatingThreshold: threshold, modelIdentifier: PinnedModel.sface.modelIdentifier))
            print("created \(describe(record))")
        }
    }

    /// `biomatch gallery list`.
    struct ListGalleries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List galleries.")

        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            let store = try databaseOptions.openStore()
            for record in try await store.galleries() {
                let counts = try await store.counts(in: record.id)
                print("\(describe(record)), \(counts.subjects) subjects, \(counts.templates) templates")
            }
        }
    }

    /// `biomatch gallery show NAME`.
    struct ShowGallery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one gallery.")

        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The gallery's name.") var name: String

        func run() async throws {
            let store = try databaseOptions.openStore()
            let record = try await store.gallery(named: name)
            let counts = try await store.counts(in: record.id)
            print("name:        \(record.name)")
            print("purpose:     \(record.purpose.rawValue)")
            print("description: \(record.description)")
            print("threshold:   \(record.operatingThreshold)")
            print("retention:   \(record.retention.days.map { "\($0) days after enrolment" } ?? "indefinite")")
            print("model:       \(record.modelIdentifier)")
            print("created:     \(record.createdAt.formatted(.iso8601))")
            print("subjects:    \(counts.subjects)")
            print("templates:   \(counts.templates)")
        }
    }
}

private func describe(_ record: GalleryRecord) -> String {
    "gallery '\(record.name)' (\(record.purpose.rawValue), threshold \(record.operatingThreshold))"
}

/// `biomatch enrol GALLERY --subject REF IMG...` or `biomatch enrol GALLERY --folder DIR`.
struct EnrolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrol",
        abstract: "Enrol a subject from images, or a folder with one sub-folder of images per subject.")

    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var engineOptions: EngineOptions
    @Argument(help: "The gallery's name.") var gallery: String
    @Option(help: "The subject's external reference (with IMG...).") var subject: String?
    @Option(help: "Bulk mode: one sub-folder per subject, named by its reference.") var folder: String?
    @Argument(help: "Image files of the subject.") var images: [String] = []

    func validate() throws {
        switch (subject, folder) {
        case (.some, nil) where !images.isEmpty, (nil, .some) where images.isEmpty: break
        default: throw ValidationError("give either --subject REF with images, or --folder DIR")
        }
    }

    func run() async throws {
        let service = try await databaseOptions.openService(engine: try engineOptions.makeEngine())
        if let subject {
            let enrolled = try await service.enrol(
                gallery: gallery, reference: subject, images: try images.map(readImageFile))
            print("enrolled '\(subject)' as \(enrolled.subject.id) with \(enrolled.templates.count) template(s)")
        } else if let folder {
            try await enrolFolder(URL(filePath: folder, directoryHint: .isDirectory), into: service)
        }
    }

    private struct Job: Sendable {
        var subject: Int
        var path: URL
    }

    /// Examines two images at a time (one per core) and stores subjects in folder order.
    private func enrolFolder(_ folder: URL, into service: GallerySearchService) async throws {
        let manager = FileManager.default
        let subjectFolders = try manager.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.isDirectoryKey])
            .filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var jobs: [Job] = []
        var lastJob: [Int: Int] = [:]
        for (subject, subjectFolder) in subjectFolders.enumerated() {
            let files = try manager.contentsOfDirectory(at: subjectFolder, includingPropertiesForKeys: nil)
                .filter { !$0.lastPathComponent.hasPrefix(".") }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            for file in files { jobs.append(Job(subject: subject, path: file)) }
            if !files.isEmpty { lastJob[subject] = jobs.count - 1 }
        }

        var refusals: [(path: String, reason: ImageRefusalReason)] = []
        var failures: [String] = []
        var enrolledCount = 0
        var results: [Int: Result<EnrolmentSample, ImageRefusalReason>] = [:]
        var nextToStore = 0
        var pending: [EnrolmentSample] = []
        var examined = 0

        try await withThrowingTaskGroup(of: (Int, Result<EnrolmentSample, ImageRefusalReason>).self) { group in
            var nextToSubmit = 0
            func submit() {
                let position = nextToSubmit
                let path = jobs[position].path
                nextToSubmit += 1
                group.addTask {
                    guard let bytes = try? Data(contentsOf: path) else {
                        return (position, .failure(.unreadable("cannot read the file")))
                    }
                    return (position, try await service.examine(imageBytes: Array(bytes)))
                }
            }
            for _ in 0..<min(2, jobs.count) { submit() }
            while let (position, result) = try await group.next() {
                results[position] = result
                examined += 1
                FileHandle.standardError.write(Data("\rexamined \(examined)/\(jobs.count) images".utf8))
                if nextToSubmit < jobs.count { submit() }
                // Store whole subjects in folder order, as soon as all their images are examined.
                while let result = results.removeValue(forKey: nextToStore) {
                    let job = jobs[nextToStore]
                    switch result {
                    case let .success(sample): pending.append(sample)
                    case let .failure(reason): refusals.append((job.path.path, reason))
                    }
                    if lastJob[job.subject] == nextToStore {
                        let reference = subjectFolders[job.subject].lastPathComponent
                        if !pending.isEmpty {
                            do {
                                try await service.enrol(gallery: gallery, reference: reference, samples: pending)
                                enrolledCount += 1
                            } catch {
                                failures.append("\(reference): \(error)")
                            }
                        } else {
                            failures.append("\(reference): no usable image")
                        }
                        pending = []
                    }
                    nextToStore += 1
                }
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        print("enrolled \(enrolledCount) of \(subjectFolders.count) subjects from \(jobs.count) images; "
            + "\(refusals.count) image(s) refused, \(failures.count) subject(s) not enrolled")
        let categories = Dictionary(grouping: refusals, by: \.reason.category)
        for (category, items) in categories.sorted(by: { $0.key < $1.key }) {
            print("  \(category): \(items.count)")
            for item in items { print("    \(item.path): \(item.reason)") }
        }
        for failure in failures { print("  not enrolled: \(failure)") }
    }
}

/// `biomatch search GALLERY IMG`: ranked candidates for the largest face of a probe image.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Search a gallery with the largest face of an image.")

    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var engineOptions: EngineOptions
    @Argument(help: "The gallery's name.") var gallery: String
    @Argument(help: "The probe image.") var image: String
    @Option(help: "Most candidates to return.") var k = 10
    @Option(help: "Lowest score reported (default: the gallery's operating threshold).") var threshold: Float?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let service = try await databaseOptions.openService(engine: try engineOptions.makeEngine())
        let probe = try await service.probeTemplate(imageBytes: try readImageFile(image))
        let candidates = try service.search(gallery: gallery, probes: [probe], k: k, threshold: threshold)
        if json {
            try printJSON(candidates)
        } else if candidates.isEmpty {
            print("no candidate at or above the threshold")
        } else {
            for candidate in candidates {
                print(String(format: "%3d  %.4f  %@", candidate.rank, candidate.score, candidate.subjectReference))
            }
        }
    }
}

/// `biomatch verify GALLERY --subject REF IMG`: one-to-one comparison with an enrolled subject.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Compare the largest face of an image with one enrolled subject.")

    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var engineOptions: EngineOptions
    @Argument(help: "The gallery's name.") var gallery: String
    @Option(help: "The subject's external reference.") var subject: String
    @Argument(help: "The probe image.") var image: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let service = try await databaseOptions.openService(engine: try engineOptions.makeEngine())
        let probe = try await service.probeTemplate(imageBytes: try readImageFile(image))
        let verification = try await service.verify(gallery: gallery, template: probe, subjectReference: subject)
        if json {
            try printJSON(verification)
        } else {
            print(String(
                format: "%@: score %.4f, threshold %.4f: %@", verification.subjectReference, verification.score,
                verification.threshold, verification.isMatch ? "match" : "no match"))
        }
    }
}
