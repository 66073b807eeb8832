import Foundation

/// Runs a reference script in a virtual environment the repository's scripts create, and reads
/// the one JSON line it prints last.
struct PythonAnchor {
    /// The script under `scripts/` that creates the environment and prints its python path.
    var environmentScript: String
    /// The Python program, relative to the repository root.
    var program: String

    /// Runs `program` with `arguments` and decodes its last output line.
    func run<Result: Decodable>(arguments: [String], as type: Result.Type) throws -> Result {
        let repository = URL(filePath: FileManager.default.currentDirectoryPath)
        let python = try Self.capture(
            executable: repository.appending(path: environmentScript).path, arguments: [])
            .trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "\n").last.map(String.init) ?? ""
        guard !python.isEmpty else { throw CommandFailure("\(environmentScript) printed no python path") }
        let output = try Self.capture(
            executable: python, arguments: [repository.appending(path: program).path] + arguments)
        guard let line = output.split(separator: "\n").last else {
            throw CommandFailure("\(program) printed nothing")
        }
        do {
            return try JSONDecoder().decode(Result.self, from: Data(line.utf8))
        } catch {
            throw CommandFailure("\(program) printed an unexpected line: \(line)")
        }
    }

    private static func capture(executable: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            throw CommandFailure("Cannot run \(executable): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure("\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
