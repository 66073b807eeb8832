import Foundation
@testable import ONNXRuntime
import Testing

/// The process's resident set size in KiB (`VmRSS` in /proc/self/status).
private func residentKiB() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
    return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
}

/// Measures resident growth over up to `rounds` repetitions of `work`, stopping at the first
/// round that grows less than `slackKiB`, and ends the process: status 0 when some round stayed
/// under the slack, 1 (the growths written to standard error) when every round grew.
///
/// Called inside an exit test, so it runs in a child process of its own: the other tests, which
/// share the test process and allocate while they run, cannot move its resident memory. A real
/// leak grows every round by the same amount and never gets under the slack.
private func exitAfterMeasuringResidentGrowth(
    _ what: String, rounds: Int = 5, slackKiB: Int = ORTMemoryTests.slackKiB, _ work: () throws -> Void
) throws -> Never {
    var growths: [Int] = []
    for _ in 0..<rounds {
        let before = try residentKiB()
        try work()
        let growth = try residentKiB() - before
        growths.append(growth)
        if growth < slackKiB { exit(EXIT_SUCCESS) }
    }
    FileHandle.standardError.write(Data("resident growth per \(what), KiB: \(growths)\n".utf8))
    exit(EXIT_FAILURE)
}

@Suite("ORT handles are released")
struct ORTMemoryTests {
    static let slackKiB = 2048

    /// Outputs of 2 x 24 KiB per run: leaking them would add about 48 MiB per thousand runs.
    @Test func aThousandRunsDoNotGrowResidentMemory() async {
        await #expect(processExitsWith: .success) {
            let batch = 2048
            let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
            let input = try ORTTensor(shape: [batch, 4], values: sampleInput(batch: batch))
            for _ in 0..<50 { _ = try session.run(["x": input]) }
            try exitAfterMeasuringResidentGrowth("1,000 runs") {
                for _ in 0..<1000 { _ = try session.run(["x": input]) }
            }
        }
    }

    /// Per-call wrappers (the input OrtValue, type-and-shape records) are a few hundred bytes;
    /// 20,000 runs make leaking any of them exceed the slack.
    @Test func twentyThousandSmallZeroCopyRunsDoNotGrowResidentMemory() async {
        await #expect(processExitsWith: .success) {
            let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
            let input: [Float] = [1, -2, 3, -4]
            try input.withUnsafeBufferPointer { buffer in
                for _ in 0..<500 { _ = try session.run(inputName: "x", shape: [1, 4], data: buffer) }
                try exitAfterMeasuringResidentGrowth("20,000 runs") {
                    for _ in 0..<20_000 { _ = try session.run(inputName: "x", shape: [1, 4], data: buffer) }
                }
            }
        }
    }

    /// Every failing ORT call hands over an OrtStatus that the binding must release. A failing
    /// `Run` costs ORT about 0.4 ms, so statuses are made directly with CreateStatus, each
    /// holding a 1 KB message: leaking them would add about 5 MiB per round.
    @Test func fiveThousandErrorStatusesAreReleased() async {
        await #expect(processExitsWith: .success) {
            let api = try sharedEnvironment().api
            let message = String(repeating: "e", count: 1000)
            let failOnce = {
                do {
                    try api.check(api.createStatus(1, message), "leak probe")
                    FileHandle.standardError.write(Data("a non-null status must throw\n".utf8))
                    exit(EXIT_FAILURE)
                } catch {}
            }
            for _ in 0..<500 { failOnce() }
            try exitAfterMeasuringResidentGrowth("5,000 statuses") {
                for _ in 0..<5000 { failOnce() }
            }
        }
    }

    @Test func creatingAndDroppingSessionsDoesNotGrowResidentMemory() async {
        await #expect(processExitsWith: .success) {
            let environment = try sharedEnvironment()
            let modelPath = try resourcePath("tiny_dense", "onnx")
            let input = try ORTTensor(shape: [64, 4], values: sampleInput(batch: 64))
            let cycle = {
                let session = try ORTSession(environment: environment, modelPath: modelPath)
                _ = try session.run(["x": input])
            }
            for _ in 0..<20 { try cycle() }
            try exitAfterMeasuringResidentGrowth("200 sessions") {
                for _ in 0..<200 { try cycle() }
            }
        }
    }
}
