import ONNXRuntime
import Testing

@Suite("Running a real model")
struct ORTSessionTests {
    @Test func reportsTheRuntimeVersionOfTheInstalledLibrary() throws {
        let environment = try ORTEnvironment(libraryPath: runtimeLibraryPath, logIdentifier: "version-test")
        #expect(environment.runtimeVersion == "1.32.0")
    }

    @Test func describesInputsAndOutputsWithSymbolicBatchAsMinusOne() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        #expect(session.inputs == [ORTValueInfo(name: "x", shape: [-1, 4])])
        #expect(session.outputs == [ORTValueInfo(name: "y", shape: [-1, 3]), ORTValueInfo(name: "logits", shape: [-1, 3])])
    }

    @Test(arguments: [1, 3, 7])
    func computesMatMulPlusBiasThenReluForAnyBatchSize(batch: Int) throws {
        let weights = try DenseModelWeights.load()
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let input = sampleInput(batch: batch, seed: batch)

        let results = try session.run(["x": ORTTensor(shape: [batch, 4], values: input)])

        let expectedLogits = weights.logits(for: input)
        let logits = try #require(results["logits"])
        let y = try #require(results["y"])
        #expect(Set(results.keys) == ["y", "logits"])
        #expect(logits.shape == [batch, 3])
        #expect(y.shape == [batch, 3])
        #expect(isClose(logits.values, expectedLogits), "logits \(logits.values) vs \(expectedLogits)")
        #expect(isClose(y.values, expectedLogits.map { max($0, 0) }), "y \(y.values)")
    }

    @Test func emptyBatchGivesEmptyOutputs() throws {
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let results = try session.run(["x": ORTTensor(shape: [0, 4], values: [])])
        #expect(results["y"] == (try ORTTensor(shape: [0, 3], values: [])))
        let zeroCopy = try session.run(inputName: "x", shape: [0, 4], data: UnsafeBufferPointer(start: nil, count: 0))
        #expect(zeroCopy["logits"]?.shape == [0, 3])
    }

    @Test func reluClipsTheNegativeLogitsOfTheSampleInput() throws {
        // Guards the numeric test above: the sample must exercise both sides of the Relu.
        let input = sampleInput(batch: 7, seed: 7)
        let logits = try DenseModelWeights.load().logits(for: input)
        #expect(logits.contains { $0 < -0.1 })
        #expect(logits.contains { $0 > 0.1 })
    }

    @Test func computesOnlyTheRequestedOutputs() throws {
        let weights = try DenseModelWeights.load()
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))
        let input = sampleInput(batch: 2)

        let results = try session.run(["x": ORTTensor(shape: [2, 4], values: input)], outputNames: ["logits"])

        #expect(Array(results.keys) == ["logits"])
        #expect(isClose(try #require(results["logits"]).values, weights.logits(for: input)))
    }

    @Test func zeroCopyRunReadsTheCallersBufferInPlace() throws {
        let weights = try DenseModelWeights.load()
        let session = try ORTSession(
            environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"), intraOpThreads: 2)
        let input = sampleInput(batch: 5, seed: 3)

        let results = try input.withUnsafeBufferPointer { buffer in
            try session.run(inputName: "x", shape: [5, 4], data: buffer, outputNames: ["y"])
        }

        let y = try #require(results["y"])
        #expect(y.shape == [5, 3])
        #expect(isClose(y.values, weights.logits(for: input).map { max($0, 0) }))
    }

    @Test func oneSessionServesManyConcurrentTasks() async throws {
        let weights = try DenseModelWeights.load()
        let session = try ORTSession(environment: sharedEnvironment(), modelPath: resourcePath("tiny_dense", "onnx"))

        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var mismatches = 0
                    for run in 0..<50 {
                        let batch = 1 + (task + run) % 6
                        let input = sampleInput(batch: batch, seed: task * 100 + run)
                        let results = try session.run(["x": ORTTensor(shape: [batch, 4], values: input)])
                        if !isClose(results["logits"]?.values ?? [], weights.logits(for: input)) { mismatches += 1 }
                    }
                    return mismatches
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func twoEnvironmentsCanBeAliveAtOnce() throws {
        let first = try ORTEnvironment(libraryPath: runtimeLibraryPath, logIdentifier: "first")
        let second = try ORTEnvironment(libraryPath: runtimeLibraryPath, logIdentifier: "second")
        let modelPath = try resourcePath("tiny_dense", "onnx")
        let input = try ORTTensor(shape: [1, 4], values: [1, 2, 3, 4])
        let fromFirst = try ORTSession(environment: first, modelPath: modelPath).run(["x": input])
        let fromSecond = try ORTSession(environment: second, modelPath: modelPath).run(["x": input])
        #expect(fromFirst == fromSecond)
        #expect(isClose(fromFirst["logits"]?.values ?? [], try DenseModelWeights.load().logits(for: input.values)))
    }
}
