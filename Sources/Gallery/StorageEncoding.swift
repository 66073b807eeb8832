import Foundation

/// How both stores turn values into columns and back, so the two databases hold the same bytes.
enum StorageEncoding {
    // MARK: Vectors: little-endian Float32, so a file moves between machines unchanged.

    static func blob(from vector: [Float]) -> Data {
        var data = Data(count: vector.count * MemoryLayout<UInt32>.size)
        data.withUnsafeMutableBytes { raw in
            for (index, component) in vector.enumerated() {
                raw.storeBytes(
                    of: component.bitPattern.littleEndian, toByteOffset: index * MemoryLayout<UInt32>.size,
                    as: UInt32.self)
            }
        }
        return data
    }

    /// Appends the components of a stored vector to `vector`.
    static func appendVector(from blob: some DataProtocol, to vector: inout [Float]) throws(GalleryError) {
        guard blob.count == TemplateFormat.byteCount else {
            throw .storageFailure(
                operation: "decoding a template",
                underlying: StoredDataError.malformedVector(byteCount: blob.count))
        }
        for region in blob.regions {
            region.withUnsafeBytes { raw in
                for offset in stride(from: 0, to: raw.count, by: MemoryLayout<UInt32>.size) {
                    let bits = raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                    vector.append(Float(bitPattern: UInt32(littleEndian: bits)))
                }
            }
        }
    }

    static func vector(from blob: some DataProtocol) throws(GalleryError) -> [Float] {
        var vector: [Float] = []
        vector.reserveCapacity(TemplateFormat.dimension)
        try appendVector(from: blob, to: &vector)
        return vector
    }

    // MARK: Times: integer milliseconds since 1970 UTC, exact and identical in both databases.

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    static let millisecondsPerDay: Int64 = 86_400_000

    // MARK: Small documents: JSON text with sorted keys.

    static func json(_ value: some Encodable) throws(GalleryError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw .storageFailure(operation: "encoding JSON", underlying: error)
        }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, from text: String) throws(GalleryError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw .storageFailure(operation: "decoding stored \(type)", underlying: error)
        }
    }

    // MARK: Gallery columns

    static func retention(days: Int64?) -> RetentionPolicy {
        days.map { .daysAfterEnrolment(Int($0)) } ?? .indefinite
    }

    static func purpose(_ text: String) throws(GalleryError) -> GalleryPurpose {
        guard let purpose = GalleryPurpose(rawValue: text) else {
            throw .storageFailure(operation: "decoding a gallery", underlying: StoredDataError.unknownPurpose(text))
        }
        return purpose
    }
}

/// Stored data this build cannot read back.
enum StoredDataError: Error, CustomStringConvertible {
    case malformedVector(byteCount: Int)
    case unknownPurpose(String)
    case unsupportedColumnType(column: String, type: String)
    case missingRow
    case malformedColumn(column: String, value: String)

    var description: String {
        switch self {
        case .malformedVector(let byteCount):
            "a stored vector has \(byteCount) bytes; \(TemplateFormat.byteCount) expected"
        case .unknownPurpose(let text):
            "unknown gallery purpose '\(text)'"
        case .unsupportedColumnType(let column, let type):
            "column '\(column)' has type \(type), which companion rows do not support"
        case .missingRow:
            "a statement that returns one row returned none"
        case .malformedColumn(let column, let value):
            "column '\(column)' holds '\(value)', which this build cannot read"
        }
    }
}
