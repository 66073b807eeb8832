import CPNG
@testable import Imaging
import Testing

/// The direct PNG path (8-bit RGB and RGBA) against libpng, on every way it can inflate.
struct PNGDirectPathTests {
    /// The inflation this machine uses by default and the zlib fallback.
    static let inflations = PNGDirectDecoding.Inflation.allCases

    @Test("the test PNGs decode to libpng's pixels whichever way the data is inflated",
          arguments: ["32bit.png", "astronaut.png"])
    func testPhotosMatchLibPNG(name: String) throws {
        let bytes = try TestData.photo(name)
        try bytes.withUnsafeBytes { raw in
            let (width, height) = try PNGDecoding.headerDimensions(raw)
            let reference = try PNGDecoding.decodeWithLibPNG(raw, width: width, height: height)
            for inflation in Self.inflations {
                let direct = try #require(PNGDirectDecoding.decode(raw, inflation: inflation), "\(inflation) refused \(name)")
                #expect(direct == reference, "\(name) through \(inflation)")
            }
        }
    }

    /// Rows filtered with every type (runs of Paeth rows of every length up to 6, which the
    /// decoder undoes several at a time), compressed or stored, in one IDAT chunk or split.
    @Test("every filter, compressed or stored, whole or split, gives the source pixels",
          arguments: [3, 4], [0, 1, 7, 4096])
    func filteredRowsRoundTrip(channels: Int, chunkSize: Int) throws {
        let source = try FilteredPNG.sourcePixels(width: 97, height: 61, channels: channels)
        // Runs of 1 to 6 Paeth rows, each followed by another filter, then random filters.
        var filters = (1...6).flatMap { run in [UInt8](repeating: 4, count: run) + [UInt8(run % 4)] }
        var random = SplitMix64(seed: UInt64(channels * 10_000 + chunkSize))
        filters += (filters.count..<61).map { _ in min(UInt8.random(in: 0...7, using: &random), 4) }
        for level: Int32 in [0, 6] {
            let png = FilteredPNG.encode(
                source, width: 97, height: 61, channels: channels, filters: filters, level: level, chunkSize: chunkSize)
            let expected = RGBImage(width: 97, height: 61, pixels: FilteredPNG.rgb(source, channels: channels))
            try png.withUnsafeBytes { raw in
                let reference = try PNGDecoding.decodeWithLibPNG(raw, width: 97, height: 61)
                #expect(reference == expected)
                for inflation in Self.inflations {
                    let direct = try #require(PNGDirectDecoding.decode(raw, inflation: inflation))
                    #expect(direct == expected, "\(channels) channels, level \(level), chunks of \(chunkSize), \(inflation)")
                }
            }
            #expect(try ImageDecoder().decode(png) == expected)
        }
    }

    @Test("image data that inflates short or long, or has bytes after it, is left to libpng")
    func wrongLengthsAreRefused() throws {
        let source = try FilteredPNG.sourcePixels(width: 40, height: 30, channels: 3)
        let filters = [UInt8](repeating: 4, count: 30)
        let rows = FilteredPNG.filteredRows(source, width: 40, height: 30, channels: 3, filters: filters)
        let cases: [(String, [UInt8])] = [
            ("a byte short", FilteredPNG.zlib(Array(rows.dropLast()), level: 6)),
            ("a byte long", FilteredPNG.zlib(rows + [0], level: 6)),
            ("a row long", FilteredPNG.zlib(rows + rows.prefix(121), level: 6)),
            ("junk after the stream", FilteredPNG.zlib(rows, level: 6) + [0, 0, 0]),
        ]
        for (description, stream) in cases {
            let png = FilteredPNG.wrap(stream, width: 40, height: 30, channels: 3, chunkSize: 0)
            png.withUnsafeBytes { raw in
                for inflation in Self.inflations {
                    #expect(PNGDirectDecoding.decode(raw, inflation: inflation) == nil, "\(description), \(inflation)")
                }
            }
        }
        let intact = FilteredPNG.wrap(FilteredPNG.zlib(rows, level: 6), width: 40, height: 30, channels: 3, chunkSize: 0)
        intact.withUnsafeBytes { raw in
            for inflation in Self.inflations {
                #expect(PNGDirectDecoding.decode(raw, inflation: inflation) != nil, "intact, \(inflation)")
            }
        }
    }
}

