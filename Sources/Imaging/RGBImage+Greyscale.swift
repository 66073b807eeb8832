extension RGBImage {
    /// An RGB image whose three channels repeat one 8-bit grey plane; `grey.count` must be `width * height`.
    public init(greyscale grey: [UInt8], width: Int, height: Int) {
        precondition(width >= 0 && height >= 0 && grey.count == width * height,
                     "a grey plane needs width * height bytes")
        let pixels = [UInt8](unsafeUninitializedCapacity: grey.count * 3) { rgb, initialized in
            grey.withUnsafeBufferPointer { grey in
                for index in 0..<grey.count {
                    let value = grey[index]
                    rgb[index * 3] = value
                    rgb[index * 3 + 1] = value
                    rgb[index * 3 + 2] = value
                }
            }
            initialized = grey.count * 3
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Luma (ITU-R BT.601 weights 0.299, 0.587, 0.114, as OpenCV's RGB-to-grey), one byte a pixel, row-major.
    public func greyscale() -> [UInt8] {
        let pixelCount = width * height
        return [UInt8](unsafeUninitializedCapacity: pixelCount) { grey, initialized in
            pixels.withUnsafeBufferPointer { rgb in
                for index in 0..<pixelCount {
                    // Fixed point with 14 fractional bits; the weights sum to exactly 1 << 14.
                    let red = UInt32(rgb[index * 3]) * 4899
                    let green = UInt32(rgb[index * 3 + 1]) * 9617
                    let blue = UInt32(rgb[index * 3 + 2]) * 1868
                    grey[index] = UInt8((red + green + blue + 8192) >> 14)
                }
            }
            initialized = pixelCount
        }
    }
}
