import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Installation
import Operations

/// The governed operations over the local store, for commands that analyse images.
extension StoreOptions {
    /// Opens the store with the governance tables and the operations over it, loading each
    /// gallery's index from its snapshot beside the database when fresh (rebuilding otherwise).
    /// The recognition engines beyond the detector's SFace are loaded only when a gallery, or
    /// `engines`, names one (loading dlib's models costs time every command would pay).
    func openOperations(engine: FaceEngine, engines: [String] = []) async throws -> MatcherOperations {
        let opened = try await open()
        let named = Set(try await opened.store.galleries().flatMap { $0.engines.map(\.identifier) } + engines)
        let recognisers = named.subtracting([GalleryEngine.legacyIdentifier]).isEmpty
            ? nil : try EngineOptions.registry(faceEngine: engine, installation: .fromEnvironment())
        return try await MatcherOperations.open(
            store: opened.store, engine: engine, recognisers: recognisers, snapshotDirectory: opened.snapshotDirectory,
            indexEncoding: try IndexEncoding.fromEnvironment())
    }
}

/// `--purpose` and `--case-reference`, required by every search and verification.
struct JustificationOptions: ParsableArguments {
    @Option(help: "Why the search is made: one of the configured purposes (BIOMATCH_SEARCH_PURPOSES).")
    var purpose: String

    @Option(help: "The case the search serves; recorded in the audit log.")
    var caseReference: String

    var stated: StatedJustification { StatedJustification(purpose: purpose, caseReference: caseReference) }
}

extension GalleryPurpose: ExpressibleByArgument {}