/// PNGs written here, row filters chosen by the test (libpng's writer picks its own).
enum FilteredPNG {
    /// Real pixels: a window of obama.jpg, with an alpha ramp for RGBA.
    static func sourcePixels(width: Int, height: Int, channels: Int) throws -> [UInt8] {
        let photo = try ImageDecoder().decode(TestData.photo("obama.jpg"))
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let index = ((y * 3 + 150) * photo.width + x * 3 + 380) * 3
                pixels += photo.pixels[index..<index + 3]
                if channels == 4 { pixels.append(UInt8((x * 7 + y * 3) & 0xFF)) }
            }
        }
        return pixels
    }

    static func rgb(_ pixels: [UInt8], channels: Int) -> [UInt8] {
        channels == 3 ? pixels : stride(from: 0, to: pixels.count, by: 4).flatMap { pixels[$0..<$0 + 3] }
    }

    /// Each row with its filter type byte, filtered as the PNG specification defines.
    static func filteredRows(_ pixels: [UInt8], width: Int, height: Int, channels: Int, filters: [UInt8]) -> [UInt8] {
        let length = width * channels
        var output: [UInt8] = []
        for y in 0..<height {
            output.append(filters[y])
            for index in 0..<length {
                let value = Int(pixels[y * length + index])
                let left = index >= channels ? Int(pixels[y * length + index - channels]) : 0
                let up = y > 0 ? Int(pixels[(y - 1) * length + index]) : 0
                let upperLeft = y > 0 && index >= channels ? Int(pixels[(y - 1) * length + index - channels]) : 0
                let predictor = switch filters[y] {
                case 0: 0
                case 1: left
                case 2: up
                case 3: (left + up) / 2
                default: paeth(left, up, upperLeft)
                }
                output.append(UInt8((value - predictor) & 0xFF))
            }
        }
        return output
    }

    private static func paeth(_ left: Int, _ up: Int, _ upperLeft: Int) -> Int {
        let estimate = left + up - upperLeft
        let (toLeft, toUp, toUpperLeft) = (abs(estimate - left), abs(estimate - up), abs(estimate - upperLeft))
        if toLeft <= toUp && toLeft <= toUpperLeft { return left }
        return toUp <= toUpperLeft ? up : upperLeft
    }

    /// A zlib stream from zlib's own compressor (`level` 0 stores).
    static func zlib(_ data: [UInt8], level: Int32) -> [UInt8] {
        var capacity = compressBound(uLong(data.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = output.withUnsafeMutableBufferPointer { output in
            data.withUnsafeBufferPointer { data in
                compress2(output.baseAddress, &capacity, data.baseAddress, uLong(data.count), level)
            }
        }
        precondition(status == Z_OK, "compress2 failed: \(status)")
        return Array(output.prefix(Int(capacity)))
    }

    /// A PNG around a zlib stream, its IDAT split into chunks of `chunkSize` bytes (0: one chunk).
    static func wrap(_ stream: [UInt8], width: Int, height: Int, channels: Int, chunkSize: Int) -> [UInt8] {
        var file = HandmadePNG.pngSignatureBytes
        file += HandmadePNG.ihdr(width: UInt32(width), height: UInt32(height), bitDepth: 8, colorType: channels == 4 ? 6 : 2)
        let size = chunkSize == 0 ? max(stream.count, 1) : chunkSize
        for start in stride(from: 0, to: stream.count, by: size) {
            file += HandmadePNG.chunk("IDAT", Array(stream[start..<min(start + size, stream.count)]))
        }
        return file + HandmadePNG.chunk("IEND", [])
    }

    static func encode(
        _ pixels: [UInt8], width: Int, height: Int, channels: Int, filters: [UInt8], level: Int32, chunkSize: Int
    ) -> [UInt8] {
        let rows = filteredRows(pixels, width: width, height: height, channels: channels, filters: filters)
        return wrap(zlib(rows, level: level), width: width, height: height, channels: channels, chunkSize: chunkSize)
    }
}
