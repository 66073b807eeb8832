import CPNG
import Foundation
import Imaging
import Testing

/// Every PNG colour type and bit depth, made from the astronaut photo by libpng's own writer or by
/// hand (stored deflate blocks), decodes to the colours the file holds.
struct PNGVariantTests {
    /// 128 x 128 real pixels: every fourth pixel of every fourth row of astronaut.png.
    static func source() throws -> RGBImage {
        try ImageDecoder().decode(TestData.photo("astronaut.png")).decimated(by: 4)
    }

    /// A varied alpha plane, 0 and 255 included.
    static func alphaPlane(count: Int) -> [UInt8] {
        (0..<count).map { UInt8(($0 * 37) % 256) }
    }

    @Test func greyWrittenByLibPNG() throws {
        let image = try Self.source()
        let grey = image.greyscale()
        let png = try grey.withUnsafeBytes {
            try LibPNGWriter.encode(width: 128, height: 128, format: png_uint_32(PNG_FORMAT_GRAY), samples: $0)
        }
        #expect(png[25] == 0, "colour type 0")
        #expect(try ImageDecoder().decode(png) == RGBImage(greyscale: grey, width: 128, height: 128))
    }

    @Test func greyAndAlphaWrittenByLibPNG() throws {
        let grey = try Self.source().greyscale()
        let alpha = Self.alphaPlane(count: grey.count)
        let samples = zip(grey, alpha).flatMap { [$0, $1] }
        let png = try samples.withUnsafeBytes {
            try LibPNGWriter.encode(width: 128, height: 128, format: png_uint_32(PNG_FORMAT_GA), samples: $0)
        }
        #expect(png[25] == 4, "colour type 4")
        #expect(try ImageDecoder().decode(png) == RGBImage(greyscale: grey, width: 128, height: 128))
    }

