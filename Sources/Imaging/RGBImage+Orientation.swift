extension RGBImage {
    /// The image turned upright according to an EXIF orientation: pixels are moved, never resampled.
    public func applying(_ orientation: ExifOrientation) -> RGBImage {
        guard orientation != .identity, width > 0, height > 0 else { return self }
        let outputWidth = orientation.swapsDimensions ? height : width
        let outputHeight = orientation.swapsDimensions ? width : height
        // Source pixel index of the output's top-left pixel, and how it moves per output column and row.
        let last = height - 1, lastColumn = width - 1
        let (start, columnStep, rowStep): (Int, Int, Int) = switch orientation {
        case .identity: (0, 1, width)
        case .flipHorizontal: (lastColumn, -1, width)
        case .rotate180: (last * width + lastColumn, -1, -width)
        case .flipVertical: (last * width, 1, -width)
        case .transpose: (0, width, 1)
        case .rotate90Clockwise: (last * width, -width, 1)
        case .transverse: (last * width + lastColumn, -width, -1)
        case .rotate90CounterClockwise: (lastColumn, width, -1)
        }
        let output = [UInt8](unsafeUninitializedCapacity: pixels.count) { destination, initialized in
            pixels.withUnsafeBufferPointer { source in
                var written = 0
                var rowOrigin = start
                for _ in 0..<outputHeight {
                    var sourcePixel = rowOrigin
                    for _ in 0..<outputWidth {
                        let sourceByte = sourcePixel * 3
                        destination[written] = source[sourceByte]
                        destination[written + 1] = source[sourceByte + 1]
                        destination[written + 2] = source[sourceByte + 2]
                        written += 3
                        sourcePixel += columnStep
                    }
                    rowOrigin += rowStep
                }
            }
            initialized = pixels.count
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: output)
    }
}
