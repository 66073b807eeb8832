import ArgumentParser
import FaceEngine
import Foundation
import Imaging
import Installation
import ONNXRuntime
import Synchronization

/// `biomatch bench pipeline`: decode, detect, align and embed the test photos on every core,
/// against ONNX Runtime's own model time and the OpenCV Python pipeline, all in one run.
struct PipelineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Images per second of the whole face pipeline, with ratios to its anchors.",
        discussion: """
            Three measurements on the same photos in one run: the BioMatch pipeline; the two \
            models alone through ONNX Runtime on the exact tensors the pipeline feeds them \
            (overhead_vs_model = model-only throughput / pipeline throughput); and OpenCV's \
            FaceDetectorYN + FaceRecognizerSF in Python (vs_opencv_python = pipeline throughput / \
            OpenCV's). The first two alternate in short slices and the OpenCV runs fall between \
            slices, so all three see the same load on a shared machine. overhead_vs_model_cpu is \
            the first ratio in CPU time of this process, which other programs disturb less than \
            wall-clock time. decode_vs_model_cpu is the CPU time of decoding the photos alone \
            over the models' CPU time, measured in the same slices: every photo must be decoded \
            in full, so overhead_vs_model_cpu cannot fall below 1 + decode_vs_model_cpu; \
            overhead_vs_model_cpu_without_decoding is the difference, what everything else costs. \
            The last line is JSON.
            """
    )

    @Option(help: "Times each photo is processed while timed, by the pipeline and by the models alone.")
    var rounds = 12
    @Option(help: "Rounds in each slice; the pipeline and the models alone alternate slice by slice.")
    var sliceRounds = 2
    @Option(help: "Concurrent workers (default: one per core).")
    var workers = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "OpenCV anchor runs (each of --rounds rounds), spread between the slices.") var repeats = 3
    @Flag(help: "Skip the OpenCV Python anchor.") var noOpencv = false
    @Option(help: "Also measure these recognition engines, comma-separated (see `biomatch engines list`): each one's time per face (its alignment and model) and the images/s of decoding, detection and that engine.")
    var engines: String?
    @Argument(help: "Images (default: the eight test photos).") var images: [String] = []

    func validate() throws {
        guard rounds > 0, sliceRounds > 0, workers > 0, repeats > 0 else {
            throw ValidationError("--rounds, --slice-rounds, --workers and --repeats must be positive")
        }
    }

    func run() async throws {
        let installation = Installation.fromEnvironment()
        let paths = images.isEmpty ? Self.testPhotos(installation) : images
        let encoded = try paths.map(readImageFile)
        let engine = try FaceEngine(installation: installation)

        // Warm-up: every photo once, keeping the exact tensors the pipeline feeds both models so
        // the model-only run costs what the models cost on these photos (their time depends on data).
        let cropEngine = try FaceEngine(
            installation: installation,
            configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
        var workload: [ModelWorkload] = []
        for bytes in encoded {
            _ = try await engine.analysis(ofImageBytes: bytes)
            let image = try ImageDecoder().decode(bytes)
            let faces = try await cropEngine.analyze(image: image)
            workload.append(ModelWorkload(
                image: image, crops: faces.compactMap(\.alignedCrop),
                maximumSide: engine.configuration.maximumDetectionSide))
        }
        let models = try ModelOnlyRunner(installation: installation)
        _ = try await models.run(workload, rounds: 1, workers: workers)

        // The pipeline and the models alone run in alternating slices (their order swapped every
        // slice), and the OpenCV runs fall between slices, so that all three see the same load
        // on a shared machine; best-of-N of separate runs compares moments, not programs.
        let sliceCount = max(1, rounds / sliceRounds)
        let opencvSlices = noOpencv ? [] : (1...repeats).map { $0 * sliceCount / (repeats + 1) }
        var pipeline = PipelineMeasurement()
        var modelsOnly = PhaseMeasurement()
        var decodeOnly = PhaseMeasurement()
        let decoder = ImageDecoder(limits: engine.configuration.decodingLimits)
        var opencvRuns: [OpenCVMeasurement] = []
        for slice in 0..<sliceCount {
            for runsPipeline in slice.isMultiple(of: 2) ? [true, false] : [false, true] {
                let cpuStart = ProcessCPUClock.seconds()
                if runsPipeline {
                    let measured = try await measurePipeline(engine: engine, encoded: encoded, rounds: sliceRounds)
                    pipeline.phase.seconds += measured.seconds
                    pipeline.timings.add(measured.timings)
                    pipeline.phase.cpuSeconds += ProcessCPUClock.seconds() - cpuStart
                    pipeline.phase.images += encoded.count * sliceRounds
                } else {
                    modelsOnly.seconds += try await models.run(workload, rounds: sliceRounds, workers: workers)
                    modelsOnly.cpuSeconds += ProcessCPUClock.seconds() - cpuStart
                    modelsOnly.images += workload.count * sliceRounds
                }
            }
            let decodeStart = ProcessCPUClock.seconds()
            decodeOnly.seconds += try await measureDecoding(decoder: decoder, encoded: encoded, rounds: sliceRounds)
            decodeOnly.cpuSeconds += ProcessCPUClock.seconds() - decodeStart
            decodeOnly.images += encoded.count * sliceRounds
            for plannedSlice in opencvSlices where plannedSlice == slice {
                opencvRuns.append(try PythonAnchor(environmentScript: "scripts/opencv-venv",
                                                   program: "tools/opencv/pipeline_bench.py")
                    .run(arguments: ["--rounds", "\(rounds)", "--workers", "\(workers)",
                                     "--mode", "processes", "--long-side",
                                     "\(engine.configuration.maximumDetectionSide)"] + paths,
                         as: OpenCVMeasurement.self))
            }
        }

        let imageCount = Double(pipeline.phase.images)
        let imagesPerSecond = pipeline.phase.imagesPerSecond
        let modelImagesPerSecond = modelsOnly.imagesPerSecond
        let overhead = modelImagesPerSecond / imagesPerSecond
        let overheadInCPUTime = pipeline.phase.cpuSecondsPerImage / modelsOnly.cpuSecondsPerImage
        let decodeShare = decodeOnly.cpuSecondsPerImage / modelsOnly.cpuSecondsPerImage
        let opencvImagesPerSecond = opencvRuns.isEmpty ? nil
            : Double(opencvRuns.reduce(0) { $0 + $1.images }) / opencvRuns.reduce(0) { $0 + $1.seconds }
        let versusOpenCV = opencvImagesPerSecond.map { imagesPerSecond / $0 }

        print("BioMatch pipeline on \(encoded.count) photos x \(sliceCount * sliceRounds) rounds, \(workers) workers, "
              + "in \(sliceCount) slices alternating with the models alone")
        print(String(format: "  pipeline          %8.1f images/s", imagesPerSecond))
        print(String(format: "  models only (ORT) %8.1f images/s   overhead_vs_model %.3f", modelImagesPerSecond, overhead))
        print(String(format: "  CPU time per image: pipeline %.2f ms, models only %.2f ms   overhead_vs_model_cpu %.3f",
                     pipeline.phase.cpuSecondsPerImage * 1000, modelsOnly.cpuSecondsPerImage * 1000, overheadInCPUTime))
        // Decoding every photo in full is work the pipeline cannot skip (a reduced decode moves
        // landmarks beyond the parity bound), so 1 + decode_vs_model_cpu bounds the CPU ratio from below.
        print(String(format: "  decoding alone: %.2f ms CPU per image   decode_vs_model_cpu %.3f (overhead_vs_model_cpu >= %.3f)",
                     decodeOnly.cpuSecondsPerImage * 1000, decodeShare, 1 + decodeShare))
        // What the rest of the pipeline (resize, tensors, detector decoding, NMS, alignment,
        // quality, normalisation) adds on top of the models, with decoding taken out.
        print(String(format: "  everything but the models and decoding: overhead_vs_model_cpu_without_decoding %.3f",
                     overheadInCPUTime - decodeShare))
        if let opencvImagesPerSecond, let versusOpenCV, let version = opencvRuns.first?.opencv_version {
            let each = opencvRuns.map { String(format: "%.1f", $0.images_per_s) }.joined(separator: ", ")
            print(String(format: "  OpenCV %@ Python %8.1f images/s   vs_opencv_python %.3f   (runs: %@)",
                         version, opencvImagesPerSecond, versusOpenCV, each))
        }
        print("  per image, wall-clock time summed over workers (ms):")
        let stages = pipeline.timings
        for (name, duration) in [
            ("decode", stages.decode), ("detect preprocessing", stages.detectionPreprocessing),
            ("detector model", stages.detectorModel), ("detect decoding+NMS", stages.detectionPostprocessing),
            ("align+quality", stages.alignment), ("embed preprocessing", stages.embeddingPreprocessing),
            ("embedder model", stages.embedderModel), ("all but the models", stages.overhead),
        ] {
            // String(format:) does not pad %@ on Linux, so the name is padded here.
            let label = name.padding(toLength: 22, withPad: " ", startingAt: 0)
            print("    \(label)" + String(format: " %7.2f", duration.milliseconds / imageCount))
        }
        let summary = BenchSummary(
            images_per_s: imagesPerSecond, overhead_vs_model: overhead, vs_opencv_python: versusOpenCV,
            overhead_vs_model_cpu: overheadInCPUTime, decode_vs_model_cpu: decodeShare,
            overhead_vs_model_cpu_without_decoding: overheadInCPUTime - decodeShare,
            model_only_images_per_s: modelImagesPerSecond, opencv_images_per_s: opencvImagesPerSecond,
            workers: workers, images: pipeline.phase.images,
            in_pipeline_model_share: stages.modelTime.milliseconds / stages.total.milliseconds,
            engines: try await measureEngines(installation: installation, detector: engine, encoded: encoded))
        try printJSON(summary)
    }

    /// Each named engine on the same photos and detections: the engine alone (alignment and
    /// model, all faces of a photo in one batch) and decode + detect + that engine.
    private func measureEngines(
        installation: Installation, detector: FaceEngine, encoded: [[UInt8]]
    ) async throws -> [EngineMeasurement]? {
        guard let engines else { return nil }
        let registry = try EngineOptions.registry(faceEngine: detector, installation: installation)
        let selected = try registry.engines(named: engines.split(separator: ",").map(String.init))
        let decoder = ImageDecoder(limits: detector.configuration.decodingLimits)
        var decoded: [(image: RGBImage, faces: [DetectedFace])] = []
        for bytes in encoded {
            let image = try decoder.decode(bytes)
            decoded.append((image, try await detector.detect(image: image)))
        }
        let faceCount = decoded.reduce(0) { $0 + $1.faces.count }
        let items = decoded.count * rounds
        let inputs = decoded
        var results: [EngineMeasurement] = []
        print("  engines on the same photos and detections (\(faceCount) faces in \(decoded.count) photos, \(rounds) rounds):")
        for engine in selected {
            for (image, faces) in inputs { _ = try await engine.templates(for: faces, in: image) }
            let engineSeconds = try await secondsOnWorkers(workers, items: items) { index in
                let input = inputs[index % inputs.count]
                _ = try await engine.templates(for: input.faces, in: input.image)
            }
            let pipelineSeconds = try await secondsOnWorkers(workers, items: items) { index in
                let image = try decoder.decode(encoded[index % encoded.count])
                let faces = try await detector.detect(image: image)
                _ = try await engine.templates(for: faces, in: image)
            }
            let measurement = EngineMeasurement(
                engine: engine.profile.identifier,
                faces_per_s: Double(faceCount * rounds) / engineSeconds,
                ms_per_face_on_all_workers: engineSeconds * 1000 * Double(workers) / Double(faceCount * rounds),
                images_per_s: Double(items) / pipelineSeconds)
            print(String(
                format: "    %@ %8.1f faces/s (%.2f ms per face per worker, alignment + model)   decode+detect+engine %8.1f images/s",
                measurement.engine.padding(toLength: 8, withPad: " ", startingAt: 0), measurement.faces_per_s,
                measurement.ms_per_face_on_all_workers, measurement.images_per_s))
            results.append(measurement)
        }
        return results
    }

    private func measurePipeline(engine: FaceEngine, encoded: [[UInt8]], rounds: Int) async throws
        -> (seconds: Double, timings: StageTimings) {
        let total = encoded.count * rounds
        let next = WorkCounter()
        let clock = ContinuousClock()
        let start = clock.now
        let workers = workers
        let timings = try await withThrowingTaskGroup(of: StageTimings.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var sum = StageTimings()
                    while true {
                        let index = next.take()
                        guard index < total else { return sum }
                        let analysis = try await engine.analysis(ofImageBytes: encoded[index % encoded.count])
                        sum.add(analysis.timings)
                    }
                }
            }
            var sum = StageTimings()
            for try await part in group { sum.add(part) }
            return sum
        }
        return ((clock.now - start).seconds, timings)
    }

    /// Seconds to decode every photo `rounds` times on the workers, as the pipeline's first stage does.
    private func measureDecoding(decoder: ImageDecoder, encoded: [[UInt8]], rounds: Int) async throws -> Double {
        try await secondsOnWorkers(workers, items: encoded.count * rounds) { index in
            _ = try decoder.decode(encoded[index % encoded.count])
        }
    }

    private static func testPhotos(_ installation: Installation) -> [String] {
        ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg",
         "obama_partial_face2.jpg", "32bit.png", "astronaut.png"]
            .map { installation.testPhotosDirectory.appending(path: $0).path }
    }
}

