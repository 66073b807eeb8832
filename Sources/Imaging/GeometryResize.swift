extension RGBImage {
    /// Resamples the image to `width` x `height` by bilinear interpolation with OpenCV's
    /// `INTER_LINEAR` semantics, so a detector sees the pixels it would see behind `cv2.resize`.
    ///
    /// Pixel centres are aligned: destination pixel `d` samples source position
    /// `(d + 0.5) * (sourceSize / destinationSize) - 0.5`, clamped to the image. Weights are
    /// fixed point with 11 fractional bits and rows are combined with the truncations of
    /// OpenCV's vectorised 8-bit kernel, so the output equals `cv2.resize(INTER_LINEAR)` byte for
    /// byte (checked on the test photos, reducing and enlarging). Like `INTER_LINEAR` (and
    /// unlike `INTER_AREA`) a strong reduction samples rather than averages, so it aliases.
    public func resizedBilinear(width targetWidth: Int, height targetHeight: Int) -> RGBImage {
        precondition(targetWidth > 0 && targetHeight > 0, "resize needs a positive size")
        precondition(width > 0 && height > 0, "cannot resize an empty image")
        if targetWidth == width && targetHeight == height { return self }
        let rowLength = targetWidth * 3
        let output = [UInt8](unsafeUninitializedCapacity: rowLength * targetHeight) { destination, initialized in
            let base = destination.baseAddress!
            forEachRowResizedBilinear(width: targetWidth, height: targetHeight) { targetY, row in
                (base + targetY * rowLength).update(from: row.baseAddress!, count: rowLength)
            }
            initialized = rowLength * targetHeight
        }
        return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
    }

    /// The rows of ``resizedBilinear(width:height:)``, top to bottom, each handed to `body` as
    /// `width * 3` interleaved RGB bytes, without building the resized image.
    ///
    /// For consumers that convert the pixels anyway (a model's float tensor, say): they read
    /// each row while it is in cache. The bytes are exactly those of `resizedBilinear`; at the
    /// image's own size they are its rows. The buffer is valid only during the call and is reused.
    public func forEachRowResizedBilinear(
        width targetWidth: Int, height targetHeight: Int,
        _ body: (_ y: Int, _ row: UnsafeBufferPointer<UInt8>) -> Void
    ) {
        precondition(targetWidth > 0 && targetHeight > 0, "resize needs a positive size")
        precondition(width > 0 && height > 0, "cannot resize an empty image")
        pixels.withUnsafeBufferPointer { source in
            if targetWidth == width && targetHeight == height {
                let rowLength = width * 3
                for y in 0..<height {
                    body(y, UnsafeBufferPointer(rebasing: source[(y * rowLength)..<((y + 1) * rowLength)]))
                }
                return
            }
            var resizer = BilinearResizer(
                sourceWidth: width, sourceHeight: height, targetWidth: targetWidth, targetHeight: targetHeight)
            resizer.forEachRow(of: source.baseAddress!, body)
        }
    }
}

/// OpenCV's 8-bit `INTER_LINEAR` resize as two passes: each needed source row is resampled
/// horizontally once (kept while consecutive output rows share it), then pairs of those rows are
/// blended vertically into an output row.
///
/// The arithmetic is OpenCV's: horizontal sums with 11-bit weights, stored without their low 4
/// bits (what OpenCV's vertical kernel drops first), then each row's high 16 bits of the
/// product with its 11-bit weight, and the sum rounded off its last 2 bits. The loops are laid
/// out for the vectoriser: the horizontal gather only moves bytes into contiguous staging rows,
/// and the multiplications then run over contiguous arrays with per-element weights (which lets
/// LLVM use 16-bit high multiplies; a broadcast weight makes it fall back to 32-bit products).
struct BilinearResizer: ~Copyable {
    private let sourceWidth: Int
    private let targetWidth: Int
    private let targetHeight: Int
    private let rows: BilinearTaps
    /// Byte offsets in a source row of each output pixel's left and right neighbours.
    private let leftOffsets: UnsafeMutableBufferPointer<Int>
    private let rightOffsets: UnsafeMutableBufferPointer<Int>
    /// The horizontal weights repeated for the three channels of each output pixel.
    private let leftWeights: UnsafeMutableBufferPointer<Int16>
    private let rightWeights: UnsafeMutableBufferPointer<Int16>
    /// Output pixels below this index read both neighbours with one 8-byte load: the right
    /// neighbour follows the left one and the load stays inside the row.
    private let adjacentCount: Int
    /// One allocation for the working rows below (all `targetWidth * 3` long, staging a little longer).
    private let scratch: UnsafeMutableRawPointer
    private let leftStaging: UnsafeMutablePointer<UInt8>
    private let rightStaging: UnsafeMutablePointer<UInt8>
    private var upperRow: UnsafeMutablePointer<Int16>
    private var lowerRow: UnsafeMutablePointer<Int16>
    private let upperWeights: UnsafeMutablePointer<Int16>
    private let lowerWeights: UnsafeMutablePointer<Int16>
    private let outputRow: UnsafeMutablePointer<UInt8>

