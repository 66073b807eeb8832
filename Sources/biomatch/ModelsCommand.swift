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
                printStatus(
                    name: model.rawValue, identifier: model.modelIdentifier, pinnedSHA256: model.originalSHA256,
                    sourceFile: status.sourceFile, sourceSHA256: status.sourceSHA256,
                    prepared: status.preparation.map {
                        PreparedLines(file: $0.file, sha256: $0.sha256, preparedAt: $0.preparedAt, pass: "\($0.toolVersion)")
                    },
                    isUpToDate: status.isUpToDate)
            }
            let dlib = DlibModelPreparer.model
            let dlibStatus = try DlibModelPreparer(
                installation: preparer.installation, sourceDirectory: preparer.sourceDirectory
            ).status()
            printStatus(
                name: dlib.rawValue, identifier: dlib.modelIdentifier, pinnedSHA256: dlib.originalSHA256,
                sourceFile: dlibStatus.sourceFile, sourceSHA256: dlibStatus.sourceSHA256,
                prepared: dlibStatus.preparation.map {
                    PreparedLines(file: $0.file, sha256: $0.sha256, preparedAt: $0.preparedAt, pass: "\($0.toolVersion)")
                },
                isUpToDate: dlibStatus.isUpToDate)
        }

        /// What `list` prints of a prepared file, whichever preparer made it.
        private struct PreparedLines {
            var file: URL
            var sha256: String
            var preparedAt: Date
            var pass: String
        }

        /// One model's lines: pinned hash, source and its state, prepared file, and whether it is current.
        private func printStatus(
            name: String, identifier: String, pinnedSHA256: String, sourceFile: URL, sourceSHA256: String?,
            prepared: PreparedLines?, isUpToDate: Bool
        ) {
            print("\(name) (\(identifier))")
            print("  pinned sha256    \(pinnedSHA256)")
            let sourceState = switch sourceSHA256 {
            case nil: "missing"
            case pinnedSHA256: "pinned"
            case let other?: "CUSTOM sha256 \(other)"
            }
            print("  source           \(sourceFile.path) (\(sourceState))")
            if let prepared {
                print("  prepared         \(prepared.file.path)")
                print("  prepared sha256  \(prepared.sha256)")
                print("  prepared at      \(prepared.preparedAt.formatted(.iso8601)) by pass \(prepared.pass)")
            }
            let state = if isUpToDate {
                "up to date"
            } else if prepared == nil {
                "not prepared (run `biomatch models prepare`)"
            } else {
                "stale (source, pass or prepared file changed; run `biomatch models prepare`)"
            }
            print("  status           \(state)")
        }
    }
}