    @Test func rgbaWrittenByLibPNGKeepsColoursUnderEveryAlpha() throws {
        let image = try Self.source()
        let alpha = Self.alphaPlane(count: 128 * 128)
        var samples: [UInt8] = []
        for index in 0..<alpha.count { samples += image.pixels[index * 3..<index * 3 + 3] + [alpha[index]] }
        let png = try samples.withUnsafeBytes {
            try LibPNGWriter.encode(width: 128, height: 128, format: png_uint_32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA), samples: $0)
        }
        #expect(png[25] == 6, "colour type 6")
        #expect(try ImageDecoder().decode(png) == image)
    }

    @Test func paletteWrittenByLibPNG() throws {
        let image = try Self.source()
        // A 6 x 6 x 6 colour cube; each pixel takes its nearest cube colour.
        let levels: [UInt8] = [0, 51, 102, 153, 204, 255]
        let palette = levels.flatMap { red in levels.flatMap { green in levels.flatMap { blue in [red, green, blue] } } }
        func level(_ value: UInt8) -> Int { (Int(value) + 25) / 51 }
        let indices = (0..<128 * 128).map { pixel -> UInt8 in
            let rgb = image.pixel(pixel % 128, pixel / 128)
            return UInt8(level(rgb[0]) * 36 + level(rgb[1]) * 6 + level(rgb[2]))
        }
        let png = try indices.withUnsafeBytes {
            try LibPNGWriter.encode(width: 128, height: 128, format: png_uint_32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_COLORMAP),
                                    samples: $0, colormap: palette)
        }
        #expect(png[25] == 3, "colour type 3")
        let expected = indices.flatMap { palette[Int($0) * 3..<Int($0) * 3 + 3] }
        #expect(try ImageDecoder().decode(png).pixels == expected)
    }

    /// libpng writes linear-light 16-bit files with gAMA 1.0; decoding must gamma-encode them.
    /// (libpng's read transforms encode with the 1/2.2 power, not the exact sRGB curve: measured
    /// here, up to 7 levels apart in the darkest tones.)
    @Test func linearSixteenBitWrittenByLibPNGIsGammaEncoded() throws {
        let image = try Self.source()
        let samples: [UInt16] = image.pixels.map { UInt16($0) * 257 }
        let png = try samples.withUnsafeBytes {
            try LibPNGWriter.encode(width: 128, height: 128, format: png_uint_32(PNG_FORMAT_LINEAR_RGB), samples: $0)
        }
        #expect(png[24] == 16, "bit depth 16")
        let decoded = try ImageDecoder().decode(png)
        let expected = samples.map { sample -> UInt8 in
            let encoded: Double = pow(Double(sample) / 65535, 1 / 2.2)
            return UInt8((255 * encoded).rounded())
        }
        let worst = zip(decoded.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "largest difference from the 1/2.2 power: \(worst)")
        #expect(decoded.maximumDifference(to: image) > 10, "linear data must not be taken as display-encoded")
    }

    /// 16-bit files without gamma information are sRGB in practice: the high byte, rounded.
    @Test func sixteenBitRGBWithoutGammaIsScaledToEightBits() throws {
        let image = try Self.source()
        var random = SplitMix64(seed: 16)
        let samples: [UInt16] = image.pixels.map { UInt16($0) << 8 | UInt16(random.next() & 0xFF) }
        let rows: [[UInt8]] = (0..<128).map { row in
            samples[row * 384..<(row + 1) * 384].flatMap { (sample: UInt16) -> [UInt8] in
                [UInt8(sample >> 8), UInt8(sample & 0xFF)]
            }
        }
        let png = HandmadePNG.png(width: 128, height: 128, bitDepth: 16, colorType: 2, rows: rows)
        let decoded = try ImageDecoder().decode(png)
        let expected = samples.map { UInt8((Double($0) * 255 / 65535).rounded()) }
        let worst = zip(decoded.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "largest difference from value * 255 / 65535: \(worst)")
    }

    @Test func sixteenBitGreyAndAlphaWithoutGamma() throws {
        let grey = try Self.source().greyscale()
        let alpha = Self.alphaPlane(count: grey.count)
        let rows = (0..<128).map { row in
            (0..<128).flatMap { column -> [UInt8] in
                let index = row * 128 + column
                return [grey[index], grey[index], alpha[index], 0x80]
            }
        }
        let png = HandmadePNG.png(width: 128, height: 128, bitDepth: 16, colorType: 4, rows: rows)
        let decoded = try ImageDecoder().decode(png)
        let expected = RGBImage(greyscale: grey, width: 128, height: 128)
        #expect(decoded.maximumDifference(to: expected) <= 1)
    }

    @Test func paletteWithTransparencyDropsAlpha() throws {
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 20, 30, 40]
        let rows = (0..<8).map { row in (0..<8).map { UInt8(($0 + row) % 4) } }
        let png = HandmadePNG.png(width: 8, height: 8, bitDepth: 8, colorType: 3, rows: rows,
                                  palette: palette, transparency: [0, 128, 255])
        let decoded = try ImageDecoder().decode(png)
        let expected = rows.flatMap { $0.flatMap { palette[Int($0) * 3..<Int($0) * 3 + 3] } }
        #expect(decoded.pixels == expected)
    }

    @Test func oneBitAndTwoBitGrey() throws {
        // 1-bit: alternating columns; 10 pixels wide so each row has padding bits.
        let oneBitRows = (0..<3).map { _ in [UInt8(0b1010_1010), 0b1000_0000] }
        let oneBit = try ImageDecoder().decode(
            HandmadePNG.png(width: 10, height: 3, bitDepth: 1, colorType: 0, rows: oneBitRows))
        #expect((0..<10).map { oneBit.pixel($0, 2)[0] } == [255, 0, 255, 0, 255, 0, 255, 0, 255, 0])
        // 2-bit: levels 0...3 become 0, 85, 170, 255.
        let twoBit = try ImageDecoder().decode(
            HandmadePNG.png(width: 4, height: 1, bitDepth: 2, colorType: 0, rows: [[0b0001_1011]]))
        #expect(twoBit.pixels == [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255])
    }

    @Test func interlacedRGBMatchesTheSourcePixels() throws {
        let image = try Self.source()
        let rows = (0..<128).map { Array(image.pixels[$0 * 384..<($0 + 1) * 384]) }
        let png = HandmadePNG.png(width: 128, height: 128, bitDepth: 8, colorType: 2, rows: rows, interlaced: true)
        #expect(try ImageDecoder().decode(png) == image)
    }

    @Test func greyWithATransparentValueKeepsItsGrey() throws {
        let rows: [[UInt8]] = [[0, 50, 100, 150], [200, 250, 50, 0]]
        let png = HandmadePNG.png(width: 4, height: 2, bitDepth: 8, colorType: 0, rows: rows, transparency: [0, 50])
        #expect(try ImageDecoder().decode(png) == RGBImage(greyscale: rows.flatMap { $0 }, width: 4, height: 2))
    }

    @Test func srgbLikeGammaLeavesEightBitColoursAlone() throws {
        let image = try Self.source()
        let rows = (0..<128).map { Array(image.pixels[$0 * 384..<($0 + 1) * 384]) }
        let png = HandmadePNG.png(width: 128, height: 128, bitDepth: 8, colorType: 2, rows: rows, gamma: 45455)
        #expect(try ImageDecoder().decode(png) == image)
    }

    @Test func encoderRoundTripsThroughPNGAndPPM() throws {
        let image = try Self.source()
        let png = try image.pngData()
        #expect(ImageFormat.sniff(png) == .png)
        #expect(try ImageDecoder().decode(png) == image)
        let ppm = image.portablePixmapData()
        #expect(ImageFormat.sniff(ppm) == .ppm)
        #expect(try ImageDecoder().decode(ppm) == image)
        #expect(throws: ImageEncodingError.emptyImage) { try RGBImage(width: 0, height: 0).pngData() }
    }

    @Test func damagedPNGsFailWithTypedErrors() throws {
        let image = try Self.source()
        let png = try image.pngData()
        let decoder = ImageDecoder()
        // Cut inside the image data.
        #expect(throws: ImageDecodingError.truncated(format: .png)) { try decoder.decode(Array(png.prefix(png.count / 2))) }
        // Cut inside the zlib stream's last bytes.
        let idatEnd = png.count - 12 - 4
        #expect(throws: ImageDecodingError.self) { try decoder.decode(Array(png.prefix(idatEnd - 6))) }
        // Only IEND missing: every pixel is there, and libpng's simplified reader does not insist on IEND.
        #expect(try decoder.decode(Array(png.dropLast(12))) == image)
        // A flipped bit inside IDAT breaks its CRC.
        let idat = try #require((0..<png.count - 4).first { Array(png[$0..<$0 + 4]) == Array("IDAT".utf8) })
        var flipped = png
        flipped[idat + 40] ^= 0x10
        do {
            _ = try decoder.decode(flipped)
            Issue.record("a damaged IDAT decoded")
        } catch {
            guard case .corrupt(.png, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(!reason.isEmpty)
        }
    }
}