    /// Room past the end of a staging row for the 4-byte stores of its last pixel.
    private static let stagingSlack = 8

    init(sourceWidth: Int, sourceHeight: Int, targetWidth: Int, targetHeight: Int) {
        self.sourceWidth = sourceWidth
        self.targetWidth = targetWidth
        self.targetHeight = targetHeight
        // OpenCV clamps the column fraction at the edges but only the row indices (when enlarging,
        // both rows are then the same edge row), so the two axes differ slightly.
        let columns = BilinearTaps(sourceCount: sourceWidth, targetCount: targetWidth, clampsFraction: true)
        rows = BilinearTaps(sourceCount: sourceHeight, targetCount: targetHeight, clampsFraction: false)
        let rowLength = targetWidth * 3
        leftOffsets = .allocate(capacity: targetWidth)
        rightOffsets = .allocate(capacity: targetWidth)
        leftWeights = .allocate(capacity: rowLength)
        rightWeights = .allocate(capacity: rowLength)
        let sourceRowBytes = sourceWidth * 3
        var adjacent = 0
        var stillAdjacent = true
        for x in 0..<targetWidth {
            let left = columns.first[x] * 3
            let right = columns.second[x] * 3
            leftOffsets[x] = left
            rightOffsets[x] = right
            for channel in 0..<3 {
                leftWeights[x * 3 + channel] = columns.firstWeight[x]
                rightWeights[x * 3 + channel] = columns.secondWeight[x]
            }
            // Source positions grow with x, so the pixels that qualify form a prefix.
            stillAdjacent = stillAdjacent && right == left + 3 && left + 8 <= sourceRowBytes
            if stillAdjacent { adjacent = x + 1 }
        }
        adjacentCount = adjacent

        let stagingLength = rowLength + Self.stagingSlack
        let byteCount = 2 * stagingLength + rowLength + 4 * rowLength * MemoryLayout<Int16>.stride
        scratch = .allocate(byteCount: byteCount, alignment: 16)
        let int16Rows = scratch.bindMemory(to: Int16.self, capacity: 4 * rowLength)
        upperRow = int16Rows
        lowerRow = int16Rows + rowLength
        upperWeights = int16Rows + 2 * rowLength
        lowerWeights = int16Rows + 3 * rowLength
        let bytes = (scratch + 4 * rowLength * MemoryLayout<Int16>.stride)
            .bindMemory(to: UInt8.self, capacity: 2 * stagingLength + rowLength)
        leftStaging = bytes
        rightStaging = bytes + stagingLength
        outputRow = bytes + 2 * stagingLength
    }

    deinit {
        leftOffsets.deallocate()
        rightOffsets.deallocate()
        leftWeights.deallocate()
        rightWeights.deallocate()
        scratch.deallocate()
    }

    /// Produces every output row from `source` (`sourceWidth * 3` bytes a row) and hands it to `body`.
    mutating func forEachRow(
        of source: UnsafePointer<UInt8>, _ body: (_ y: Int, _ row: UnsafeBufferPointer<UInt8>) -> Void
    ) {
        let rowLength = targetWidth * 3
        let sourceRowBytes = sourceWidth * 3
        var upperIndex = -1
        var lowerIndex = -1
        for targetY in 0..<targetHeight {
            let top = rows.first[targetY]
            let bottom = rows.second[targetY]
            if top == lowerIndex {
                swap(&upperRow, &lowerRow)
                swap(&upperIndex, &lowerIndex)
            }
            if top != upperIndex {
                resampleRow(source + top * sourceRowBytes, into: upperRow)
                upperIndex = top
            }
            if bottom != lowerIndex {
                resampleRow(source + bottom * sourceRowBytes, into: lowerRow)
                lowerIndex = bottom
            }
            upperWeights.update(repeating: rows.firstWeight[targetY], count: rowLength)
            lowerWeights.update(repeating: rows.secondWeight[targetY], count: rowLength)
            blendRows()
            body(targetY, UnsafeBufferPointer(start: outputRow, count: rowLength))
        }
    }

