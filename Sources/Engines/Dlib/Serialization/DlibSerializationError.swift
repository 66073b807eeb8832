/// Why bytes could not be read as dlib's serialization; every case names the byte offset
/// where the offending item starts.
public enum DlibSerializationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An item needs more bytes than remain.
    case unexpectedEnd(offset: Int, needed: Int, available: Int)
    /// An integer's control byte announces zero bytes or more than the type holds.
    case invalidIntegerSize(offset: Int, controlByte: UInt8, type: String)
    /// The integer's value does not fit the type it is read as.
    case integerOutOfRange(offset: Int, type: String)
    /// A bool is neither ASCII '0' nor '1'.
    case invalidBool(offset: Int, byte: UInt8)
    /// A float uses dlib's pre-2013 ASCII format, which this reader does not support.
    case unsupportedFloatFormat(offset: Int, firstByte: UInt8)
    /// A tensor's leading version is neither 2 (with data) nor 1 (shape only).
    case unsupportedTensorVersion(offset: Int, version: Int64)
    /// A tensor dimension is negative, or the element count overflows.
    case invalidTensorShape(offset: Int, shape: [Int64])
    /// A string other than the one the format requires here.
    case unexpectedString(offset: Int, expected: String, found: String)
    /// Bytes are left after the last item the format defines.
    case trailingBytes(offset: Int, count: Int)

    public var description: String {
        switch self {
        case .unexpectedEnd(let offset, let needed, let available):
            "byte \(offset): needs \(needed) bytes, \(available) remain"
        case .invalidIntegerSize(let offset, let controlByte, let type):
            "byte \(offset): integer control byte 0x\(String(controlByte, radix: 16)) is not a valid size for \(type)"
        case .integerOutOfRange(let offset, let type):
            "byte \(offset): integer does not fit \(type)"
        case .invalidBool(let offset, let byte):
            "byte \(offset): bool byte 0x\(String(byte, radix: 16)) is neither '0' nor '1'"
        case .unsupportedFloatFormat(let offset, let firstByte):
            "byte \(offset): float starting with 0x\(String(firstByte, radix: 16)) uses dlib's old ASCII format"
        case .unsupportedTensorVersion(let offset, let version):
            "byte \(offset): tensor version \(version), expected 2 (data) or 1 (shape only)"
        case .invalidTensorShape(let offset, let shape):
            "byte \(offset): invalid tensor shape \(shape)"
        case .unexpectedString(let offset, let expected, let found):
            "byte \(offset): found \"\(found)\", expected \"\(expected)\""
        case .trailingBytes(let offset, let count):
            "byte \(offset): \(count) bytes left after the last item"
        }
    }
}
