import Foundation
import Synchronization

// What several benchmarks need: fresh child processes of this binary, page-cache control, the
// process's memory figures, progress lines and number formatting.

/// Runs this binary again with `arguments` (a benchmark's hidden child mode) and decodes the last
/// line it prints as `Report`, so a measurement starts in a process that did nothing else.
func runBenchChild<Report: Decodable>(_ arguments: [String], as _: Report.Type, describing what: String) throws -> Report {
    let process = Process()
    process.executableURL = URL(filePath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last else {
        throw CommandFailure("the \(what) child process failed (status \(process.terminationStatus))")
    }
    return try JSONDecoder().decode(Report.self, from: Data(line.utf8))
}

/// Asks the kernel to forget the files' cached pages (files written with fsync have clean pages),
/// so the next read comes from the disk; other files' caches are untouched.
func dropCachedPages(of paths: [String]) throws {
    for path in paths {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CommandFailure("cannot open \(path)") }
        defer { close(descriptor) }
        let status = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        guard status == 0 else { throw CommandFailure("posix_fadvise failed on \(path): \(status)") }
    }
}

/// A `kB` line of /proc/self/status (`VmRSS`, `VmHWM`), in bytes.
func processStatusBytes(_ key: String) throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
          let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { throw CommandFailure("no \(key) in /proc/self/status") }
    return kilobytes * 1024
}

/// A progress line on standard error (standard output ends with the benchmark's JSON line).
func benchLog(_ line: String) {
    FileHandle.standardError.write(Data(("  " + line + "\n").utf8))
}

/// `value` with `decimals` digits after the point.
func format(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

/// Hands out work item numbers to concurrent workers.
final class WorkCounter: Sendable {
    private let next = Atomic<Int>(0)

    /// The next unclaimed item number.
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// Seconds for `workers` concurrent tasks to run `body` on item numbers `0..<items`, each task
/// taking the next unclaimed number until none is left.
func secondsOnWorkers(_ workers: Int, items: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
    let next = WorkCounter()
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<workers {
            group.addTask {
                while true {
                    let index = next.take()
                    guard index < items else { return }
                    try await body(index)
                }
            }
        }
        try await group.waitForAll()
    }
    return (clock.now - start).seconds
}
