import CPNG

/// A fast path for the PNGs photos arrive as: 8-bit RGB or RGBA, not interlaced, and no chunk
/// that would make libpng change the colours (gamma, colour profile, transparency, palette).
///
/// libpng spends most of its time after zlib in its byte-at-a-time Paeth filter; here zlib
/// inflates a block of rows at a time, each row is unfiltered a pixel at a time with all of its
/// channels in one vector (consecutive Paeth rows two at a time), and RGBA loses its alpha while
/// the row is in cache. The pixels are
/// the ones libpng's simplified reader returns for these files. The path is all-or-nothing:
/// anything else, and any damage (a bad CRC, a short or overlong zlib stream, a bad filter
/// byte), returns `nil` so that libpng decodes the file and reports the error as before.
enum PNGDirectDecoding {
    /// The decoded image, or `nil` when libpng should decode these bytes instead.
    /// `bytes` must start with the PNG signature; the caller has checked the size limits.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> RGBImage? {
        guard let layout = PNGChunkLayout(bytes) else { return nil }
        let width = layout.width
        let height = layout.height
        let channels = layout.channels
        guard let inflater = ZlibInflater() else { return nil }
        var source = IDATSource(bytes: bytes, chunks: layout.imageData)
        let rowLength = width * channels
        let stride = rowLength + 1  // each row starts with its filter type byte
        let rowsPerBlock = max(1, min(height, 65_536 / stride))
        // Slot 0 holds the row above the block (zero above the first row); then the block's rows.
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: (rowsPerBlock + 1) * stride)
        defer { block.deallocate() }
        block.initialize(repeating: 0, count: stride)

        var succeeded = true
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { output, initialized in
            var outputRow = output.baseAddress!
            var firstRow = 0
            while firstRow < height && succeeded {
                let rowCount = min(rowsPerBlock, height - firstRow)
                guard inflater.inflate(into: block + stride, count: rowCount * stride, from: &source) else {
                    succeeded = false
                    break
                }
                var row = 1
                while row <= rowCount {
                    let current = block + row * stride
                    let above = block + (row - 1) * stride
                    let next = current + stride
                    // Two Paeth rows in a row are undone together, the lower one pixel behind:
                    // two independent dependency chains keep the core busier than one.
                    let pairs = current[0] == 4 && row < rowCount && next[0] == 4
                    if pairs {
                        PNGFilter.paethPair(
                            current + 1, next + 1, above: above + 1, length: rowLength, channels: channels)
                    } else if !PNGFilter.unfilter(
                        type: current[0], row: current + 1, above: above + 1, length: rowLength, channels: channels) {
                        succeeded = false
                        break
                    }
                    for finished in 0..<(pairs ? 2 : 1) {
                        let reconstructed = current + finished * stride + 1
                        if channels == 3 {
                            outputRow.initialize(from: reconstructed, count: rowLength)
                        } else {
                            dropAlpha(reconstructed, pixelCount: width, into: outputRow)
                        }
                        outputRow += width * 3
                    }
                    row += pairs ? 2 : 1
                }
                block.update(from: block + rowCount * stride, count: stride)
                firstRow += rowCount
            }
            // On failure the rest is never read: the array is discarded.
            initialized = width * height * 3
        }
        guard succeeded, inflater.finish(from: &source), source.isExhausted else { return nil }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @inline(__always)
    private static func dropAlpha(
        _ rgba: UnsafePointer<UInt8>, pixelCount: Int, into rgb: UnsafeMutablePointer<UInt8>
    ) {
        for pixel in 0..<pixelCount {
            let source = rgba + pixel &* 4
            let target = rgb + pixel &* 3
            target[0] = source[0]
            target[1] = source[1]
            target[2] = source[2]
        }
    }
}

/// The chunks of a PNG the direct path can decode, all CRC-checked; `nil` for any other file.
private struct PNGChunkLayout {
    var width: Int
    var height: Int
    var channels: Int
    /// The IDAT chunks' data, in order.
    var imageData: [Range<Int>]

