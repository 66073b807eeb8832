import ArgumentParser
import DlibEngine
import Foundation
import Installation
import ModelPreparation

/// `biomatch models`: prepare the shipped face models for ONNX Runtime and show where they stand.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Prepare and inspect the face models.",
        subcommands: [Prepare.self, List.self]
    )

    /// `biomatch models prepare`: writes the float32 files ONNX Runtime runs.
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn the int8 originals into float32 files ONNX Runtime runs well, and dlib's ResNet into an ONNX graph.",
            discussion: """
                Reads the originals from BIOMATCH_HOME/models/original (or --input-dir), refuses files \
                whose SHA-256 is not the pinned one unless --custom is given, and writes \
                BIOMATCH_HOME/models/prepared with a manifest of hashes. dlib's ResNet \
                (dlib_face_recognition_resnet_model_v1.dat, same folder) is converted from dlib's own \
                serialization into an ONNX graph under the same rules. Up-to-date files are kept.
                """
        )

        @Flag(help: "Accept originals whose SHA-256 is not the pinned one (their inputs and outputs are still checked).")
        var custom = false

        @Flag(help: "Prepare again even if the prepared files are up to date.")
        var force = false

        @Option(name: .customLong("input-dir"), help: "Folder holding the original .onnx and .dat files.")
        var inputDirectory: String?

        func run() throws {
            let preparer = ModelPreparer(
                installation: Installation.fromEnvironment(),
                sourceDirectory: inputDirectory.map { URL(filePath: $0, directoryHint: .isDirectory) },
                acceptsCustomModels: custom
            )
            for model in PinnedModel.allCases {
                let prepared = try preparer.prepare(model, force: force)
                let origin = prepared.isFromPinnedSource ? "pinned source" : "CUSTOM source sha256 \(prepared.sourceSHA256)"
                print("\(model.rawValue): \(prepared.file.path) (\(Self.byteCount(of: prepared.file)))")
                print("  sha256 \(prepared.sha256), prepared \(prepared.preparedAt.formatted(.iso8601)) from \(origin)")
            }

            // dlib's ResNet, converted from dlib's own serialization into an ONNX graph.
            let dlibPreparer = DlibModelPreparer(
                installation: preparer.installation, sourceDirectory: preparer.sourceDirectory, acceptsCustomModels: custom
            )
            let prepared = try dlibPreparer.prepare(force: force)
            let origin = prepared.isFromPinnedSource ? "pinned source" : "CUSTOM source sha256 \(prepared.sourceSHA256)"
            print("\(DlibModelPreparer.model.rawValue): \(prepared.file.path) (\(Self.byteCount(of: prepared.file)))")
            print("  sha256 \(prepared.sha256), prepared \(prepared.preparedAt.formatted(.iso8601)) from \(origin)")
        }

        private static func byteCount(of file: URL) -> String {
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
            return ByteCountFormatter.string(fromByteCount: Int64(size), countStyle: .file)
        }
    }

    /// `biomatch models list`: each model's pinned hash, source, prepared file and status.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each model's files, hashes and status.")

        @Option(name: .customLong("input-dir"), help: "Folder holding the original .onnx and .dat files.")
        var inputDirectory: String?

        func run() throws {
            let preparer = ModelPreparer(
                installation: Installation.fromEnvironment(),
                sourceDirectory: inputDirectory.map { URL(filePath: $0, directoryHint: .isDirectory) }
            )
            for model in PinnedModel.allCases {
                let status = try preparer.status(of: model)
                print("\(model.rawValue) (\(model.modelIdentifier))")
                print("  pinned sha256    \(model.originalSHA256)")
                let sourceState = switch status.sourceSHA256 {
                case nil: "missing"
                case model.originalSHA256: "pinned"
                case let other?: "CUSTOM sha256 \(other)"
                }
                print("  source           \(status.sourceFile.path) (\(sourceState))")
                if let prepared = status.preparation {
                    print("  prepared         \(prepared.file.path)")
                    print("  prepared sha256  \(prepared.sha256)")
                    print("  prepared at      \(prepared.preparedAt.formatted(.iso8601)) by pass \(prepared.toolVersion)")
                }
                let state = if status.isUpToDate {
                    "up to date"
                } else if status.preparation == nil {
                    "not prepared (run `biomatch models prepare`)"
                } else {
                    "stale (source, pass or prepared file changed; run `biomatch models prepare`)"
                }
                print("  status           \(state)")
            }
            try listDlib(sourceDirectory: preparer.sourceDirectory, installation: preparer.installation)
        }

        /// The same lines for dlib's ResNet.
        private func listDlib(sourceDirectory: URL, installation: Installation) throws {
            let model = DlibModelPreparer.model
            let status = try DlibModelPreparer(installation: installation, sourceDirectory: sourceDirectory).status()
            print("\(model.rawValue) (\(model.modelIdentifier))")
            print("  pinned sha256    \(model.originalSHA256)")
            let sourceState = switch status.sourceSHA256 {
            case nil: "missing"
            case model.originalSHA256: "pinned"
            case let other?: "CUSTOM sha256 \(other)"
            }
            print("  source           \(status.sourceFile.path) (\(sourceState))")
            if let prepared = status.preparation {
                print("  prepared         \(prepared.file.path)")
                print("  prepared sha256  \(prepared.sha256)")
                print("  prepared at      \(prepared.preparedAt.formatted(.iso8601)) by pass \(prepared.toolVersion)")
            }
            let state = if status.isUpToDate {
                "up to date"
            } else if status.preparation == nil {
                "not prepared (run `biomatch models prepare`)"
            } else {
                "stale (source, pass or prepared file changed; run `biomatch models prepare`)"
            }
            print("  status           \(state)")
        }
    }
}