/// The final JSON line of `bench pipeline`.
private struct BenchSummary: Encodable {
    var images_per_s: Double
    var overhead_vs_model: Double
    var vs_opencv_python: Double?
    var overhead_vs_model_cpu: Double
    var decode_vs_model_cpu: Double
    var overhead_vs_model_cpu_without_decoding: Double
    var model_only_images_per_s: Double
    var opencv_images_per_s: Double?
    var workers: Int
    var images: Int
    var in_pipeline_model_share: Double
    var engines: [EngineMeasurement]?
}

/// One engine's figures in `bench pipeline --engines`.
private struct EngineMeasurement: Encodable {
    var engine: String
    var faces_per_s: Double
    var ms_per_face_on_all_workers: Double
    var images_per_s: Double
}

/// What `tools/opencv/pipeline_bench.py` prints.
private struct OpenCVMeasurement: Decodable {
    var images: Int
    var seconds: Double
    var images_per_s: Double
    var opencv_version: String
}

/// Sums over the slices of one kind of measurement.
private struct PhaseMeasurement {
    var images = 0
    var seconds = 0.0
    var cpuSeconds = 0.0

    var imagesPerSecond: Double { Double(images) / seconds }
    var cpuSecondsPerImage: Double { cpuSeconds / Double(images) }
}

