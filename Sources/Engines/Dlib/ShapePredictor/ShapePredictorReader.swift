import Foundation
import Installation

extension ShapePredictorModel {
    /// Loads the pinned `shape_predictor_5_face_landmarks.dat` of an installation.
    ///
    /// Refuses any other file (checked by SHA-256) unless `verifyingHash` is false.
    public static func load(
        from installation: Installation, verifyingHash: Bool = true
    ) throws(ShapePredictorError) -> ShapePredictorModel {
        try load(contentsOf: installation.originalFile(of: .shapePredictor5), verifyingHash: verifyingHash)
    }

    /// Loads a shape predictor file; with `verifyingHash` (the default) only the pinned 5-point file.
    public static func load(contentsOf file: URL, verifyingHash: Bool = true) throws(ShapePredictorError) -> ShapePredictorModel {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw .unreadable(path: file.path, reason: error.localizedDescription)
        }
        if verifyingHash {
            let expected = PinnedDlibModel.shapePredictor5.originalSHA256
            let digest = FileDigest.sha256(of: data)
            guard digest == expected else {
                throw .unexpectedFile(path: file.path, sha256: digest, expected: expected)
            }
        }
        return try ShapePredictorModel(serialized: [UInt8](data))
    }

    /// Reads dlib's serialization of a `shape_predictor` (`dlib/image_processing/shape_predictor.h`):
    /// version 1, the initial shape, the forests, the feature anchors, the feature deltas; every
    /// byte must be used.
    public init(serialized bytes: [UInt8]) throws(ShapePredictorError) {
        let (initialShape, cascades) = try Self.parse(bytes)
        try self.init(initialShape: initialShape, cascades: cascades)
    }

    private static func parse(_ bytes: [UInt8]) throws(ShapePredictorError) -> (initialShape: [Float], cascades: [Cascade]) {
        var reader = DlibDeserializer(bytes: bytes)
        do {
            let version = try reader.readInteger(Int32.self)
            guard version == 1 else {
                throw ShapePredictorError.invalidModel(reason: "shape_predictor version \(version), expected 1")
            }
            let initialShape = try readColumn(&reader)
            let forestCount = try readCount(&reader)
            var forests: [[RegressionTree]] = []
            for _ in 0..<forestCount {
                let treeCount = try readCount(&reader)
                var trees: [RegressionTree] = []
                trees.reserveCapacity(treeCount)
                for _ in 0..<treeCount {
                    trees.append(try readTree(&reader))
                }
                forests.append(trees)
            }
            let anchorLevels = try readCount(&reader)
            var anchors: [[Int]] = []
            for _ in 0..<anchorLevels {
                let count = try readCount(&reader)
                var level: [Int] = []
                level.reserveCapacity(count)
                for _ in 0..<count {
                    level.append(try readIndex(&reader))
                }
                anchors.append(level)
            }
            let deltaLevels = try readCount(&reader)
            var deltas: [[SIMD2<Float>]] = []
            for _ in 0..<deltaLevels {
                let count = try readCount(&reader)
                var level: [SIMD2<Float>] = []
                level.reserveCapacity(count)
                for _ in 0..<count {
                    let x = try reader.readFloat()
                    let y = try reader.readFloat()
                    level.append(SIMD2(x, y))
                }
                deltas.append(level)
            }
            try reader.expectEnd()
            guard forests.count == anchors.count, forests.count == deltas.count else {
                throw ShapePredictorError.invalidModel(
                    reason: "\(forests.count) forests, \(anchors.count) anchor sets and \(deltas.count) delta sets")
            }
            let cascades = (0..<forests.count).map {
                Cascade(trees: forests[$0], anchors: anchors[$0], deltas: deltas[$0])
            }
            return (initialShape, cascades)
        } catch let error as DlibSerializationError {
            throw .malformed(error)
        } catch let error as ShapePredictorError {
            throw error
        } catch {
            throw .invalidModel(reason: "\(error)")
        }
    }

    private static func readTree(_ reader: inout DlibDeserializer) throws -> RegressionTree {
        let splitCount = try readCount(&reader)
        var splits: [Split] = []
        splits.reserveCapacity(splitCount)
        for _ in 0..<splitCount {
            let first = try readIndex(&reader)
            let second = try readIndex(&reader)
            let threshold = try reader.readFloat()
            splits.append(Split(first: first, second: second, threshold: threshold))
        }
        let leafCount = try readCount(&reader)
        var leafValues: [Float] = []
        for _ in 0..<leafCount {
            leafValues.append(contentsOf: try readColumn(&reader))
        }
        return RegressionTree(splits: splits, leafValues: leafValues)
    }

    /// A `matrix<float,0,1>`: rows and columns (negated in dlib's newer format), then the values.
    private static func readColumn(_ reader: inout DlibDeserializer) throws -> [Float] {
        let start = reader.offset
        let rows = try reader.readInteger(Int64.self).magnitude
        let columns = try reader.readInteger(Int64.self).magnitude
        guard columns == 1 || rows == 0 else {
            throw ShapePredictorError.invalidModel(reason: "byte \(start): a \(rows)x\(columns) matrix where a column vector belongs")
        }
        // Each float takes at least four bytes; a larger count cannot be real.
        guard rows <= UInt64(reader.remainingByteCount / 4) else {
            throw ShapePredictorError.invalidModel(reason: "byte \(start): a column of \(rows) floats in \(reader.remainingByteCount) bytes")
        }
        var values: [Float] = []
        values.reserveCapacity(Int(rows))
        for _ in 0..<Int(rows) {
            values.append(try reader.readFloat())
        }
        return values
    }

    /// A `std::vector`'s length, bounded by the bytes left (every element takes at least two).
    private static func readCount(_ reader: inout DlibDeserializer) throws -> Int {
        let start = reader.offset
        let count = try reader.readInteger(UInt64.self)
        guard count <= UInt64(reader.remainingByteCount / 2) else {
            throw ShapePredictorError.invalidModel(reason: "byte \(start): \(count) elements in \(reader.remainingByteCount) bytes")
        }
        return Int(count)
    }

    private static func readIndex(_ reader: inout DlibDeserializer) throws -> Int {
        let start = reader.offset
        let value = try reader.readInteger(UInt64.self)
        guard value <= UInt64(Int32.max) else {
            throw ShapePredictorError.invalidModel(reason: "byte \(start): index \(value) out of range")
        }
        return Int(value)
    }
}
