import Imaging

/// dlib's aligned face chip (`dlib.get_face_chip(img, shape, 150, 0.25)`): what its ResNet
/// descriptor expects.
public enum DlibFaceChip {
    /// Chip side in pixels for dlib's face descriptor.
    public static let size = 150
    /// Padding around the template face, as a fraction of its unit frame.
    public static let padding = 0.25

    /// dlib's 5-point template in its unit face frame: the subject's left eye outer and inner
    /// corners, the right eye outer and inner corners, the nose base (`get_face_chip_details`).
    static let unitTemplate: [SIMD2<Double>] = [
        SIMD2(0.8595674595992, 0.2134981538014),
        SIMD2(0.6460604764104, 0.2289674387677),
        SIMD2(0.1205750620789, 0.2137274526848),
        SIMD2(0.3340850613712, 0.2290642403242),
        SIMD2(0.4901123135679, 0.6277975316475),
    ]

    /// The template in chip pixels: `(padding + p) / (2 padding + 1) * size`, in dlib's order
    /// of operations.
    static func templatePoints(size: Int, padding: Double) -> [SIMD2<Double>] {
        unitTemplate.map { point in
            let padded = (SIMD2(repeating: padding) + point) / (2 * padding + 1)
            return padded * Double(size)
        }
    }

    /// The chip for the face with these landmarks: `get_face_chip_details` then `extract_image_chip`.
    public static func chip(
        from image: RGBImage, landmarks: DlibFaceLandmarks, size: Int = size, padding: Double = padding
    ) -> RGBImage {
        extract(from: image, details: DlibChipDetails(faceLandmarks: landmarks, size: size, padding: padding))
    }

    /// dlib's `extract_image_chip` with bilinear interpolation, for one chip.
    ///
    /// Like dlib: crops the image to the rotated chip rectangle grown by a margin; when the chip
    /// is much smaller than its rectangle (the rectangle halved still holds more pixels than
    /// the chip), first halves that crop with `pyramid_down<2>` as many times as needed; then
    /// samples every chip pixel bilinearly, truncating to 8 bits, black where the 2x2
    /// neighbourhood leaves the (cropped) source.
    public static func extract(from image: RGBImage, details: DlibChipDetails) -> RGBImage {
        let rows = details.rows, columns = details.columns
        let chipArea = Double(rows * columns)
        let location = details.rectangle

        // An unrotated chip the size of its rectangle is a plain copy.
        if details.angle == 0, Double(rows) == location.height, Double(columns) == location.width {
            return copy(from: image, rectangle: location.rounded, rows: rows, columns: columns)
        }

        // The crop's margin: 2 pixels, doubled plus 2 for every halving the chip will need.
        var grow = 2.0
        var probe = location.halved
        while probe.area > chipArea {
            probe = probe.halved
            grow = grow * 2 + 2
        }
        let centre = location.centre
        var rotated = DoubleRectangle.empty
        for corner in [location.topLeft, location.topRight, location.bottomLeft, location.bottomRight] {
            rotated = rotated.including(rotate(corner, about: centre, angle: details.angle))
        }
        let whole = DoubleRectangle(left: 0, top: 0, right: Double(image.width - 1), bottom: Double(image.height - 1))
        let bounds = rotated.grown(by: grow).intersection(whole).rounded

        var source = crop(image, left: bounds.left, top: bounds.top, right: bounds.right, bottom: bounds.bottom)
        var rectangle = location.translated(by: SIMD2(-Double(bounds.left), -Double(bounds.top)))
        var level = -1
        while rectangle.halved.area > chipArea {
            level += 1
            rectangle = rectangle.halved
        }
        if level >= 0 {
            for _ in 0...level {
                source = PyramidDown.halve(source)
            }
        }

        let chipCentre = rectangle.centre
        let topLeft = rotate(rectangle.topLeft, about: chipCentre, angle: details.angle)
        let topRight = rotate(rectangle.topRight, about: chipCentre, angle: details.angle)
        let bottomLeft = rotate(rectangle.bottomLeft, about: chipCentre, angle: details.angle)
        // The affine map sending the chip's corners (0,0), (columns-1,0), (0,rows-1) there.
        let alongRow = columns > 1 ? (topRight - topLeft) / Double(columns - 1) : SIMD2(0, 0)
        let alongColumn = rows > 1 ? (bottomLeft - topLeft) / Double(rows - 1) : SIMD2(0, 0)
        let map = AffineTransform(a: alongRow.x, b: alongColumn.x, c: topLeft.x, d: alongRow.y, e: alongColumn.y, f: topLeft.y)
        return sampleBilinear(source, map: map, rows: rows, columns: columns)
    }

