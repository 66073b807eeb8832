import ArgumentParser
import DlibEngine
import FaceEngine
import Foundation
import Installation
import ONNXRuntime
import SFaceEngine

/// Face-engine settings shared by every command that analyses images.
struct EngineOptions: ParsableArguments {
    @Option(help: "Longest side, in pixels, of the image the detector sees.")
    var maxDetectionSide: Int = 640

    @Option(help: "Lowest detector score kept, 0...1.")
    var scoreThreshold: Float = 0.6

    @Option(help: "Smallest face kept, in pixels of the original image.")
    var minFaceSize: Double = 0

    /// The engine configuration these flags describe.
    var configuration: FaceEngineConfiguration {
        FaceEngineConfiguration(
            maximumDetectionSide: maxDetectionSide,
            scoreThreshold: scoreThreshold,
            minimumFaceSize: minFaceSize,
            // Enrolment and search keep each aligned face, sealed, for reviewers.
            keepsAlignedCrops: true
        )
    }

    func validate() throws {
        if let problem = configuration.problem { throw ValidationError(problem) }
    }

    /// Loads the engine from the installation named by the environment.
    func makeEngine() throws -> FaceEngine {
        try FaceEngine(installation: .fromEnvironment(), configuration: configuration)
    }

    /// The recognition engines this build installs, on `faceEngine`'s shared detector and
    /// runtime: the one place that names them.
    static func registry(faceEngine: FaceEngine, installation: Installation) throws -> RecognitionEngineRegistry {
        let runtime = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        let engines: [any RecognitionEngine] = [
            SFaceRecognitionEngine(faceEngine: faceEngine, installation: installation),
            try DlibRecognitionEngine(environment: runtime, installation: installation),
        ]
        return try RecognitionEngineRegistry(engines: engines, defaultIdentifier: SFaceRecognitionEngine.identifier)
    }
}

extension RecognitionEngineRegistry {
    /// Every engine's profile, the default engine's first.
    var profilesDefaultFirst: [RecognitionEngineProfile] {
        let profiles = engines.map(\.profile)
        return profiles.filter { $0.identifier == defaultIdentifier } + profiles.filter { $0.identifier != defaultIdentifier }
    }
}

/// Reads an image file, turning a missing or unreadable file into a clear message.
func readImageFile(_ path: String) throws -> [UInt8] {
    do {
        return Array(try Data(contentsOf: URL(filePath: path)))
    } catch {
        throw CommandFailure("Cannot read \(path): \((error as NSError).localizedDescription)")
    }
}

/// Prints a value as one line of JSON with sorted keys, so output can be diffed and parsed.
func printJSON<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A failure the CLI reports as one sentence, without the usage text `ValidationError` adds.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
