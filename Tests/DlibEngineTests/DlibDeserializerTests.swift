import DlibEngine
import Foundation
import Testing

/// The reader against byte sequences written by hand from dlib's documented encodings.
@Suite struct DlibDeserializerTests {
    @Test func integersAreAControlByteThenTheLittleEndianMagnitude() throws {
        var reader = DlibDeserializer(bytes: [
            0x01, 0x00,              // 0
            0x02, 0x2C, 0x01,        // 300
            0x81, 0x01,              // -1
            0x84, 0x00, 0x00, 0x00, 0x80,  // Int32.min
            0x04, 0xFF, 0xFF, 0xFF, 0x7F,  // Int32.max
            0x08, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01,  // 0x0123456789ABCDEF
        ])
        #expect(try reader.readInteger(Int.self) == 0)
        #expect(try reader.readInteger(Int.self) == 300)
        #expect(try reader.readInteger(Int32.self) == -1)
        #expect(try reader.readInteger(Int32.self) == Int32.min)
        #expect(try reader.readInteger(Int32.self) == Int32.max)
        #expect(reader.offset == 17)
        #expect(try reader.readInteger(UInt64.self) == 0x0123_4567_89AB_CDEF)
        #expect(reader.isAtEnd)
        try reader.expectEnd()
    }

    @Test func integerErrorsNameTheOffsetAndLeaveItUnchanged() throws {
        var reader = DlibDeserializer(bytes: [0x01, 0x05, 0x03, 0x01, 0x02, 0x03])
        #expect(try reader.readInteger(Int.self) == 5)
        // Three bytes announced: too many for Int16.
        #expect(throws: DlibSerializationError.invalidIntegerSize(offset: 2, controlByte: 0x03, type: "Int16")) {
            try reader.readInteger(Int16.self)
        }
        #expect(reader.offset == 2)
        #expect(try reader.readInteger(Int32.self) == 0x03_0201)

