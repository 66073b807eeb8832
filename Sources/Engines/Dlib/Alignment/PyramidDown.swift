import Imaging

/// dlib's `pyramid_down<2>` for RGB images: a separable 5-tap [1 4 6 4 1] filter, applied to
/// every other column then every other row, integer sums divided by 256 (truncating).
/// The output is `((rows - 3) / 2) x ((columns - 3) / 2)`; images of 8 pixels or fewer on
/// a side become empty, as in dlib.
enum PyramidDown {
    static func halve(_ image: RGBImage) -> RGBImage {
        let rows = image.height, columns = image.width
        guard rows > 8, columns > 8 else { return RGBImage(width: 0, height: 0) }
        let outColumns = (columns - 3) / 2
        let outRows = (rows - 3) / 2
        // Horizontal pass on every row, every other column: sums up to 16 * 255.
        var horizontal = [UInt32](repeating: 0, count: rows * outColumns * 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            horizontal.withUnsafeMutableBufferPointer { sums in
                for row in 0..<rows {
                    let rowStart = row * columns * 3
                    for column in 0..<outColumns {
                        let first = rowStart + 2 * column * 3
                        let target = (row * outColumns + column) * 3
                        for channel in 0..<3 {
                            let p0 = UInt32(pixels[first + channel])
                            let p1 = UInt32(pixels[first + 3 + channel])
                            let p2 = UInt32(pixels[first + 6 + channel])
                            let p3 = UInt32(pixels[first + 9 + channel])
                            let p4 = UInt32(pixels[first + 12 + channel])
                            sums[target + channel] = p0 + 4 * p1 + 6 * p2 + 4 * p3 + p4
                        }
                    }
                }
            }
        }
        // Vertical pass centred on rows 2, 4, ...: total weight 256.
        var output = [UInt8](repeating: 0, count: outRows * outColumns * 3)
        horizontal.withUnsafeBufferPointer { sums in
            output.withUnsafeMutableBufferPointer { out in
                let stride = outColumns * 3
                for outRow in 0..<outRows {
                    let centre = (2 * outRow + 2) * stride
                    for index in 0..<stride {
                        let total = sums[centre - 2 * stride + index] + 4 * sums[centre - stride + index]
                            + 6 * sums[centre + index] + 4 * sums[centre + stride + index] + sums[centre + 2 * stride + index]
                        out[outRow * stride + index] = UInt8(total / 256)
                    }
                }
            }
        }
        return RGBImage(width: outColumns, height: outRows, pixels: output)
    }
}
