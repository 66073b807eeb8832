extension RGBImage {
    /// Warps the image through `transform` into a `width` x `height` image, with the semantics
    /// of `cv2.warpAffine(..., flags: INTER_LINEAR, borderMode: BORDER_CONSTANT, borderValue: 0)`.
    ///
    /// `transform` maps source positions to destination positions (the matrix OpenCV takes).
    /// Each destination pixel `(x, y)` is filled by inverse mapping: the source position
    /// `inverse(x, y)` is sampled bilinearly in single precision, neighbours outside the image
    /// count as black, and the result is rounded to nearest (ties to even), as OpenCV 4.14 does.
    /// A singular transform gives a black image.
    public func warpedAffine(_ transform: AffineTransform, width targetWidth: Int, height targetHeight: Int)
        -> RGBImage {
        precondition(targetWidth > 0 && targetHeight > 0, "warp needs a positive size")
        var output = [UInt8](repeating: 0, count: targetWidth * targetHeight * 3)
        guard let inverse = transform.inverse, width > 0, height > 0 else {
            return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
        }
        let sourceWidth = width
        let sourceHeight = height
        let stepX = Float(inverse.a)
        let stepY = Float(inverse.d)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for y in 0..<targetHeight {
                    // The row origin is computed in double and then rounded, as OpenCV does.
                    let rowX = Float(Double(y) * inverse.b + inverse.c)
                    let rowY = Float(Double(y) * inverse.e + inverse.f)
                    var outputIndex = y * targetWidth * 3
                    for x in 0..<targetWidth {
                        // Fused multiply-add, as OpenCV's vector kernel computes it.
                        let sourceX = rowX.addingProduct(Float(x), stepX)
                        let sourceY = rowY.addingProduct(Float(x), stepY)
                        Self.sampleBilinear(
                            source, width: sourceWidth, height: sourceHeight,
                            x: sourceX, y: sourceY, into: destination, at: outputIndex)
                        outputIndex += 3
                    }
                }
            }
        }
        return RGBImage(width: targetWidth, height: targetHeight, pixels: output)
    }

    /// One bilinear sample of all three channels; neighbours outside the image are black.
    @inline(__always)
    private static func sampleBilinear(
        _ source: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
        x: Float, y: Float, into destination: UnsafeMutableBufferPointer<UInt8>, at outputIndex: Int
    ) {
        let floorX = x.rounded(.down)
        let floorY = y.rounded(.down)
        // Positions far outside (or not finite) leave the pixel black.
        guard floorX >= -1, floorY >= -1, floorX < Float(width), floorY < Float(height) else { return }
        let left = Int(floorX)
        let top = Int(floorY)
        let fractionX = x - floorX
        let fractionY = y - floorY
        let rowStride = width * 3
        let inside = left >= 0 && top >= 0 && left < width - 1 && top < height - 1
        for channel in 0..<3 {
            let topLeft: Float
            let topRight: Float
            let bottomLeft: Float
            let bottomRight: Float
            if inside {
                let base = top * rowStride + left * 3 + channel
                topLeft = Float(source[base])
                topRight = Float(source[base + 3])
                bottomLeft = Float(source[base + rowStride])
                bottomRight = Float(source[base + rowStride + 3])
            } else {
                topLeft = Self.pixel(source, width: width, height: height, x: left, y: top, channel: channel)
                topRight = Self.pixel(source, width: width, height: height, x: left + 1, y: top, channel: channel)
                bottomLeft = Self.pixel(source, width: width, height: height, x: left, y: top + 1, channel: channel)
                bottomRight = Self.pixel(
                    source, width: width, height: height, x: left + 1, y: top + 1, channel: channel)
            }
            let upper = topLeft.addingProduct(fractionX, topRight - topLeft)
            let lower = bottomLeft.addingProduct(fractionX, bottomRight - bottomLeft)
            let value = upper.addingProduct(fractionY, lower - upper)
            destination[outputIndex + channel] = UInt8(clamping: Int(value.rounded(.toNearestOrEven)))
        }
    }

    @inline(__always)
    private static func pixel(
        _ source: UnsafeBufferPointer<UInt8>, width: Int, height: Int, x: Int, y: Int, channel: Int
    ) -> Float {
        guard x >= 0, y >= 0, x < width, y < height else { return 0 }
        return Float(source[(y * width + x) * 3 + channel])
    }
}
