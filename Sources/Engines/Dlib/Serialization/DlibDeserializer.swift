import Foundation

/// Reads values written by dlib's `serialize` (`dlib/serialize.h`, `float_details.h`, the DNN
/// tensor format), front to back, remembering its byte offset.
///
/// The encodings:
/// - integers: one control byte holding the byte count (low 4 bits) and 0x80 when negative,
///   then the magnitude little-endian; zero is `01 00`;
/// - `float`/`double`: an int64 mantissa then an int16 exponent, both as integers, meaning
///   mantissa × 2^exponent; exponents 32000, 32001 and 32002 and above mean +inf, -inf, NaN;
/// - bool: ASCII `'1'` or `'0'`;
/// - string: its byte count as an integer, then the bytes;
/// - tensor: the integer 2, then n, k, nr, nc as integers, then n·k·nr·nc little-endian float32
///   in NCHW order; a shape-only alias tensor is the integer 1 then the four dimensions.
///
/// Every failure is a ``DlibSerializationError`` naming the offset where the item starts; a
/// failed read leaves the offset where it was.
public struct DlibDeserializer: Sendable {
    /// The bytes being read.
    public let bytes: [UInt8]
    /// Offset of the next unread byte.
    public private(set) var offset: Int = 0

    /// A reader positioned at the first byte of `bytes`.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// A reader positioned at the first byte of `data`.
    public init(data: Data) {
        self.init(bytes: [UInt8](data))
    }

    /// How many bytes are left.
    public var remainingByteCount: Int { bytes.count - offset }

    /// True once every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// Throws ``DlibSerializationError/trailingBytes(offset:count:)`` unless every byte was read.
    public func expectEnd() throws(DlibSerializationError) {
        guard isAtEnd else { throw .trailingBytes(offset: offset, count: remainingByteCount) }
    }

    // MARK: - Integers

    /// Reads an integer into `type`, refusing control bytes announcing more bytes than `type`
    /// has (as dlib does), negative values for unsigned types and values out of range.
    public mutating func readInteger<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(DlibSerializationError) -> T {
        let start = offset
        let (magnitude, isNegative) = try readIntegerParts(byteLimit: MemoryLayout<T>.size, typeName: "\(T.self)",
                                                            allowsNegative: T.isSigned)
        let value: T?
        if isNegative {
            // Negative magnitudes go up to |T.min|, one more than T.max: -m is ~(m - 1).
            value = magnitude == 0 ? 0 : T(exactly: magnitude - 1).map { ~$0 }
        } else {
            value = T(exactly: magnitude)
        }
        guard let value else {
            offset = start
            throw .integerOutOfRange(offset: start, type: "\(T.self)")
        }
        return value
    }

    /// Reads the control byte and magnitude; leaves the offset unchanged on failure.
    private mutating func readIntegerParts(
        byteLimit: Int, typeName: String, allowsNegative: Bool
    ) throws(DlibSerializationError) -> (magnitude: UInt64, isNegative: Bool) {
        let start = offset
        try require(1, at: start)
        let control = bytes[start]
        let isNegative = control & 0x80 != 0
        // Signed readers ignore the three reserved bits; unsigned ones treat the sign bit as
        // part of the size, so a negative value is an invalid size there (as dlib does).
        let size = Int(allowsNegative ? control & 0x0F : control & 0x8F)
        guard size >= 1, size <= byteLimit else {
            throw .invalidIntegerSize(offset: start, controlByte: control, type: typeName)
        }
        try require(1 + size, at: start)
        var magnitude: UInt64 = 0
        for index in stride(from: start + size, to: start, by: -1) {
            magnitude = magnitude << 8 | UInt64(bytes[index])
        }
        offset = start + 1 + size
        return (magnitude, isNegative)
    }

    // MARK: - Floating point

    /// Reads a `float`: mantissa × 2^exponent computed in `Float`, as dlib's `ldexp` does.
    public mutating func readFloat() throws(DlibSerializationError) -> Float {
        let (mantissa, exponent) = try readFloatParts()
        switch exponent {
        case ..<Self.positiveInfinityExponent: return Float(sign: .plus, exponent: Int(exponent), significand: Float(mantissa))
        case Self.positiveInfinityExponent: return .infinity
        case Self.negativeInfinityExponent: return -.infinity
        default: return .nan
        }
    }