    /// Horizontal pass of one source row: `(left * w0 + right * w1) >> 4` for every channel.
    private func resampleRow(_ row: UnsafePointer<UInt8>, into target: UnsafeMutablePointer<Int16>) {
        let source = UnsafeRawPointer(row)
        let left = UnsafeMutableRawPointer(leftStaging)
        let right = UnsafeMutableRawPointer(rightStaging)
        // Bytes 0-2 of the load are the left pixel, 3-5 the right one; each 4-byte store writes
        // one byte too many, which the next pixel's store (or the slack) absorbs.
        for x in 0..<adjacentCount {
            let pair = source.loadUnaligned(fromByteOffset: leftOffsets[x], as: UInt64.self)
            left.storeBytes(of: UInt32(truncatingIfNeeded: pair), toByteOffset: x &* 3, as: UInt32.self)
            right.storeBytes(of: UInt32(truncatingIfNeeded: pair &>> 24), toByteOffset: x &* 3, as: UInt32.self)
        }
        for x in adjacentCount..<targetWidth {
            for channel in 0..<3 {
                leftStaging[x * 3 + channel] = row[leftOffsets[x] + channel]
                rightStaging[x * 3 + channel] = row[rightOffsets[x] + channel]
            }
        }
        for index in 0..<(targetWidth &* 3) {
            let sum = Int32(leftStaging[index]) &* Int32(leftWeights[index])
                &+ Int32(rightStaging[index]) &* Int32(rightWeights[index])
            target[index] = Int16(truncatingIfNeeded: sum &>> 4)
        }
    }

    /// Vertical pass, as OpenCV's SIMD kernel: each row times its weight keeping the high 16
    /// bits, and the sum rounded off its last 2 bits.
    private func blendRows() {
        for index in 0..<(targetWidth &* 3) {
            let upper = Int16(truncatingIfNeeded: (Int32(upperWeights[index]) &* Int32(upperRow[index])) &>> 16)
            let lower = Int16(truncatingIfNeeded: (Int32(lowerWeights[index]) &* Int32(lowerRow[index])) &>> 16)
            outputRow[index] = UInt8(clamping: (upper &+ lower &+ 2) &>> 2)
        }
    }
}

/// For each destination index along one axis: the two source indices and their fixed-point weights.
struct BilinearTaps {
    /// OpenCV's `INTER_RESIZE_COEF_BITS` for 8-bit images.
    static let fractionBits: Int16 = 11
    static let one: Int16 = 1 << fractionBits

    var first: [Int]
    var second: [Int]
    var firstWeight: [Int16]
    var secondWeight: [Int16]

    init(sourceCount: Int, targetCount: Int, clampsFraction: Bool) {
        let scale = 1 / (Double(targetCount) / Double(sourceCount))
        first = []
        second = []
        firstWeight = []
        secondWeight = []
        first.reserveCapacity(targetCount)
        second.reserveCapacity(targetCount)
        firstWeight.reserveCapacity(targetCount)
        secondWeight.reserveCapacity(targetCount)
        for target in 0..<targetCount {
            // OpenCV computes the position in double and keeps it as float.
            let position = Float((Double(target) + 0.5) * scale - 0.5)
            var index = Int(position.rounded(.down))
            var fraction = position - Float(index)
            if clampsFraction && index < 0 {
                index = 0
                fraction = 0
            }
            if clampsFraction && index >= sourceCount - 1 {
                index = sourceCount - 1
                fraction = 0
            }
            first.append(min(max(index, 0), sourceCount - 1))
            second.append(min(max(index + 1, 0), sourceCount - 1))
            firstWeight.append(Self.fixedPoint(1 - fraction))
            secondWeight.append(Self.fixedPoint(fraction))
        }
    }

    /// `saturate_cast<short>(w * 2^11)`: round half to even.
    private static func fixedPoint(_ weight: Float) -> Int16 {
        Int16((weight * Float(one)).rounded(.toNearestOrEven))
    }
}
