// swift-tools-version: 6.1
import PackageDescription

// Micro-benchmarks of BioMatch's hot paths with ordo-one/benchmark: `make benchmarks`.
// A package of its own so the benchmark framework is never built by `make test`. The ratio
// targets of the issues are checked by `biomatch bench ...`, which runs the anchors (FAISS,
// ONNX Runtime alone, OpenCV) in the same run; these track regressions between commits.
let package = Package(
    name: "BioMatchBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder name, which differs between clones.
        .package(name: "BioMatch", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MatchingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Matching", package: "BioMatch"),
            ],
            path: "Benchmarks/MatchingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FaceEngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FaceEngine", package: "BioMatch"),
                .product(name: "Imaging", package: "BioMatch"),
                .product(name: "Installation", package: "BioMatch"),
            ],
            path: "Benchmarks/FaceEngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