/// `biomatch gallery create|list|show`.
struct GalleryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery", abstract: "Create and inspect galleries.",
        subcommands: [
            CreateGallery.self, ListGalleries.self, ShowGallery.self, SetThreshold.self, DeleteGallery.self, AddEngine.self,
            DropEngine.self,
        ])

    /// `biomatch gallery create NAME --purpose P`.
    struct CreateGallery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a gallery.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's unique name.") var name: String
        @Option(help: "Why the gallery exists: \(GalleryPurpose.allCases.map(\.rawValue).joined(separator: ", ")).")
        var purpose: GalleryPurpose
        @Option(help: "Free text shown with the gallery.") var description = ""
        @Option(help: "The default engine's operating threshold in its native unit (default: the engine's published one; SFace: lowest cosine reported, 0.363; dlib: largest distance, 0.6).")
        var threshold: Float?
        @Option(help: "Erase subjects this many days after enrolment (default: keep).") var retentionDays: Int?
        @Option(help: "The engines whose templates the gallery holds, comma-separated (default: sface; see `biomatch engines list`).")
        var engines: String?
        @Option(help: "The engine searches use when they name none (default: the first of --engines).")
        var defaultEngine: String?
        @Flag(help: "Do not keep enrolment images (sealed) for re-templating: an engine added later then needs the images supplied again.")
        var noKeptImages = false

        var engineNames: [String]? {
            engines.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        }

        func validate() throws {
            if let threshold, !(threshold.isFinite && (-1...1).contains(threshold)) {
                throw ValidationError("--threshold must lie in -1...1")
            }
            if let retentionDays, retentionDays <= 0 { throw ValidationError("--retention-days must be positive") }
            if let engineNames, engineNames.isEmpty || engineNames.contains("") {
                throw ValidationError("--engines must name at least one engine, comma-separated")
            }
        }

        func run() async throws {
            let operations = try await databaseOptions.openOperations(
                engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)),
                engines: engineNames ?? [])
            let record = try await operations.createGallery(
                GalleryDraft(
                    name: name, description: description, purpose: purpose, retentionDays: retentionDays,
                    operatingThreshold: threshold, engines: engineNames, defaultEngine: defaultEngine,
                    keepsEnrolmentImages: !noKeptImages),
                by: StoreOptions.caller)
            print("created \(describe(record))")
        }
    }

    /// `biomatch gallery list`.
    struct ListGalleries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List galleries.")

        @OptionGroup var databaseOptions: StoreOptions

        func run() async throws {
            let store = try await databaseOptions.openStore()
            for record in try await store.galleries() {
                let counts = try await store.counts(in: record.id)
                print("\(describe(record)), \(counts.subjects) subjects, \(counts.templates) templates")
            }
        }
    }

    /// `biomatch gallery show NAME`.
    struct ShowGallery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one gallery.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var name: String

        func run() async throws {
            let store = try await databaseOptions.openStore()
            let record = try await store.gallery(named: name)
            let counts = try await store.counts(in: record.id)
            print("name:        \(record.name)")
            print("purpose:     \(record.purpose.rawValue)")
            print("description: \(record.description)")
            print("threshold:   \(record.operatingThreshold)")
            print("retention:   \(record.retention.days.map { "\($0) days after enrolment" } ?? "indefinite")")
            print("model:       \(record.modelIdentifier)")
            for engine in record.engines {
                let threshold = record.operatingThreshold(of: engine.identifier).map { " threshold \($0)" } ?? ""
                let isDefault = engine.identifier == record.defaultEngine ? " (default)" : ""
                let templating = engine.templatingJob.map { " (being added: job \($0); resume with gallery add-engine)" } ?? ""
                print("engine:      \(engine.identifier)\(isDefault): \(engine.templateModel)\(threshold)\(templating)")
            }
            print("images:      \(record.settings.keepsEnrolmentImages ? "kept, sealed (for re-templating)" : "not kept")")
            if let fusion = record.settings.fusion {
                let parts = fusion.statistics.sorted { $0.key < $1.key }
                    .map { "\($0.key) impostor mean \($0.value.mean) sd \($0.value.deviation)" }
                print("fusion:      threshold \(fusion.threshold) for FMR \(fusion.targetFalseMatchRate); \(parts.joined(separator: "; "))")
                print("             calibrated on \(fusion.source)")
            }
            print("created:     \(record.createdAt.formatted(.iso8601))")
            print("subjects:    \(counts.subjects)")
            print("templates:   \(counts.templates)")
        }
    }

    /// `biomatch gallery threshold NAME VALUE --reason TEXT [--engine E]`.
    struct SetThreshold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "threshold",
            abstract: "Set a gallery's operating threshold, or one of its engines'; the reason goes to the audit log.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var name: String
        @Argument(help: "The new threshold in the engine's native unit: a cosine in -1...1, or a distance in 0...1.")
        var threshold: Float
        @Option(help: "Why the threshold changes (for example the calibration it comes from).") var reason: String
        @Option(help: "The engine whose threshold changes (default: the gallery's default engine, whose threshold is the gallery's).")
        var engine: String?

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let record = try await operations.setThreshold(
                threshold, engine: engine, gallery: name, reason: reason, by: StoreOptions.caller)
            print("updated \(describe(record))")
        }
    }

    /// `biomatch gallery delete NAME --confirm`.
    struct DeleteGallery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete", abstract: "Erase a gallery with all its subjects and templates.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var name: String
        @Flag(help: "Confirm the erasure; it cannot be undone.") var confirm = false

        func validate() throws {
            guard confirm else { throw ValidationError("erasing a gallery cannot be undone: add --confirm") }
        }

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let erasure = try await operations.deleteGallery(name, by: StoreOptions.caller)
            print("erased gallery '\(name)': \(erasure.counts.subjects) subjects, \(erasure.counts.templates) templates")
        }
    }
}

