import CPNG

/// A fast path for the PNGs photos arrive as: 8-bit RGB or RGBA, not interlaced, and no chunk
/// that would make libpng change the colours (gamma, colour profile, transparency, palette).
///
/// libpng spends most of its time in zlib and then in its byte-at-a-time Paeth filter. Here the
/// image data is inflated in one piece by libdeflate when the system has it (``LibDeflate``),
/// else by zlib a block of rows at a time; each row is unfiltered a pixel at a time with all of
/// its channels in one vector (runs of Paeth rows up to four at a time), and RGBA loses its
/// alpha while the row is in cache. The pixels are the ones libpng's simplified reader returns for
/// these files. The path is all-or-nothing: anything else, and any damage (a bad CRC, a short or
/// overlong zlib stream, a bad filter byte), returns `nil` so that libpng decodes the file and
/// reports the error as before.
enum PNGDirectDecoding {
    /// How the image data is inflated.
    enum Inflation: Sendable, CaseIterable {
        /// libdeflate in one piece when it is available and the data is at most
        /// ``PNGDirectDecoding/wholeBufferLimit`` bytes, zlib by blocks of rows otherwise.
        case fastest
        /// zlib by blocks of rows (64 KB of filtered data at a time), whatever is available.
        case zlibBlocks
    }

    /// The most filtered image data (rows with their filter bytes) inflated in one piece: the
    /// whole-buffer decoder needs that much memory beside the decoded image, so larger images
    /// stream through zlib instead. 48 MiB is a 12-megapixel RGBA or 16-megapixel RGB image.
    static let wholeBufferLimit = 48 << 20

    /// The decoded image, or `nil` when libpng should decode these bytes instead.
    /// `bytes` must start with the PNG signature; the caller has checked the size limits.
    static func decode(_ bytes: UnsafeRawBufferPointer, inflation: Inflation = .fastest) -> RGBImage? {
        guard let layout = PNGChunkLayout(bytes) else { return nil }
        let rows = FilteredRows(width: layout.width, channels: layout.channels)
        if inflation == .fastest, let library = LibDeflate.shared,
           layout.height <= wholeBufferLimit / rows.stride,
           let decompressor = DeflateDecompressor(library: library) {
            return decodeWhole(bytes, layout: layout, rows: rows, decompressor: decompressor)
        }
        return decodeByBlocks(bytes, layout: layout, rows: rows)
    }