    /// Ancillary chunks that do not change the 8-bit pixels libpng's simplified reader returns:
    /// text, resolution, time, background, and the sRGB claims (an `sRGB` chunk, or an `iCCP`
    /// profile, which libpng never applies). `gAMA` is not here: libpng corrects by it.
    private static let harmlessChunks: Set<UInt32> = [
        "tEXt", "zTXt", "iTXt", "pHYs", "tIME", "bKGD", "sRGB", "iCCP",
    ].reduce(into: []) { set, name in set.insert(fourCharacterCode(name)) }
    private static let header = fourCharacterCode("IHDR")
    private static let data = fourCharacterCode("IDAT")
    private static let end = fourCharacterCode("IEND")

    init?(_ bytes: UnsafeRawBufferPointer) {
        func uint32(at offset: Int) -> UInt32 {
            UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
                | UInt32(bytes[offset + 3])
        }
        var offset = 8  // after the signature
        var chunks: [Range<Int>] = []
        var dataEnded = false
        var sawHeader = false
        var (width, height, channels) = (0, 0, 0)
        while true {
            guard offset + 12 <= bytes.count else { return nil }  // no IEND: let libpng judge
            let length = Int(uint32(at: offset))
            let type = uint32(at: offset + 4)
            let dataStart = offset + 8
            guard length <= Int(Int32.max), dataStart + length + 4 <= bytes.count else { return nil }
            let expected = uint32(at: dataStart + length)
            let typeAndData = bytes.baseAddress!.assumingMemoryBound(to: Bytef.self) + offset + 4
            let computed = crc32(0, typeAndData, uInt(length + 4))
            guard UInt32(truncatingIfNeeded: computed) == expected else { return nil }
            if !sawHeader {
                guard type == Self.header, length == 13 else { return nil }
                width = Int(uint32(at: dataStart))
                height = Int(uint32(at: dataStart + 4))
                let bitDepth = bytes[dataStart + 8]
                let colourType = bytes[dataStart + 9]
                // Compression, filter method and interlacing must all be 0 (deflate, adaptive, none).
                guard bitDepth == 8, colourType == 2 || colourType == 6, width > 0, height > 0,
                      bytes[dataStart + 10] == 0, bytes[dataStart + 11] == 0, bytes[dataStart + 12] == 0
                else { return nil }
                channels = colourType == 6 ? 4 : 3
                sawHeader = true
            } else if type == Self.data {
                // IDAT chunks must be consecutive.
                guard !dataEnded else { return nil }
                chunks.append(dataStart..<(dataStart + length))
            } else if type == Self.end {
                guard length == 0, !chunks.isEmpty else { return nil }
                break
            } else {
                guard Self.harmlessChunks.contains(type) else { return nil }
                if !chunks.isEmpty { dataEnded = true }
            }
            offset = dataStart + length + 4
        }
        self.width = width
        self.height = height
        self.channels = channels
        imageData = chunks
    }

    private static func fourCharacterCode(_ name: String) -> UInt32 {
        name.utf8.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// Hands zlib the IDAT chunks one after another.
private struct IDATSource {
    let bytes: UnsafeRawBufferPointer
    let chunks: [Range<Int>]
    var nextChunk = 0

    init(bytes: UnsafeRawBufferPointer, chunks: [Range<Int>]) {
        self.bytes = bytes
        self.chunks = chunks
    }

    /// The next chunk's data, or `nil` after the last one.
    mutating func next() -> UnsafeRawBufferPointer? {
        guard nextChunk < chunks.count else { return nil }
        defer { nextChunk += 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[chunks[nextChunk]])
    }

    var isExhausted: Bool { nextChunk == chunks.count }
}

/// Owns one zlib inflate stream (zlib keeps a pointer back to it, so it lives on the heap).
private final class ZlibInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var ended = false

    init?() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Fills exactly `count` bytes; false when the data runs out, ends early or is damaged.
    func inflate(into target: UnsafeMutablePointer<UInt8>, count: Int, from source: inout IDATSource) -> Bool {
        guard !ended else { return false }
        stream.pointee.next_out = target
        stream.pointee.avail_out = uInt(count)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 {
                guard let chunk = source.next() else { return false }
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: chunk.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(chunk.count)
                continue
            }
            let status = CPNG.inflate(stream, Z_NO_FLUSH)
            if status == Z_STREAM_END {
                ended = true
                return stream.pointee.avail_out == 0
            }
            guard status == Z_OK else { return false }
        }
        return true
    }

