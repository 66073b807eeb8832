import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Governance
import Identification
import Installation
import Logging
import ModelPreparation
import ONNXRuntime
import Operations
import Server
import Transparency

/// `biomatch serve`: runs the HTTP API until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the BioMatch HTTP API.",
        discussion: """
            Flags win over the environment: BIOMATCH_HOST, BIOMATCH_PORT, BIOMATCH_MAX_BODY_BYTES, \
            BIOMATCH_RATE_LIMIT, BIOMATCH_RATE_BURST, BIOMATCH_RETENTION_SWEEP_SECONDS (default 3600), \
            BIOMATCH_SEARCH_PURPOSES, BIOMATCH_STORE (as --store), BIOMATCH_SNAPSHOT_DIRECTORY (index \
            snapshots of a PostgreSQL store), BIOMATCH_INDEX_ENCODING (int8-rerank, the default: exact results; \
            int8: codes only, for tens of millions of templates), BIOMATCH_AUDIT_SIGNING_KEY (the checkpoint \
            signing key; else BIOMATCH_HOME/data/audit-signing.key, made on first start, named \
            BIOMATCH_AUDIT_ORIGIN or biomatch/audit), BIOMATCH_CHECKPOINT_ENTRIES (1000) and \
            BIOMATCH_CHECKPOINT_SECONDS (60): a checkpoint after that many entries or that long. On the first start with an empty \
            store it prints a bootstrap admin key, once, on its own line on standard output.
            """
    )

    @Option(help: "Interface to listen on (default 127.0.0.1, or BIOMATCH_HOST).")
    var host: String?

    @Option(help: "Port to listen on (default 8080, or BIOMATCH_PORT).")
    var port: Int?

    @OptionGroup var storeOptions: StoreOptions

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port must be between 0 and 65535")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = Logger(label: "biomatch.serve")
        var (configuration, problems) = ServerConfiguration.fromEnvironment(environment)
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        for problem in problems { logger.warning("\(problem)") }
        let sweepInterval = environment["BIOMATCH_RETENTION_SWEEP_SECONDS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 3_600
        let feedRetentionDays = environment["BIOMATCH_FEED_RETENTION_DAYS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 7
        // Analyses beyond one per core only wait; beyond this many waiting per core, 503 at once.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let queuePerCore = environment["BIOMATCH_ANALYSIS_QUEUE_PER_CORE"].flatMap(Int.init).flatMap { $0 >= 0 ? $0 : nil } ?? 8
        let admission = AnalysisAdmission(concurrency: cores, queueLimit: queuePerCore * cores)

        let installation = Installation.fromEnvironment()
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        var health = try HealthReport.gather(installation: installation, runtime: runtime)
        warnAboutStalePreparations(installation: installation, logger: logger)
        // The embedded default is a SQLite file under the data folder; --store or BIOMATCH_STORE
        // may name a PostgreSQL database on several hosts instead.
        // A node may start before its database: wait a minute for a primary, then give up.
        let opened = try await storeOptions.open(waitForPrimary: .seconds(60))
        let store = opened.store
        health.storage = opened.location.description

        let metrics = ServerMetrics()
        let engine = try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        let recognition = try EngineOptions.registry(faceEngine: engine, installation: installation)
        health.engines = recognition.profilesDefaultFirst
        // Galleries may name any engine of the registry: each gets its index and enrols with it.
        let operations = try await MatcherOperations.open(
            store: store, engine: engine, recognisers: recognition, snapshotDirectory: opened.snapshotDirectory,
            indexEncoding: try IndexEncoding.fromEnvironment(environment), analysisObserver: metrics.record,
            admission: admission)
        logger.info("gallery store open", metadata: [
            "store.location": "\(opened.location)", "store.galleries": "\(operations.identification.galleryNames.count)",
        ])
        for report in operations.identification.indexReports {
            logger.info(
                "gallery '\(report.gallery)': \(report.templates) templates, index \(report.origin), \(Int(report.milliseconds.rounded())) ms",
                metadata: [
                    "gallery.name": "\(report.gallery)", "index.templates": "\(report.templates)",
                    "index.origin": "\(report.origin)", "index.milliseconds": "\(Int(report.milliseconds.rounded()))",
                ])
            if let problem = report.snapshotProblem {
                logger.warning("gallery '\(report.gallery)': no snapshot written", metadata: ["snapshot.problem": "\(problem)"])
            }
        }
        if let issued = try await operations.keys.bootstrapAdminKey() {
            standardError("""
                The store had no API key: created \(KeysCommand.summary(of: issued.key)).
                Its secret follows on standard output; it is shown this once and stored only as a SHA-256 digest.
                """)
            // Straight to the descriptor: a pipe reading it must not wait on a buffer.
            FileHandle.standardOutput.write(Data((issued.secret + "\n").utf8))
        }

        let engineJobs = EngineJobRunner(operations: operations, logger: logger)
        let application = buildApplication(
            configuration: configuration,
            dependencies: ServerDependencies(operations: operations, health: health, metrics: metrics, engineJobs: engineJobs),
            logger: logger)
        let sweeper = RetentionSweeperService(
            operations: operations, interval: .seconds(sweepInterval), feedRetention: .seconds(feedRetentionDays * 24 * 3_600),
            logger: logger)
        let follower = IndexFollowerService(service: operations.identification, logger: logger)
        let signer = try AuditSigningKey.loadOrCreate(
            file: AuditKeyOptions.defaultKeyFile(installation: installation), origin: AuditKeyOptions.origin(environment))
        let checkpoints = AuditCheckpointService(
            operations: operations, signer: signer,
            entries: environment["BIOMATCH_CHECKPOINT_ENTRIES"].flatMap(Int64.init).flatMap { $0 > 0 ? $0 : nil } ?? 1_000,
            interval: .seconds(environment["BIOMATCH_CHECKPOINT_SECONDS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 60),
            logger: logger)
        logger.info("audit checkpoints signed by \(signer.verifier.encoded)")
        try await BioMatchServer.serviceGroup(
            application: application,
            closeStore: {
                // After the HTTP server and the sweeper stopped: nothing changes the indexes now.
                for (gallery, outcome) in await operations.identification.writeSnapshots().sorted(by: { $0.key < $1.key }) {
                    logger.info("gallery '\(gallery)': index snapshot \(outcome)")
                }
                await opened.close()
            },
            logger: logger, otherServices: [follower, sweeper, EngineJobService(runner: engineJobs), checkpoints]
        ).run()
    }

    /// A prepared file made by an earlier preparation pass (or from another source) still loads,
    /// but may run slower than the current pass makes it: say so, with the fix.
    private func warnAboutStalePreparations(installation: Installation, logger: Logger) {
        let preparer = ModelPreparer(installation: installation)
        for model in PinnedModel.allCases {
            guard let status = try? preparer.status(of: model), let recorded = status.preparation, !status.isUpToDate
            else { continue }
            logger.warning(
                "the prepared \(model.rawValue) model is not current (made by preparation pass \(recorded.toolVersion), this build's is \(ModelPreparer.toolVersion), or from another source); run `biomatch models prepare`",
                metadata: ["model.file": "\(recorded.file.path)"])
        }
    }
}