/// `biomatch subject list|show|add-images|delete|access`.
struct SubjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject", abstract: "List, show, extend and erase enrolled subjects.",
        subcommands: [List.self, Show.self, AddImages.self, Delete.self, Access.self])

    /// `biomatch subject list GALLERY [--after ID] [--limit N]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a gallery's subjects, a page at a time.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var gallery: String
        @Option(help: "Start after this subject id (the previous page's cursor).") var after: Int64?
        @Option(help: "Subjects per page.") var limit = 100

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let page = try await operations.subjects(
                in: gallery, after: after.map(SubjectRecord.ID.init), limit: limit, by: StoreOptions.caller)
            for subject in page.subjects {
                print("\(subject.id.rawValue)  \(subject.externalReference)  enrolled \(subject.createdAt.formatted(.iso8601))")
            }
            if let cursor = page.nextCursor { print("more: --after \(cursor.rawValue)") }
        }
    }

    /// `biomatch subject show GALLERY REF`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a subject and its templates (never the vectors).")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var gallery: String
        @Argument(help: "The subject's external reference.") var reference: String

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let enrolled = try await operations.subject(reference, in: gallery, by: StoreOptions.caller)
            print("subject:     \(enrolled.subject.externalReference) (id \(enrolled.subject.id.rawValue))")
            print("attributes:  \(enrolled.subject.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
            print("retain until: \(enrolled.subject.retainUntil?.formatted(.iso8601) ?? "gallery rule")")
            for template in enrolled.templates {
                print("template \(template.id.rawValue): \(template.modelIdentifier), detector score "
                    + String(format: "%.3f", template.quality.detectionScore) + ", image sha256 \(template.sourceImageSHA256)")
            }
        }
    }

    /// `biomatch subject add-images GALLERY REF IMG...`.
    struct AddImages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-images", abstract: "Add photos to an enrolled subject, all or nothing.")

        @OptionGroup var databaseOptions: StoreOptions
        @OptionGroup var engineOptions: EngineOptions
        @Argument(help: "The gallery's name.") var gallery: String
        @Argument(help: "The subject's external reference.") var reference: String
        @Argument(help: "Image files.") var images: [String]

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try engineOptions.makeEngine())
            let added = try await operations.addImages(
                gallery: gallery, reference: reference, images: try images.map(readImageFile),
                by: StoreOptions.caller)
            print("added \(added.count) template(s) to '\(reference)'")
            await operations.identification.writeSnapshots()
        }
    }

    /// `biomatch subject delete GALLERY REF`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a subject at once: its templates leave the store and the index; the audit keeps hashes only.")

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var gallery: String
        @Argument(help: "The subject's external reference.") var reference: String
        @Option(help: "Why the subject is erased (recorded in the audit log).") var reason = "erasure requested"

        func run() async throws {
            let operations = try await databaseOptions.openOperations(engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let erasure = try await operations.eraseSubject(
                reference, in: gallery, reason: reason, by: StoreOptions.caller)
            print("erased '\(reference)' and \(erasure.templateIDs.count) template(s)")
            await operations.identification.writeSnapshots()
        }
    }
}

private func describe(_ record: GalleryRecord) -> String {
    "gallery '\(record.name)' (\(record.purpose.rawValue), engines \(record.engines.map(\.identifier).joined(separator: ",")), "
        + "default \(record.defaultEngine), threshold \(record.operatingThreshold))"
}