    /// Reads the rest of the stream, which must hold no more image data, through its checksum.
    func finish(from source: inout IDATSource) -> Bool {
        var spare: UInt8 = 0
        while !ended {
            if stream.pointee.avail_in == 0 {
                guard let chunk = source.next() else { return false }
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: chunk.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(chunk.count)
                continue
            }
            let status = withUnsafeMutablePointer(to: &spare) { spare in
                stream.pointee.next_out = spare
                stream.pointee.avail_out = 1
                return CPNG.inflate(stream, Z_NO_FLUSH)
            }
            if status == Z_STREAM_END {
                ended = true
            } else if status != Z_OK || stream.pointee.avail_out == 0 {
                return false  // damaged, or more data than the image needs
            }
        }
        // Nothing may follow the stream in the last IDAT chunk.
        return stream.pointee.avail_in == 0
    }
}

/// PNG's five row filters, undone in place. The filters that depend on the pixel to the left
/// run a pixel at a time with all channels in one vector.
private enum PNGFilter {
    /// Reconstructs `row` (`length` bytes, `channels` a pixel) given the reconstructed row above;
    /// false for an unknown filter type.
    static func unfilter(
        type: UInt8, row: UnsafeMutablePointer<UInt8>, above: UnsafePointer<UInt8>, length: Int, channels: Int
    ) -> Bool {
        switch type {
        case 0:
            return true
        case 1:
            if channels == 4 { sub(row, length: length, Pixel4.self) } else { sub(row, length: length, Pixel3.self) }
        case 2:
            for index in 0..<length { row[index] &+= above[index] }
        case 3:
            if channels == 4 {
                average(row, above, length: length, Pixel4.self)
            } else {
                average(row, above, length: length, Pixel3.self)
            }
        case 4:
            if channels == 4 {
                paeth(row, above, length: length, Pixel4.self)
            } else {
                paeth(row, above, length: length, Pixel3.self)
            }
        default:
            return false
        }
        return true
    }

    @inline(__always)
    private static func sub<P: PixelAccess>(_ row: UnsafeMutablePointer<UInt8>, length: Int, _: P.Type) {
        var left = Lanes.zero
        var offset = 0
        while offset < length {
            left = (P.load(row + offset) &+ left) & 0xFF
            P.store(left, row + offset)
            offset += P.width
        }
    }

    @inline(__always)
    private static func average<P: PixelAccess>(
        _ row: UnsafeMutablePointer<UInt8>, _ above: UnsafePointer<UInt8>, length: Int, _: P.Type
    ) {
        var left = Lanes.zero
        var offset = 0
        while offset < length {
            left = (P.load(row + offset) &+ ((left &+ P.load(above + offset)) &>> 1)) & 0xFF
            P.store(left, row + offset)
            offset += P.width
        }
    }

    /// Paeth rows one below the other: `upper` (reconstructed against `above`) and `lower`
    /// (against `upper`), the lower one a pixel behind so that its pixels above are done.
    static func paethPair(
        _ upper: UnsafeMutablePointer<UInt8>, _ lower: UnsafeMutablePointer<UInt8>, above: UnsafePointer<UInt8>,
        length: Int, channels: Int
    ) {
        if channels == 4 {
            paethPair(upper, lower, above: above, length: length, Pixel4.self)
        } else {
            paethPair(upper, lower, above: above, length: length, Pixel3.self)
        }
    }

