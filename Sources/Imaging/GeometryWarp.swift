extension RGBImage {
    /// Warps the image through `transform` into a `width` x `height` image, with the semantics
    /// of `cv2.warpAffine(..., flags: INTER_LINEAR, borderMode: BORDER_CONSTANT, borderValue: 0)`.
    ///
    /// `transform` maps source positions to destination positions (the matrix OpenCV takes).
    /// Each destination pixel `(x, y)` is filled by inverse mapping: the source position
    /// `inverse(x, y)` is rounded to 1/32 pixel and sampled bilinearly with 15-bit fixed-point
    /// weights; neighbours outside the image count as black. These are OpenCV's own steps, so
    /// the result equals OpenCV 4.14's byte for byte (checked against `alignCrop` on the test
    /// photos). A singular transform gives a black image.
    public func warpedAffine(_ transform: AffineTransform, width targetWidth: Int, height targetHeight: Int)
        -> RGBImage {
        precondition(targetWidth > 0 && targetHeight > 0, "warp needs a positive size")
        var output = [UInt8](repeating: 0, count: targetWidth * targetHeight * 3)
        guard let inverse = transform.inverse, width > 0, height > 0 else {
            return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
        }
        // Source positions in 1/1024 pixel: the column part once per column, the row part once
        // per row, as OpenCV splits them.
        let columnX = (0..<targetWidth).map { WarpFixedPoint.scaled(inverse.a * Double($0)) }
        let columnY = (0..<targetWidth).map { WarpFixedPoint.scaled(inverse.d * Double($0)) }
        let sourceWidth = width
        let sourceHeight = height
        let rowStride = width * 3
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                columnX.withUnsafeBufferPointer { columnX in
                    columnY.withUnsafeBufferPointer { columnY in
                        for y in 0..<targetHeight {
                            let rounding = WarpFixedPoint.rounding
                            let rowX = WarpFixedPoint.scaled(inverse.b * Double(y) + inverse.c) + rounding
                            let rowY = WarpFixedPoint.scaled(inverse.e * Double(y) + inverse.f) + rounding
                            var outputIndex = y * targetWidth * 3
                            for x in 0..<targetWidth {
                                // Now in 1/32 pixel: integer part and a 5-bit fraction.
                                let sourceX = (rowX &+ columnX[x]) &>> WarpFixedPoint.precisionDrop
                                let sourceY = (rowY &+ columnY[x]) &>> WarpFixedPoint.precisionDrop
                                let left = sourceX &>> WarpFixedPoint.fractionBits
                                let top = sourceY &>> WarpFixedPoint.fractionBits
                                // Most crop pixels have all four neighbours inside the image.
                                if left >= 0 && top >= 0 && left < sourceWidth - 1 && top < sourceHeight - 1 {
                                    Self.sampleInside(
                                        source, at: top &* rowStride &+ left &* 3, rowStride: rowStride,
                                        fractionX: sourceX & (WarpFixedPoint.steps - 1),
                                        fractionY: sourceY & (WarpFixedPoint.steps - 1),
                                        into: destination, at: outputIndex)
                                } else {
                                    Self.sampleBilinear(
                                        source, width: sourceWidth, height: sourceHeight,
                                        x: sourceX, y: sourceY, into: destination, at: outputIndex)
                                }
                                outputIndex &+= 3
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
    }

    /// One bilinear sample of all three channels whose four neighbours are all inside the image,
    /// the top-left one at byte `base`; `fractionX` and `fractionY` are in 1/32 pixel.
    @inline(__always)
    private static func sampleInside(
        _ source: UnsafeBufferPointer<UInt8>, at base: Int, rowStride: Int, fractionX: Int, fractionY: Int,
        into destination: UnsafeMutableBufferPointer<UInt8>, at outputIndex: Int
    ) {
        let steps = WarpFixedPoint.steps
        let weightTopLeft = Int32(truncatingIfNeeded: (steps &- fractionX) &* (steps &- fractionY) &* steps)
        let weightTopRight = Int32(truncatingIfNeeded: fractionX &* (steps &- fractionY) &* steps)
        let weightBottomLeft = Int32(truncatingIfNeeded: (steps &- fractionX) &* fractionY &* steps)
        let weightBottomRight = Int32(truncatingIfNeeded: fractionX &* fractionY &* steps)
        let top = source.baseAddress! + base
        let bottom = top + rowStride
        let output = destination.baseAddress! + outputIndex
        let rounding = Int32(1 << (WarpFixedPoint.weightBits - 1))
        for channel in 0..<3 {
            let sum = Int32(top[channel]) &* weightTopLeft &+ Int32(top[channel &+ 3]) &* weightTopRight
                &+ Int32(bottom[channel]) &* weightBottomLeft &+ Int32(bottom[channel &+ 3]) &* weightBottomRight
            // The weights sum to 2^15, so the rounded result is at most 255.
            output[channel] = UInt8(truncatingIfNeeded: (sum &+ rounding) &>> Int32(WarpFixedPoint.weightBits))
        }
    }

    /// One bilinear sample of all three channels at `(x, y)` in 1/32 pixel; neighbours outside
    /// the image are black.
    private static func sampleBilinear(
        _ source: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
        x: Int, y: Int, into destination: UnsafeMutableBufferPointer<UInt8>, at outputIndex: Int
    ) {
        let left = x >> WarpFixedPoint.fractionBits
        let top = y >> WarpFixedPoint.fractionBits
        // Entirely outside: the pixel stays black.
        guard left >= -1, top >= -1, left < width, top < height else { return }
        let fractionX = x & (WarpFixedPoint.steps - 1)
        let fractionY = y & (WarpFixedPoint.steps - 1)
        // Products of two 5-bit fractions scaled to 15 bits: exact, and they sum to 2^15.
        let steps = WarpFixedPoint.steps
        let weightTopLeft = (steps - fractionX) * (steps - fractionY) * steps
        let weightTopRight = fractionX * (steps - fractionY) * steps
        let weightBottomLeft = (steps - fractionX) * fractionY * steps
        let weightBottomRight = fractionX * fractionY * steps
        for channel in 0..<3 {
            let sum = pixel(source, width, height, left, top, channel) * weightTopLeft
                + pixel(source, width, height, left + 1, top, channel) * weightTopRight
                + pixel(source, width, height, left, top + 1, channel) * weightBottomLeft
                + pixel(source, width, height, left + 1, top + 1, channel) * weightBottomRight
            let value = (sum + (1 << (WarpFixedPoint.weightBits - 1))) >> WarpFixedPoint.weightBits
            destination[outputIndex + channel] = UInt8(clamping: value)
        }
    }

    @inline(__always)
    private static func pixel(_ source: UnsafeBufferPointer<UInt8>, _ width: Int, _ height: Int,
                              _ x: Int, _ y: Int, _ channel: Int) -> Int {
        guard x >= 0, y >= 0, x < width, y < height else { return 0 }
        return Int(source[(y * width + x) * 3 + channel])
    }
}

/// OpenCV's fixed-point constants for `warpAffine` with bilinear interpolation.
private enum WarpFixedPoint {
    /// Coordinates are first computed in 1/1024 pixel (`AB_BITS`).
    static let coordinateBits = 10
    /// Then kept in 1/32 pixel (`INTER_BITS`).
    static let fractionBits = 5
    static let steps = 1 << fractionBits
    static let precisionDrop = coordinateBits - fractionBits
    /// Half a 1/32 step in 1/1024 units, so dropping bits rounds to nearest.
    static let rounding = (1 << coordinateBits) / steps / 2
    /// Interpolation weights carry 15 fractional bits (`INTER_REMAP_COEF_BITS`).
    static let weightBits = 15

    /// `value * 1024` rounded half to even, saturated to 32 bits, as `saturate_cast<int>`.
    static func scaled(_ value: Double) -> Int {
        let scaled = (value * Double(1 << coordinateBits)).rounded(.toNearestOrEven)
        guard scaled.isFinite else { return scaled < 0 ? Int(Int32.min) : Int(Int32.max) }
        return Int(Int32(clamping: Int64(max(min(scaled, 9.2e18), -9.2e18))))
    }
}