private struct PipelineMeasurement {
    var phase = PhaseMeasurement()
    var timings = StageTimings()
}

/// The model inputs of one photo: YuNet's padded BGR tensor and one RGB crop per face.
struct ModelWorkload: Sendable {
    var detectorShape: [Int]
    var detectorInput: [Float]
    var cropInputs: [[Float]]

    /// Builds the tensors as the engine does: scaled so the longer side is at most
    /// `maximumSide`, padded bottom and right to multiples of 32, planar BGR; crops planar RGB.
    init(image: RGBImage, crops: [RGBImage], maximumSide: Int) {
        let factor = min(1, Double(maximumSide) / Double(max(image.width, image.height)))
        let width = max(1, Int((Double(image.width) * factor).rounded()))
        let height = max(1, Int((Double(image.height) * factor).rounded()))
        let scaled = image.resizedBilinear(width: width, height: height)
        let tensorWidth = (width + 31) / 32 * 32
        let tensorHeight = (height + 31) / 32 * 32
        detectorShape = [1, 3, tensorHeight, tensorWidth]
        detectorInput = Self.planar(scaled, tensorWidth: tensorWidth, tensorHeight: tensorHeight,
                                    channelOrder: [2, 1, 0])
        cropInputs = crops.map { Self.planar($0, tensorWidth: $0.width, tensorHeight: $0.height, channelOrder: [0, 1, 2]) }
    }