    @inline(__always)
    private static func paethPair<P: PixelAccess>(
        _ upper: UnsafeMutablePointer<UInt8>, _ lower: UnsafeMutablePointer<UInt8>, above: UnsafePointer<UInt8>,
        length: Int, _: P.Type
    ) {
        var upperCursor = PaethCursor()
        var lowerCursor = PaethCursor()
        upperCursor.step(upper, above: above, offset: 0, P.self)
        var offset = P.width
        while offset < length {
            upperCursor.step(upper, above: above, offset: offset, P.self)
            lowerCursor.step(lower, above: upper, offset: offset - P.width, P.self)
            offset += P.width
        }
        lowerCursor.step(lower, above: upper, offset: length - P.width, P.self)
    }

    @inline(__always)
    private static func paeth<P: PixelAccess>(
        _ row: UnsafeMutablePointer<UInt8>, _ above: UnsafePointer<UInt8>, length: Int, _: P.Type
    ) {
        var cursor = PaethCursor()
        var offset = 0
        while offset < length {
            cursor.step(row, above: above, offset: offset, P.self)
            offset += P.width
        }
    }
}

/// Walks one row of the Paeth filter: the reconstructed pixel to the left (a) and the one above
/// it (c) carried from pixel to pixel.
private struct PaethCursor {
    var left = Lanes.zero
    var upperLeft = Lanes.zero

    /// Reconstructs the pixel at `offset`: the predictor is whichever of left (a), above (b) and
    /// upper-left (c) is closest to a + b - c, ties going to a, then b.
    @inline(__always)
    mutating func step<P: PixelAccess>(
        _ row: UnsafeMutablePointer<UInt8>, above: UnsafePointer<UInt8>, offset: Int, _: P.Type
    ) {
        let up = P.load(above + offset)
        let towardsUp = up &- upperLeft  // b - c
        let towardsLeft = left &- upperLeft  // a - c
        let distanceLeft = absolute(towardsUp)  // |p - a|
        let distanceUp = absolute(towardsLeft)  // |p - b|
        let distanceUpperLeft = absolute(towardsUp &+ towardsLeft)  // |p - c|
        // Signed "greater than" is one instruction on SSE2; "less or equal" is two.
        var fallback = up
        fallback.replace(with: upperLeft, where: distanceUp .> distanceUpperLeft)
        var predictor = left
        predictor.replace(with: fallback, where: (distanceLeft .> distanceUp) .| (distanceLeft .> distanceUpperLeft))
        left = (P.load(row + offset) &+ predictor) & 0xFF
        P.store(left, row + offset)
        upperLeft = up
    }

}

@inline(__always)
private func absolute(_ value: Lanes) -> Lanes {
    value.replacing(with: 0 &- value, where: value .< 0)
}

/// One pixel's channels as 16-bit lanes (the fourth unused for RGB).
private typealias Lanes = SIMD4<Int16>

/// Loads and stores a pixel of 3 or 4 bytes.
private protocol PixelAccess {
    static var width: Int { get }
    static func load(_ pointer: UnsafePointer<UInt8>) -> Lanes
    static func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<UInt8>)
}

extension PixelAccess {
    @inline(__always)
    static func load(_ pointer: UnsafeMutablePointer<UInt8>) -> Lanes { load(UnsafePointer(pointer)) }
}

private enum Pixel4: PixelAccess {
    static var width: Int { 4 }

    @inline(__always)
    static func load(_ pointer: UnsafePointer<UInt8>) -> Lanes {
        Lanes(truncatingIfNeeded: UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<UInt8>.self))
    }

    @inline(__always)
    static func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: SIMD4<UInt8>(truncatingIfNeeded: lanes), as: SIMD4<UInt8>.self)
    }
}

private enum Pixel3: PixelAccess {
    static var width: Int { 3 }

    @inline(__always)
    static func load(_ pointer: UnsafePointer<UInt8>) -> Lanes {
        Lanes(Int16(pointer[0]), Int16(pointer[1]), Int16(pointer[2]), 0)
    }

    @inline(__always)
    static func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<UInt8>) {
        pointer[0] = UInt8(truncatingIfNeeded: lanes[0])
        pointer[1] = UInt8(truncatingIfNeeded: lanes[1])
        pointer[2] = UInt8(truncatingIfNeeded: lanes[2])
    }
}