    /// Inflates all rows in one call, then unfilters them.
    private static func decodeWhole(
        _ bytes: UnsafeRawBufferPointer, layout: PNGChunkLayout, rows: FilteredRows, decompressor: DeflateDecompressor
    ) -> RGBImage? {
        let height = layout.height
        // Slot 0 is the zero row above the image; then every row, filter byte first.
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: (height + 1) * rows.stride)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: rows.stride)
        let inflated = layout.withContiguousImageData(in: bytes) { compressed in
            decompressor.inflateZlib(
                compressed, into: UnsafeMutableRawBufferPointer(start: buffer + rows.stride, count: height * rows.stride))
        }
        guard inflated else { return nil }
        var succeeded = true
        let pixels = [UInt8](unsafeUninitializedCapacity: layout.width * height * 3) { output, initialized in
            var outputRow = output.baseAddress!
            succeeded = rows.reconstruct(count: height, below: buffer, appendingTo: &outputRow)
            // On failure the rest is never read: the array is discarded.
            initialized = layout.width * height * 3
        }
        guard succeeded else { return nil }
        return RGBImage(width: layout.width, height: height, pixels: pixels)
    }

    /// Inflates and unfilters a block of rows at a time, so the filtered data stays in cache.
    private static func decodeByBlocks(
        _ bytes: UnsafeRawBufferPointer, layout: PNGChunkLayout, rows: FilteredRows
    ) -> RGBImage? {
        let width = layout.width
        let height = layout.height
        guard let inflater = ZlibInflater() else { return nil }
        var source = IDATSource(bytes: bytes, chunks: layout.imageData)
        let stride = rows.stride
        let rowsPerBlock = max(1, min(height, 65_536 / stride))
        // Slot 0 holds the row above the block (zero above the first row); then the block's rows.
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: (rowsPerBlock + 1) * stride)
        defer { block.deallocate() }
        block.initialize(repeating: 0, count: stride)

        var succeeded = true
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { output, initialized in
            var outputRow = output.baseAddress!
            var firstRow = 0
            while firstRow < height {
                let rowCount = min(rowsPerBlock, height - firstRow)
                guard inflater.inflate(into: block + stride, count: rowCount * stride, from: &source),
                      rows.reconstruct(count: rowCount, below: block, appendingTo: &outputRow)
                else {
                    succeeded = false
                    break
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
}

/// Rows of filtered image data as zlib inflates them: a filter type byte, then the pixels.
private struct FilteredRows {
    let width: Int
    let channels: Int

    /// Bytes of one row's pixels.
    var length: Int { width * channels }
    /// Bytes of one filtered row, its filter type byte included.
    var stride: Int { length + 1 }

    /// Undoes the filters of the `count` rows stored after the reconstructed row at `above`
    /// (zeros above the image's first row), in place, and writes their RGB pixels at `output`,
    /// which advances past them. False for an unknown filter type.
    func reconstruct(
        count: Int, below above: UnsafeMutablePointer<UInt8>, appendingTo output: inout UnsafeMutablePointer<UInt8>
    ) -> Bool {
        var row = 1
        while row <= count {
            let current = above + row * stride
            let previous = current - stride
            // Consecutive Paeth rows are undone together, each a pixel behind the one above it:
            // independent dependency chains keep the core busier than one.
            var paethRows = 0
            while paethRows < 4, row + paethRows <= count, current[paethRows * stride] == 4 { paethRows += 1 }
            let done: Int
            switch paethRows {
            case 4:
                PNGFilter.paethQuad(current + 1, stride: stride, above: previous + 1, length: length, channels: channels)
                done = 4
            case 2, 3:
                PNGFilter.paethPair(
                    current + 1, current + stride + 1, above: previous + 1, length: length, channels: channels)
                done = 2
            default:
                guard PNGFilter.unfilter(
                    type: current[0], row: current + 1, above: previous + 1, length: length, channels: channels)
                else { return false }
                done = 1
            }
            for finished in 0..<done {
                let reconstructed = current + finished * stride + 1
                if channels == 3 {
                    output.initialize(from: reconstructed, count: length)
                } else {
                    Self.dropAlpha(reconstructed, pixelCount: width, into: output)
                }
                output += width * 3
            }
            row += done
        }
        return true
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

    /// Calls `body` with the IDAT chunks' data as one buffer: the chunk itself when there is
    /// one, else a copy of them joined.
    func withContiguousImageData<Result>(
        in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        if imageData.count == 1 { return body(UnsafeRawBufferPointer(rebasing: bytes[imageData[0]])) }
        let joined = UnsafeMutableRawBufferPointer.allocate(
            byteCount: imageData.reduce(0) { $0 + $1.count }, alignment: 16)
        defer { joined.deallocate() }
        var offset = 0
        for chunk in imageData {
            UnsafeMutableRawBufferPointer(rebasing: joined[offset..<(offset + chunk.count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[chunk]))
            offset += chunk.count
        }
        return body(UnsafeRawBufferPointer(joined))
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
            // Filling the spare byte means the stream holds more data than the image needs,
            // even when the stream ends in the same call.
            if status == Z_STREAM_END && stream.pointee.avail_out == 1 {
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

    /// Four Paeth rows one below the other (`rows`, `rows + stride`, ...; the first reconstructed
    /// against `above`), each a pixel behind the one above it so that its pixels above are done.
    /// Four dependency chains per step instead of one.
    static func paethQuad(
        _ rows: UnsafeMutablePointer<UInt8>, stride: Int, above: UnsafePointer<UInt8>, length: Int, channels: Int
    ) {
        if channels == 4 {
            paethQuad(rows, stride: stride, above: above, length: length, Pixel4.self)
        } else {
            paethQuad(rows, stride: stride, above: above, length: length, Pixel3.self)
        }
    }

    /// Two rows' pixels: lanes 0-3 the upper row's, 4-7 the lower row's.
    private typealias RowPair = SIMD8<Int16>

    @inline(__always)
    private static func paethQuad<P: PixelAccess>(
        _ rows: UnsafeMutablePointer<UInt8>, stride: Int, above: UnsafePointer<UInt8>, length: Int, _: P.Type
    ) {
        let width = length / P.width
        // At step t, row r reconstructs pixel t - r. Its left neighbour is its own result of the
        // previous step, the pixel above it is row r - 1's result of the previous step (the row
        // above the run for r = 0), and the upper-left one is the previous step's "above".
        // Rows before their first pixel keep zeros, which is what PNG puts left of a row.
        // Rows 0-1 and 2-3 each share a vector.
        var (leftTop, leftBottom) = (RowPair.zero, RowPair.zero)
        var (upperLeftTop, upperLeftBottom) = (RowPair.zero, RowPair.zero)
        let rowStarts = (rows, rows + stride, rows + 2 * stride, rows + 3 * stride)
        for step in 0..<(width + 3) {
            let aboveTop = step < width ? P.load(above + step &* P.width) : Lanes.zero
            let upTop = RowPair(lowHalf: aboveTop, highHalf: leftTop.lowHalf)
            let upBottom = RowPair(lowHalf: leftTop.highHalf, highHalf: leftBottom.lowHalf)
            let inside = step >= 3 && step < width
            let filteredTop = RowPair(
                lowHalf: load(rowStarts.0, pixel: step, width: width, inside: inside, P.self),
                highHalf: load(rowStarts.1, pixel: step &- 1, width: width, inside: inside, P.self))
            let filteredBottom = RowPair(
                lowHalf: load(rowStarts.2, pixel: step &- 2, width: width, inside: inside, P.self),
                highHalf: load(rowStarts.3, pixel: step &- 3, width: width, inside: inside, P.self))
            leftTop = (filteredTop &+ paethPredictor(left: leftTop, up: upTop, upperLeft: upperLeftTop)) & 0xFF
            leftBottom = (filteredBottom &+ paethPredictor(left: leftBottom, up: upBottom, upperLeft: upperLeftBottom))
                & 0xFF
            upperLeftTop = upTop
            upperLeftBottom = upBottom
            store(leftTop.lowHalf, rowStarts.0, pixel: step, width: width, inside: inside, P.self)
            store(leftTop.highHalf, rowStarts.1, pixel: step &- 1, width: width, inside: inside, P.self)
            store(leftBottom.lowHalf, rowStarts.2, pixel: step &- 2, width: width, inside: inside, P.self)
            store(leftBottom.highHalf, rowStarts.3, pixel: step &- 3, width: width, inside: inside, P.self)
        }
    }

    /// The filtered pixel, or zeros for a pixel outside the row (`inside` says it is within).
    @inline(__always)
    private static func load<P: PixelAccess>(
        _ row: UnsafeMutablePointer<UInt8>, pixel: Int, width: Int, inside: Bool, _: P.Type
    ) -> Lanes {
        inside || (pixel >= 0 && pixel < width) ? P.load(row + pixel &* P.width) : Lanes.zero
    }

    @inline(__always)
    private static func store<P: PixelAccess>(
        _ lanes: Lanes, _ row: UnsafeMutablePointer<UInt8>, pixel: Int, width: Int, inside: Bool, _: P.Type
    ) {
        if inside || (pixel >= 0 && pixel < width) { P.store(lanes, row + pixel &* P.width) }
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

    /// Reconstructs the pixel at `offset`.
    @inline(__always)
    mutating func step<P: PixelAccess>(
        _ row: UnsafeMutablePointer<UInt8>, above: UnsafePointer<UInt8>, offset: Int, _: P.Type
    ) {
        let up = P.load(above + offset)
        left = (P.load(row + offset) &+ paethPredictor(left: left, up: up, upperLeft: upperLeft)) & 0xFF
        P.store(left, row + offset)
        upperLeft = up
    }
}

/// The Paeth predictor of every lane: whichever of left (a), up (b) and upper-left (c) is
/// closest to a + b - c, ties going to a, then b. Written per vector type: a generic form is
/// not vectorised.
@inline(__always)
private func paethPredictor(left: Lanes, up: Lanes, upperLeft: Lanes) -> Lanes {
    // Vector-with-vector operations throughout: those with a scalar operand are not vectorised.
    let zero = Lanes.zero
    let towardsUp = up &- upperLeft  // b - c
    let towardsLeft = left &- upperLeft  // a - c
    let distanceLeft = towardsUp.replacing(with: zero &- towardsUp, where: towardsUp .< zero)  // |p - a|
    let distanceUp = towardsLeft.replacing(with: zero &- towardsLeft, where: towardsLeft .< zero)  // |p - b|
    let sum = towardsUp &+ towardsLeft
    let distanceUpperLeft = sum.replacing(with: zero &- sum, where: sum .< zero)  // |p - c|
    // Signed "greater than" is one instruction on SSE2; "less or equal" is two.
    var fallback = up
    fallback.replace(with: upperLeft, where: distanceUp .> distanceUpperLeft)
    var predictor = left
    predictor.replace(with: fallback, where: (distanceLeft .> distanceUp) .| (distanceLeft .> distanceUpperLeft))
    return predictor
}

/// ``paethPredictor(left:up:upperLeft:)`` for two pixels at once.
@inline(__always)
private func paethPredictor(left: SIMD8<Int16>, up: SIMD8<Int16>, upperLeft: SIMD8<Int16>) -> SIMD8<Int16> {
    let zero = SIMD8<Int16>.zero
    let towardsUp = up &- upperLeft
    let towardsLeft = left &- upperLeft
    let distanceLeft = towardsUp.replacing(with: zero &- towardsUp, where: towardsUp .< zero)
    let distanceUp = towardsLeft.replacing(with: zero &- towardsLeft, where: towardsLeft .< zero)
    let sum = towardsUp &+ towardsLeft
    let distanceUpperLeft = sum.replacing(with: zero &- sum, where: sum .< zero)
    var fallback = up
    fallback.replace(with: upperLeft, where: distanceUp .> distanceUpperLeft)
    var predictor = left
    predictor.replace(with: fallback, where: (distanceLeft .> distanceUp) .| (distanceLeft .> distanceUpperLeft))
    return predictor
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
