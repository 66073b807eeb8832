import Foundation
import Installation
import ModelPreparation
import ONNXSchema
import SwiftProtobuf
import Testing

/// Pinning, graph checks and the manifest cache.
@Suite struct PreparationPolicyTests {
    @Test func aFileWithTheWrongHashIsRefused() throws {
        try withTemporaryDirectory { root in
            let impostor = try Data(contentsOf: originalFile(of: .sface))
            let file = try writeSource(impostor, as: .yunet, in: root)
            let preparer = ModelPreparer(installation: Installation(home: root), sourceDirectory: root)

            let error = #expect(throws: ModelPreparationError.self) { try preparer.prepare(.yunet) }
            let actual = FileDigest.sha256(of: impostor)
            #expect(error == .checksumMismatch(.yunet, file: file, expected: PinnedModel.yunet.originalSHA256, actual: actual))
            let message = error?.description ?? ""
            #expect(message.contains(file.path) && message.contains(actual) && message.contains(PinnedModel.yunet.originalSHA256))
            #expect(!FileManager.default.fileExists(atPath: preparer.installation.preparedFile(of: .yunet).path))
        }
    }

    @Test func aCustomFileWithTheWrongGraphIsRefused() throws {
        try withTemporaryDirectory { root in
            let file = try writeSource(Data(contentsOf: originalFile(of: .sface)), as: .yunet, in: root)
            let preparer = ModelPreparer(installation: Installation(home: root), sourceDirectory: root, acceptsCustomModels: true)

            let error = #expect(throws: ModelPreparationError.self) { try preparer.prepare(.yunet) }
            #expect(error == .unexpectedGraph(.yunet, file: file, mismatch: .inputs(expected: ["input"], found: ["data"])))
        }
    }

    @Test func aCustomFileWithTheRightGraphIsPreparedAndMarkedCustom() throws {
        try withTemporaryDirectory { root in
            var proto = try loadModel(originalFile(of: .yunet))
            proto.producerName = "a retrained detector"
            let bytes: Data = try proto.serializedBytes()
            try writeSource(bytes, as: .yunet, in: root)

            let pinnedOnly = ModelPreparer(installation: Installation(home: root), sourceDirectory: root)
            #expect(throws: ModelPreparationError.self) { try pinnedOnly.prepare(.yunet) }

            let custom = ModelPreparer(installation: Installation(home: root), sourceDirectory: root, acceptsCustomModels: true)
            let prepared = try custom.prepare(.yunet)
            #expect(prepared.sourceSHA256 == FileDigest.sha256(of: bytes))
            #expect(!prepared.isFromPinnedSource)
            #expect(try loadModel(prepared.file).graph.input.map(\.name) == ["input"])

            // Once prepared from a custom file, a pinned-only preparer still refuses it.
            #expect(throws: ModelPreparationError.self) { try pinnedOnly.prepare(.yunet) }
        }
    }

    @Test func aMissingOriginalIsNamed() throws {
        try withTemporaryDirectory { root in
            let preparer = ModelPreparer(installation: Installation(home: root), sourceDirectory: root)
            let error = #expect(throws: ModelPreparationError.self) { try preparer.prepare(.sface) }
            #expect(error == .missingSource(.sface, file: root.appending(path: PinnedModel.sface.originalFileName)))
            let status = try preparer.status(of: .sface)
            #expect(status.sourceSHA256 == nil && status.preparation == nil && !status.isUpToDate)
        }
    }

    @Test func preparingAgainReusesTheRecordedFile() throws {
        try withTemporaryDirectory { root in
            let preparer = ModelPreparer(
                installation: Installation(home: root), sourceDirectory: Installation.fromEnvironment().originalModelsDirectory
            )
            #expect(try preparer.status(of: .yunet).isUpToDate == false)
            let first = try preparer.prepare(.yunet)
            let written = try fileNumber(of: first.file)

            let second = try preparer.prepare(.yunet)
            #expect(second == first)
            #expect(try fileNumber(of: second.file) == written, "the file was not rewritten")

            let forced = try preparer.prepare(.yunet, force: true)
            #expect(try fileNumber(of: forced.file) != written, "the file was rewritten")
            #expect(forced.sha256 == first.sha256, "preparation is deterministic")
        }
    }

    @Test func aTamperedPreparedFileIsRedone() throws {
        try withTemporaryDirectory { root in
            let preparer = ModelPreparer(
                installation: Installation(home: root), sourceDirectory: Installation.fromEnvironment().originalModelsDirectory
            )
            let first = try preparer.prepare(.yunet)
            var bytes = try Data(contentsOf: first.file)
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: first.file)
            #expect(try preparer.status(of: .yunet).isUpToDate == false)

            let redone = try preparer.prepare(.yunet)
            #expect(redone.sha256 == first.sha256)
            #expect(try FileDigest.sha256(of: redone.file) == first.sha256)
            #expect(try preparer.status(of: .yunet).isUpToDate)
        }
    }

    @Test func aCorruptManifestIsATypedError() throws {
        try withTemporaryDirectory { root in
            let preparer = ModelPreparer(installation: Installation(home: root))
            try FileManager.default.createDirectory(
                at: preparer.installation.preparedModelsDirectory, withIntermediateDirectories: true
            )
            try Data("not json".utf8).write(to: preparer.manifestFile)
            let error = #expect(throws: ModelPreparationError.self) { try preparer.preparedModels() }
            guard case .unreadableManifest(let file, _)? = error else {
                Issue.record("expected unreadableManifest, got \(String(describing: error))")
                return
            }
            #expect(file == preparer.manifestFile)
        }
    }
}

/// The file's inode number: atomic writes replace the file, so a rewrite changes it.
private func fileNumber(of file: URL) throws -> Int? {
    try FileManager.default.attributesOfItem(atPath: file.path)[.systemFileNumber] as? Int
}