        var short = DlibDeserializer(bytes: [0x04, 0x01, 0x02])
        #expect(throws: DlibSerializationError.unexpectedEnd(offset: 0, needed: 5, available: 3)) {
            try short.readInteger(Int.self)
        }
        var zeroSize = DlibDeserializer(bytes: [0x00])
        #expect(throws: DlibSerializationError.invalidIntegerSize(offset: 0, controlByte: 0, type: "Int")) {
            try zeroSize.readInteger(Int.self)
        }
        // The sign bit makes the size invalid for an unsigned type, as in dlib.
        var negativeUnsigned = DlibDeserializer(bytes: [0x81, 0x01])
        #expect(throws: DlibSerializationError.invalidIntegerSize(offset: 0, controlByte: 0x81, type: "UInt64")) {
            try negativeUnsigned.readInteger(UInt64.self)
        }
        var tooLarge = DlibDeserializer(bytes: [0x02, 0x00, 0x80])  // 32768
        #expect(throws: DlibSerializationError.integerOutOfRange(offset: 0, type: "Int16")) {
            try tooLarge.readInteger(Int16.self)
        }
        #expect(try tooLarge.readInteger(UInt16.self) == 32768)
    }

    @Test func floatsAreAMantissaAndAPowerOfTwo() throws {
        var reader = DlibDeserializer(bytes: DlibBytes.float(mantissa: 192, exponent: -7)  // 1.5
            + DlibBytes.float(mantissa: -3, exponent: 2)  // -12
            + DlibBytes.float(mantissa: 0, exponent: 0)
            + DlibBytes.float(mantissa: 1, exponent: 32000)
            + DlibBytes.float(mantissa: 1, exponent: 32001)
            + DlibBytes.float(mantissa: 0, exponent: 32002)
            + DlibBytes.float(mantissa: 0x1F_FFFF_FFFF_FFFF, exponent: -53))
        #expect(try reader.readFloat() == 1.5)
        #expect(try reader.readFloat() == -12)
        #expect(try reader.readFloat() == 0)
        #expect(try reader.readFloat() == .infinity)
        #expect(try reader.readFloat() == -.infinity)
        #expect(try reader.readFloat().isNaN)
        #expect(try reader.readDouble() == 1 - 0x1p-53)
        try reader.expectEnd()

        // Literal bytes for 1.5: mantissa 192 (01 C0), exponent -7 (81 07).
        var literal = DlibDeserializer(bytes: [0x01, 0xC0, 0x81, 0x07])
        #expect(try literal.readDouble() == 1.5)
    }

    @Test func floatErrors() throws {
        var ascii = DlibDeserializer(bytes: Array("1.5 ".utf8))
        #expect(throws: DlibSerializationError.unsupportedFloatFormat(offset: 0, firstByte: UInt8(ascii: "1"))) {
            try ascii.readFloat()
        }
        // An exponent needing three bytes does not fit int16; the offset returns to the float's start.
        var wideExponent = DlibDeserializer(bytes: [0x01, 0x01, 0x03, 0x00, 0x00, 0x01])
        #expect(throws: DlibSerializationError.invalidIntegerSize(offset: 2, controlByte: 0x03, type: "Int16")) {
            try wideExponent.readFloat()
        }
        #expect(wideExponent.offset == 0)
    }

    @Test func boolsAndStrings() throws {
        var reader = DlibDeserializer(bytes: [UInt8(ascii: "1"), UInt8(ascii: "0")]
            + DlibBytes.string("con_4") + DlibBytes.string("") + [UInt8(ascii: "x")])
        #expect(try reader.readBool())
        #expect(try !reader.readBool())
        #expect(try reader.readString() == "con_4")
        #expect(try reader.readString() == "")
        #expect(throws: DlibSerializationError.invalidBool(offset: 11, byte: UInt8(ascii: "x"))) {
            try reader.readBool()
        }
        #expect(throws: DlibSerializationError.trailingBytes(offset: 11, count: 1)) { try reader.expectEnd() }

        var named = DlibDeserializer(bytes: DlibBytes.string("relu_"))
        #expect(throws: DlibSerializationError.unexpectedString(offset: 0, expected: "affine_", found: "relu_")) {
            try named.expectString("affine_")
        }
        #expect(named.offset == 0)
        try named.expectString("relu_")

        var truncated = DlibDeserializer(bytes: [0x01, 0x05] + Array("abc".utf8))
        #expect(throws: DlibSerializationError.unexpectedEnd(offset: 0, needed: 7, available: 5)) {
            try truncated.readString()
        }
    }

    @Test func tensorsWithDataAndShapeOnlyAliases() throws {
        let values: [Float] = [1, -2.5, 0.125, .greatestFiniteMagnitude, -0.0, Float.leastNonzeroMagnitude]
        var reader = DlibDeserializer(bytes: DlibBytes.tensor(shape: [1, 2, 3, 1], values: values)
            + DlibBytes.tensor(shape: [4, 3, 7, 7], values: nil))
        let tensor = try reader.readTensor()
        #expect(tensor.shape == DlibTensorShape(n: 1, k: 2, nr: 3, nc: 1))
        #expect(tensor.values.map { $0.map(\.bitPattern) } == values.map(\.bitPattern))
        let alias = try reader.readTensor()
        #expect(alias.shape == DlibTensorShape(n: 4, k: 3, nr: 7, nc: 7))
        #expect(alias.values == nil)
        try reader.expectEnd()
    }

    @Test func tensorErrors() throws {
        var wrongVersion = DlibDeserializer(bytes: DlibBytes.integer(3) + DlibBytes.tensor(shape: [1, 1, 1, 1], values: nil).dropFirst(2))
        #expect(throws: DlibSerializationError.unsupportedTensorVersion(offset: 0, version: 3)) {
            try wrongVersion.readTensor()
        }
        var negative = DlibDeserializer(bytes: DlibBytes.integer(2) + DlibBytes.integer(1) + DlibBytes.integer(-2)
            + DlibBytes.integer(1) + DlibBytes.integer(1))
        #expect(throws: DlibSerializationError.invalidTensorShape(offset: 0, shape: [1, -2, 1, 1])) {
            try negative.readTensor()
        }
        // Six floats announced, five present: the error names the data's start, the offset returns to the tensor's.
        let full = DlibBytes.tensor(shape: [1, 1, 2, 3], values: [1, 2, 3, 4, 5, 6])
        var truncated = DlibDeserializer(bytes: Array(full.dropLast(4)))
        #expect(throws: DlibSerializationError.unexpectedEnd(offset: 10, needed: 24, available: 20)) {
            try truncated.readTensor()
        }
        #expect(truncated.offset == 0)
    }
}

/// dlib's encodings, written from its documented rules, to build inputs for the reader.
enum DlibBytes {
    static func integer(_ value: Int64) -> [UInt8] {
        var magnitude = value.magnitude
        var body: [UInt8] = []
        repeat {
            body.append(UInt8(magnitude & 0xFF))
            magnitude >>= 8
        } while magnitude != 0
        return [UInt8(body.count) | (value < 0 ? 0x80 : 0)] + body
    }

    static func float(mantissa: Int64, exponent: Int16) -> [UInt8] {
        integer(mantissa) + integer(Int64(exponent))
    }

    static func string(_ text: String) -> [UInt8] {
        integer(Int64(text.utf8.count)) + Array(text.utf8)
    }

    static func tensor(shape: [Int64], values: [Float]?) -> [UInt8] {
        var bytes = integer(values == nil ? 1 : 2)
        for dimension in shape { bytes += integer(dimension) }
        for value in values ?? [] {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        }
        return bytes
    }
}