    private static func planar(_ image: RGBImage, tensorWidth: Int, tensorHeight: Int, channelOrder: [Int]) -> [Float] {
        var values = [Float](repeating: 0, count: 3 * tensorWidth * tensorHeight)
        let plane = tensorWidth * tensorHeight
        for y in 0..<image.height {
            for x in 0..<image.width {
                let source = (y * image.width + x) * 3
                for (planeIndex, channel) in channelOrder.enumerated() {
                    values[planeIndex * plane + y * tensorWidth + x] = Float(image.pixels[source + channel])
                }
            }
        }
        return values
    }
}

/// Runs only the two prepared models through ONNX Runtime, on inputs made once up front.
struct ModelOnlyRunner: Sendable {
    let detector: ORTSession
    let recogniser: ORTSession

    init(installation: Installation) throws {
        let environment = try ORTEnvironment(libraryPath: installation.onnxRuntimeLibrary.path)
        detector = try ORTSession(environment: environment, modelPath: installation.preparedFile(of: .yunet).path)
        recogniser = try ORTSession(environment: environment, modelPath: installation.preparedFile(of: .sface).path)
    }

    /// Seconds to run the workload `rounds` times on `workers` concurrent tasks.
    func run(_ workload: [ModelWorkload], rounds: Int, workers: Int) async throws -> Double {
        try await secondsOnWorkers(workers, items: workload.count * rounds) { [detector, recogniser] index in
            let item = workload[index % workload.count]
            try item.detectorInput.withUnsafeBufferPointer { data in
                _ = try detector.run(inputName: "input", shape: item.detectorShape, data: data)
            }
            for crop in item.cropInputs {
                try crop.withUnsafeBufferPointer { data in
                    _ = try recogniser.run(inputName: "data", shape: [1, 3, 112, 112], data: data)
                }
            }
        }
    }
}

/// CPU time used so far by every thread of this process.
enum ProcessCPUClock {
    static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}

extension StageTimings {
    mutating func add(_ other: StageTimings) {
        decode += other.decode
        detectionPreprocessing += other.detectionPreprocessing
        detectorModel += other.detectorModel
        detectionPostprocessing += other.detectionPostprocessing
        alignment += other.alignment
        embeddingPreprocessing += other.embeddingPreprocessing
        embedderModel += other.embedderModel
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
    var milliseconds: Double { seconds * 1000 }
}