    /// How many times `extract_image_chip` halves the image for these details: while halving the
    /// chip's rectangle still leaves more pixels than the chip has.
    public static func pyramidHalvings(for details: DlibChipDetails) -> Int {
        let chipArea = Double(details.rows * details.columns)
        var rectangle = details.rectangle
        var halvings = 0
        while rectangle.halved.area > chipArea {
            halvings += 1
            rectangle = rectangle.halved
        }
        return halvings
    }

    /// `transform_image` with `interpolate_bilinear` and a black background.
    static func sampleBilinear(_ source: RGBImage, map: AffineTransform, rows: Int, columns: Int) -> RGBImage {
        var chip = [UInt8](repeating: 0, count: rows * columns * 3)
        let width = source.width, height = source.height
        source.pixels.withUnsafeBufferPointer { pixels in
            chip.withUnsafeMutableBufferPointer { output in
                for row in 0..<rows {
                    for column in 0..<columns {
                        let x = map.a * Double(column) + map.b * Double(row) + map.c
                        let y = map.d * Double(column) + map.e * Double(row) + map.f
                        let leftEdge = x.rounded(.down), topEdge = y.rounded(.down)
                        // Out-of-range coordinates (including NaN) stay black.
                        guard leftEdge >= 0, topEdge >= 0, leftEdge + 1 < Double(width), topEdge + 1 < Double(height) else {
                            continue
                        }
                        let left = Int(leftEdge), top = Int(topEdge)
                        let horizontal = x - leftEdge, vertical = y - topEdge
                        let topRow = (top * width + left) * 3
                        let bottomRow = topRow + width * 3
                        let target = (row * columns + column) * 3
                        for channel in 0..<3 {
                            let topLeft = Double(pixels[topRow + channel]), topRight = Double(pixels[topRow + 3 + channel])
                            let bottomLeft = Double(pixels[bottomRow + channel]), bottomRight = Double(pixels[bottomRow + 3 + channel])
                            let value = (1 - vertical) * ((1 - horizontal) * topLeft + horizontal * topRight)
                                + vertical * ((1 - horizontal) * bottomLeft + horizontal * bottomRight)
                            output[target + channel] = UInt8(value)
                        }
                    }
                }
            }
        }
        return RGBImage(width: columns, height: rows, pixels: chip)
    }

    /// The pixels inside the (inclusive) rectangle, which lies inside the image; empty when inverted.
    static func crop(_ image: RGBImage, left: Int, top: Int, right: Int, bottom: Int) -> RGBImage {
        guard left <= right, top <= bottom else { return RGBImage(width: 0, height: 0) }
        let width = right - left + 1, height = bottom - top + 1
        var pixels = [UInt8]()
        pixels.reserveCapacity(width * height * 3)
        for row in top...bottom {
            let start = (row * image.width + left) * 3
            pixels.append(contentsOf: image.pixels[start..<(start + width * 3)])
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// dlib's `basic_extract_image_chip`: the rectangle copied as is, black outside the image.
    static func copy(
        from image: RGBImage, rectangle: (left: Int, top: Int, right: Int, bottom: Int), rows: Int, columns: Int
    ) -> RGBImage {
        var chip = RGBImage(width: columns, height: rows)
        for row in 0..<rows {
            let sourceRow = rectangle.top + row
            guard sourceRow >= 0, sourceRow < image.height else { continue }
            for column in 0..<columns {
                let sourceColumn = rectangle.left + column
                guard sourceColumn >= 0, sourceColumn < image.width else { continue }
                let from = (sourceRow * image.width + sourceColumn) * 3
                let to = (row * columns + column) * 3
                chip.pixels[to] = image.pixels[from]
                chip.pixels[to + 1] = image.pixels[from + 1]
                chip.pixels[to + 2] = image.pixels[from + 2]
            }
        }
        return chip
    }
}
