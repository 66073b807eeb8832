import ArgumentParser
import Foundation
import Gallery
import Installation
import Logging
import ONNXRuntime
import Server

/// `biomatch serve`: runs the HTTP API until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the BioMatch HTTP API.",
        discussion: "Reads BIOMATCH_HOST and BIOMATCH_PORT when the flags are not given."
    )

    @Option(help: "Interface to listen on (default 127.0.0.1, or BIOMATCH_HOST).")
    var host: String?

    @Option(help: "Port to listen on (default 8080, or BIOMATCH_PORT).")
    var port: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port must be between 0 and 65535")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = ServerConfiguration(
            host: host ?? environment["BIOMATCH_HOST"] ?? "127.0.0.1",
            port: port ?? environment["BIOMATCH_PORT"].flatMap(Int.init) ?? 8080
        )
        let logger = Logger(label: "biomatch.serve")
        let installation = Installation.fromEnvironment()
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        var health = try HealthReport.gather(installation: installation, runtime: runtime)
        // The embedded default: a SQLite file under the data folder, created and migrated here.
        let databaseFile = SQLiteGalleryStore.defaultLocation(in: installation)
        try FileManager.default.createDirectory(
            at: databaseFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        let store = try SQLiteGalleryStore(location: databaseFile)
        let galleries = try await store.galleries()
        health.storage = "sqlite:\(databaseFile.path)"
        logger.info("gallery store open", metadata: [
            "store.path": "\(databaseFile.path)", "store.galleries": "\(galleries.count)",
        ])
        let app = buildApplication(configuration: configuration, health: health, logger: logger)
        try await app.runService()
    }
}