/// `biomatch enrol GALLERY --subject REF IMG...` or `biomatch enrol GALLERY --folder DIR`.
struct EnrolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrol",
        abstract: "Enrol a subject from images, or a folder with one sub-folder of images per subject.")

    @OptionGroup var databaseOptions: StoreOptions
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
        let operations = try await databaseOptions.openOperations(engine: try engineOptions.makeEngine())
        if let subject {
            let enrolled = try await operations.enrol(
                EnrolmentRequest(gallery: gallery, reference: subject, images: try images.map(readImageFile)),
                by: StoreOptions.caller)
            print("enrolled '\(subject)' as \(enrolled.subject.id) with \(enrolled.templates.count) template(s)")
        } else if let folder {
            try await enrolFolder(URL(filePath: folder, directoryHint: .isDirectory), into: operations)
        }
        // The next command then loads the index instead of reading every template.
        await operations.identification.writeSnapshots()
    }

    private struct Job: Sendable {
        var subject: Int
        var path: URL
    }

    /// Examines two images at a time (one per core) and stores subjects in folder order.
    private func enrolFolder(_ folder: URL, into operations: MatcherOperations) async throws {
        let manager = FileManager.default
        _ = try await operations.gallery(gallery, by: StoreOptions.caller)
        let listed: [URL]
        do {
            listed = try manager.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.isDirectoryKey])
        } catch {
            throw CommandFailure("Cannot read the folder \(folder.path): \((error as NSError).localizedDescription)")
        }
        let subjectFolders = listed
            .filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !subjectFolders.isEmpty else {
            throw CommandFailure("\(folder.path) holds no sub-folders: bulk enrolment expects one sub-folder of images per subject")
        }
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
                    return (position, try await operations.examine(imageBytes: Array(bytes), gallery: gallery))
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
                                try await operations.enrol(
                                    EnrolmentRequest(gallery: gallery, reference: reference, images: []), samples: pending,
                                    by: StoreOptions.caller)
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

    @OptionGroup var databaseOptions: StoreOptions
    @OptionGroup var engineOptions: EngineOptions
    @Argument(help: "The gallery's name.") var gallery: String
    @Argument(help: "The probe image.") var image: String
    @OptionGroup var justification: JustificationOptions
    @Option(help: "Most candidates to return.") var k = 10
    @Option(help: "Lowest score reported (default and minimum: the gallery's operating threshold).") var threshold: Float?
    @Option(help: "Which face of the probe to search, from 0 in detection order (default: the largest).") var face: Int?
    @Option(help: "The engine to search with: one of the gallery's, or 'fusion' (default: the gallery's default).")
    var engine: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let operations = try await databaseOptions.openOperations(engine: try engineOptions.makeEngine())
        let outcome = try await operations.search(
            SearchRequest(
                gallery: gallery, image: try readImageFile(image), justification: justification.stated, k: k,
                threshold: threshold, faceIndex: face, engine: engine),
            by: StoreOptions.caller)
        let candidates = outcome.candidates.map {
            Candidate(
                rank: $0.rank, subjectReference: $0.subjectReference, subjectID: $0.subjectID, score: $0.score,
                bestTemplateID: $0.bestTemplateID, engineScores: $0.engineScores)
        }
        let direction = operations.identification.operatingPoint(gallery: outcome.gallery, engine: outcome.engine)
            .higherIsMoreAlike ? "higher is more alike" : "lower is more alike" 
        if json {
            try printJSON(candidates)
            return
        }
        if outcome.faces.count > 1 {
            print("\(outcome.faces.count) faces in the probe; searched face \(outcome.searchedFace) (use --face to choose)")
        }
        print("engine \(outcome.engine): scores \(direction), threshold \(outcome.threshold)")
        if candidates.isEmpty {
            print("no candidate meets the threshold \(outcome.threshold)")
        } else {
            for candidate in candidates {
                print(String(format: "%3d  %.4f  %@", candidate.rank, candidate.score, candidate.subjectReference))
            }
        }
        print("leads for review, not identifications; audit entry \(outcome.auditSequence)")
    }
}

/// `biomatch verify GALLERY --subject REF IMG`: one-to-one comparison with an enrolled subject.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Compare the largest face of an image with one enrolled subject.")

    @OptionGroup var databaseOptions: StoreOptions
    @OptionGroup var engineOptions: EngineOptions
    @Argument(help: "The gallery's name.") var gallery: String
    @Option(help: "The subject's external reference.") var subject: String
    @Argument(help: "The probe image.") var image: String
    @OptionGroup var justification: JustificationOptions
    @Option(help: "Decision threshold in the engine's native unit (default: the gallery's for the engine).")
    var threshold: Float?
    @Option(help: "The engine to compare with: one of the gallery's, or 'fusion' (default: the gallery's default).")
    var engine: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let operations = try await databaseOptions.openOperations(engine: try engineOptions.makeEngine())
        let outcome = try await operations.verify(
            SubjectVerificationRequest(
                gallery: gallery, subjectReference: subject, image: try readImageFile(image),
                justification: justification.stated, threshold: threshold, engine: engine),
            by: StoreOptions.caller)
        let verification = Verification(
            subjectReference: subject, engine: outcome.engine, score: outcome.score, threshold: outcome.threshold,
            isMatch: outcome.isMatch, engineScores: outcome.engineScores)
        if json {
            try printJSON(verification)
        } else {
            print(String(
                format: "%@: %@ score %.4f, threshold %.4f: %@", verification.subjectReference, verification.engine,
                verification.score, verification.threshold, verification.isMatch ? "match" : "no match"))
        }
    }
}
