import ArgumentParser
import FaceEngine
import Foundation
import Installation

/// `biomatch engines`: the recognition engines this installation can run.
struct EnginesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines",
        abstract: "The recognition engines installed.",
        subcommands: [EnginesListCommand.self],
        defaultSubcommand: EnginesListCommand.self
    )
}

/// `biomatch engines list`: each engine with its template, comparison, operating point and model digests.
struct EnginesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List each installed engine with its comparison, operating point and model files' SHA-256."
    )

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let installation = Installation.fromEnvironment()
        let faceEngine = try FaceEngine(installation: installation)
        let registry = try EngineOptions.registry(faceEngine: faceEngine, installation: installation)
        let profiles = registry.profilesDefaultFirst
        if json {
            try printJSON(EngineList(defaultEngine: registry.defaultIdentifier, engines: profiles))
            return
        }
        for profile in profiles {
            let marker = profile.identifier == registry.defaultIdentifier ? " (default)" : ""
            let direction = profile.comparison.higherIsMoreAlike ? "at or above" : "below"
            print("\(profile.identifier)\(marker): \(profile.templateModel), \(profile.templateLength) values")
            print("  chip: \(profile.chip.side)x\(profile.chip.side) \(profile.chip.colourOrder), \(profile.chip.normalisation); \(profile.chip.alignment)")
            print("  comparison: \(profile.comparison.rawValue), same person \(direction) \(profile.sameSubjectThreshold)")
            for model in profile.models {
                print("  \(model.role): \(model.file) sha256 \(model.originalSHA256)")
                if let prepared = model.preparedSHA256 { print("    prepared sha256 \(prepared)") }
            }
        }
    }

    private struct EngineList: Encodable {
        var defaultEngine: String
        var engines: [RecognitionEngineProfile]
    }
}