    /// Reads a `double`: mantissa × 2^exponent computed in `Double`.
    public mutating func readDouble() throws(DlibSerializationError) -> Double {
        let (mantissa, exponent) = try readFloatParts()
        switch exponent {
        case ..<Self.positiveInfinityExponent: return Double(sign: .plus, exponent: Int(exponent), significand: Double(mantissa))
        case Self.positiveInfinityExponent: return .infinity
        case Self.negativeInfinityExponent: return -.infinity
        default: return .nan
        }
    }

    /// dlib's exponent marking +inf; the next value marks -inf, anything above NaN.
    static let positiveInfinityExponent: Int16 = 32000
    static let negativeInfinityExponent: Int16 = 32001

    private mutating func readFloatParts() throws(DlibSerializationError) -> (mantissa: Int64, exponent: Int16) {
        let start = offset
        try require(1, at: start)
        // The integer control byte never sets 0x70; dlib's old ASCII format always does.
        guard bytes[start] & 0x70 == 0 else {
            throw .unsupportedFloatFormat(offset: start, firstByte: bytes[start])
        }
        let mantissa = try readInteger(Int64.self)
        do {
            return (mantissa, try readInteger(Int16.self))
        } catch {
            offset = start
            throw error
        }
    }

    // MARK: - Bool and string

    /// Reads a bool stored as ASCII '1' or '0'.
    public mutating func readBool() throws(DlibSerializationError) -> Bool {
        try require(1, at: offset)
        switch bytes[offset] {
        case UInt8(ascii: "1"): offset += 1; return true
        case UInt8(ascii: "0"): offset += 1; return false
        case let other: throw .invalidBool(offset: offset, byte: other)
        }
    }

    /// Reads a string: its byte count, then its bytes (decoded as UTF-8).
    public mutating func readString() throws(DlibSerializationError) -> String {
        let start = offset
        let count = try readInteger(UInt64.self)
        guard count <= UInt64(remainingByteCount) else {
            let needed = count > UInt64(Int.max - 9) ? Int.max : offset - start + Int(count)
            offset = start
            throw .unexpectedEnd(offset: start, needed: needed, available: bytes.count - start)
        }
        let end = offset + Int(count)
        defer { offset = end }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    /// Reads a string and throws ``DlibSerializationError/unexpectedString(offset:expected:found:)``
    /// (offset unchanged) unless it is `expected`.
    public mutating func expectString(_ expected: String) throws(DlibSerializationError) {
        let start = offset
        let found = try readString()
        guard found == expected else {
            offset = start
            throw .unexpectedString(offset: start, expected: expected, found: found)
        }
    }

    // MARK: - Tensors

    /// Reads a DNN tensor: version 2 with its float32 data, or version 1, a shape-only alias.
    public mutating func readTensor() throws(DlibSerializationError) -> DlibTensor {
        let start = offset
        do throws(DlibSerializationError) {
            let version = try readInteger(Int64.self)
            guard version == 1 || version == 2 else {
                throw .unsupportedTensorVersion(offset: start, version: version)
            }
            var dimensions: [Int64] = []
            for _ in 0..<4 { dimensions.append(try readInteger(Int64.self)) }
            guard let shape = DlibTensorShape(dimensions) else {
                throw .invalidTensorShape(offset: start, shape: dimensions)
            }
            guard version == 2 else { return DlibTensor(shape: shape, values: nil) }
            let (byteCount, overflow) = shape.elementCount.multipliedReportingOverflow(by: 4)
            guard !overflow else { throw .invalidTensorShape(offset: start, shape: dimensions) }
            try require(byteCount, at: offset)
            var values = [Float](repeating: 0, count: shape.elementCount)
            bytes.withUnsafeBytes { raw in
                for index in values.indices {
                    let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * index, as: UInt32.self)
                    values[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
            offset += byteCount
            return DlibTensor(shape: shape, values: values)
        } catch {
            offset = start
            throw error
        }
    }

    // MARK: - Bounds

    private func require(_ count: Int, at start: Int) throws(DlibSerializationError) {
        guard count <= bytes.count - start else {
            throw .unexpectedEnd(offset: start, needed: count, available: bytes.count - start)
        }
    }
}
