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

        let columns = BilinearTaps(sourceCount: width, targetCount: targetWidth, clampsFraction: true)
        // OpenCV clamps the column fraction at the edges but only the row indices (when enlarging,
        // both rows are then the same edge row), so the two axes differ slightly.
        let rows = BilinearTaps(sourceCount: height, targetCount: targetHeight, clampsFraction: false)
        var output = [UInt8](repeating: 0, count: targetWidth * targetHeight * 3)
        let rowLength = targetWidth * 3
        // Two horizontally resampled source rows, kept while consecutive output rows share them.
        var upperRow = [Int32](repeating: 0, count: rowLength)
        var lowerRow = [Int32](repeating: 0, count: rowLength)
        var upperIndex = -1
        var lowerIndex = -1

        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for targetY in 0..<targetHeight {
                    let top = rows.first[targetY]
                    let bottom = rows.second[targetY]
                    if top == lowerIndex {
                        swap(&upperRow, &lowerRow)
                        swap(&upperIndex, &lowerIndex)
                    }
                    if top != upperIndex {
                        Self.resampleRow(source, row: top, sourceWidth: width, columns: columns, into: &upperRow)
                        upperIndex = top
                    }
                    if bottom != lowerIndex {
                        Self.resampleRow(source, row: bottom, sourceWidth: width, columns: columns, into: &lowerRow)
                        lowerIndex = bottom
                    }
                    let upperWeight = rows.firstWeight[targetY]
                    let lowerWeight = rows.secondWeight[targetY]
                    let outputRow = UnsafeMutableBufferPointer(
                        rebasing: destination[(targetY * rowLength)..<((targetY + 1) * rowLength)])
                    upperRow.withUnsafeBufferPointer { upper in
                        lowerRow.withUnsafeBufferPointer { lower in
                            Self.blendRows(upper, upperWeight, lower, lowerWeight, into: outputRow)
                        }
                    }
                }
            }
        }
        return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
    }

    /// Horizontal pass: one source row to `columns.count` pixels, weights summing to 2^11.
    private static func resampleRow(
        _ source: UnsafeBufferPointer<UInt8>, row: Int, sourceWidth: Int, columns: BilinearTaps,
        into target: inout [Int32]
    ) {
        let rowStart = row * sourceWidth * 3
        target.withUnsafeMutableBufferPointer { target in
            for x in 0..<columns.first.count {
                let left = rowStart + columns.first[x] * 3
                let right = rowStart + columns.second[x] * 3
                let leftWeight = columns.firstWeight[x]
                let rightWeight = columns.secondWeight[x]
                for channel in 0..<3 {
                    target[x * 3 + channel] = Int32(source[left + channel]) * leftWeight
                        + Int32(source[right + channel]) * rightWeight
                }
            }
        }
    }

    /// Vertical pass, as OpenCV's SIMD kernel: each row drops 4 bits, is multiplied by its 11-bit
    /// weight keeping the high 16 bits, and the sum is rounded off its last 2 bits.
    private static func blendRows(
        _ upper: UnsafeBufferPointer<Int32>, _ upperWeight: Int32,
        _ lower: UnsafeBufferPointer<Int32>, _ lowerWeight: Int32,
        into output: UnsafeMutableBufferPointer<UInt8>
    ) {
        for index in 0..<output.count {
            let upperPart = (upperWeight &* (upper[index] >> 4)) >> 16
            let lowerPart = (lowerWeight &* (lower[index] >> 4)) >> 16
            output[index] = UInt8(clamping: (upperPart &+ lowerPart &+ 2) >> 2)
        }
    }
}

/// For each destination index along one axis: the two source indices and their fixed-point weights.
struct BilinearTaps {
    /// OpenCV's `INTER_RESIZE_COEF_BITS` for 8-bit images.
    static let fractionBits: Int32 = 11
    static let one: Int32 = 1 << fractionBits

    var first: [Int]
    var second: [Int]
    var firstWeight: [Int32]
    var secondWeight: [Int32]

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
    private static func fixedPoint(_ weight: Float) -> Int32 {
        Int32((weight * Float(one)).rounded(.toNearestOrEven))
    }
}
