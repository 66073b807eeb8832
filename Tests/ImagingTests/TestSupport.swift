import CPNG
import CTurboJPEG
import Foundation
import Imaging
import Installation

/// Where the test photos live (fetched by `scripts/setup`, pinned by sha256).
enum TestData {
    static let installation = Installation.fromEnvironment()

    static func photo(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: installation.testPhotosDirectory.appending(path: name)))
    }

    static func orlFace(subject: Int, shot: Int) throws -> [UInt8] {
        Array(try Data(contentsOf: installation.orlFacesDirectory.appending(path: "s\(subject)/\(shot).pgm")))
    }
}

/// SplitMix64: a tiny deterministic generator, so every run mutates the same way.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Big-endian byte helpers for building file headers by hand.
extension Array where Element == UInt8 {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func bigEndian(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(value & 0xFF)]
    }

    func bigEndianUInt16(at offset: Int) -> Int {
        Int(self[offset]) << 8 | Int(self[offset + 1])
    }

    func bigEndianUInt32(at offset: Int) -> UInt32 {
        (offset..<offset + 4).reduce(0) { $0 << 8 | UInt32(self[$1]) }
    }
}

// MARK: - PNG built by hand (stored deflate blocks), for variants libpng's writer cannot make

enum HandmadePNG {
    static let crcTable: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }

    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crc, byte in crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return .bigEndian(UInt32(data.count)) + typeAndData + .bigEndian(crc32(typeAndData))
    }

    static func ihdr(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8, interlaced: Bool = false) -> [UInt8] {
        chunk("IHDR", .bigEndian(width) + .bigEndian(height) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
    }

    /// A zlib stream of uncompressed (stored) deflate blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var output: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let end = Swift.min(start + 65535, data.count)
            let length = UInt16(end - start)
            output.append(end == data.count ? 1 : 0)
            output += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            output += data[start..<end]
            start = end
        } while start < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return output + .bigEndian(b << 16 | a)
    }

    /// A PNG from unfiltered scanlines (`rows[y]` holds the packed samples of row y, no filter byte).
    ///
    /// With `interlaced`, the rows are split into the seven Adam7 passes; only for bit depths of 8 or 16.
    static func png(
        width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
        palette: [UInt8]? = nil, transparency: [UInt8]? = nil, gamma: UInt32? = nil, interlaced: Bool = false
    ) -> [UInt8] {
        var scanlines: [UInt8] = []
        if interlaced {
            let bytesPerPixel = rows[0].count / width
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            for (startX, startY, stepX, stepY) in passes where startX < width && startY < height {
                for y in stride(from: startY, to: height, by: stepY) {
                    scanlines.append(0)
                    for x in stride(from: startX, to: width, by: stepX) {
                        scanlines += rows[y][x * bytesPerPixel..<(x + 1) * bytesPerPixel]
                    }
                }
            }
        } else {
            for row in rows { scanlines += [0] + row }
        }
        var file = pngSignatureBytes
        file += ihdr(width: UInt32(width), height: UInt32(height), bitDepth: bitDepth, colorType: colorType,
                     interlaced: interlaced)
        if let gamma { file += chunk("gAMA", .bigEndian(gamma)) }
        if let palette { file += chunk("PLTE", palette) }
        if let transparency { file += chunk("tRNS", transparency) }
        file += chunk("IDAT", zlibStored(scanlines))
        file += chunk("IEND", [])
        return file
    }

    static let pngSignatureBytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
}

// MARK: - libpng's simplified writer, for variants from real pixels

enum LibPNGWriter {
    struct WriteFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Encodes `samples` (bytes, or native-endian UInt16 for linear formats) with a `PNG_FORMAT_*` format.
    static func encode(
        width: Int, height: Int, format: UInt32, samples: UnsafeRawBufferPointer, colormap: [UInt8]? = nil
    ) throws -> [UInt8] {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = format
        image.colormap_entries = png_uint_32((colormap?.count ?? 0) / 3)
        defer { png_image_free(&image) }
        var size = 0
        let measured = withOptionalBytes(colormap) { colormap in
            png_image_write_to_memory(&image, nil, &size, 0, samples.baseAddress, 0, colormap)
        }
        guard measured != 0 else { throw WriteFailed(description: message(image)) }
        var output = [UInt8](repeating: 0, count: size)
        let written = output.withUnsafeMutableBytes { output in
            withOptionalBytes(colormap) { colormap in
                png_image_write_to_memory(&image, output.baseAddress, &size, 0, samples.baseAddress, 0, colormap)
            }
        }
        guard written != 0 else { throw WriteFailed(description: message(image)) }
        return Array(output.prefix(size))
    }

    private static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        return bytes.withUnsafeBytes { body($0.baseAddress) }
    }

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

// MARK: - libturbojpeg's compressor, for synthetic JPEGs

enum TurboJPEGWriter {
    struct CompressFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Compresses interleaved pixels of `pixelFormat` (TJPF_RGB, TJPF_GRAY or TJPF_CMYK).
    static func compress(
        _ pixels: [UInt8], width: Int, height: Int, pixelFormat: TJPF, subsampling: TJSAMP,
        quality: Int32, progressive: Bool = false
    ) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw CompressFailed(description: "tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(width), 0, Int32(height), Int32(pixelFormat.rawValue),
                        &buffer, &size, Int32(subsampling.rawValue), quality, progressive ? TJFLAG_PROGRESSIVE : 0)
        }
        defer { tjFree(buffer) }
        guard status == 0, let buffer else {
            throw CompressFailed(description: String(cString: tjGetErrorStr2(handle)))
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }
}

// MARK: - JPEG structure, read independently of the decoder

enum JPEGStructure {
    /// Width and height from the first SOFn segment.
    static func frameSize(_ jpeg: [UInt8]) -> (width: Int, height: Int)? {
        var offset = 2
        while offset + 4 <= jpeg.count, jpeg[offset] == 0xFF {
            let marker = jpeg[offset + 1]
            let length = jpeg.bigEndianUInt16(at: offset + 2)
            let isFrame = (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker)
            if isFrame {
                return (jpeg.bigEndianUInt16(at: offset + 7), jpeg.bigEndianUInt16(at: offset + 5))
            }
            if marker == 0xDA { return nil }
            offset += 2 + length
        }
        return nil
    }

    /// Offset of the first SOFn segment's marker.
    static func frameOffset(_ jpeg: [UInt8]) -> Int? {
        var offset = 2
        while offset + 4 <= jpeg.count, jpeg[offset] == 0xFF {
            let marker = jpeg[offset + 1]
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) { return offset }
            if marker == 0xDA { return nil }
            offset += 2 + jpeg.bigEndianUInt16(at: offset + 2)
        }
        return nil
    }

    /// Offsets of every marker segment before the first scan (SOS included).
    static func segmentOffsets(_ jpeg: [UInt8]) -> [Int] {
        var offsets: [Int] = []
        var offset = 2
        while offset + 4 <= jpeg.count, jpeg[offset] == 0xFF {
            offsets.append(offset)
            if jpeg[offset + 1] == 0xDA { break }
            offset += 2 + jpeg.bigEndianUInt16(at: offset + 2)
        }
        return offsets
    }

    /// An APP1 Exif segment whose IFD0 holds a camera make and the orientation tag.
    static func exifSegment(orientation: UInt16, littleEndian: Bool, orientationType: UInt16 = 3) -> [UInt8] {
        func u16(_ value: UInt16) -> [UInt8] {
            littleEndian ? [UInt8(value & 0xFF), UInt8(value >> 8)] : [UInt8(value >> 8), UInt8(value & 0xFF)]
        }
        func u32(_ value: UInt32) -> [UInt8] {
            littleEndian ? u16(UInt16(value & 0xFFFF)) + u16(UInt16(value >> 16)) : u16(UInt16(value >> 16)) + u16(UInt16(value & 0xFFFF))
        }
        let make = Array("TestCam\u{0}".utf8)
        let ifdOffset: UInt32 = 8
        let entryCount: UInt16 = 2
        let makeOffset = ifdOffset + 2 + UInt32(entryCount) * 12 + 4
        var tiff = (littleEndian ? Array("II".utf8) : Array("MM".utf8)) + u16(42) + u32(ifdOffset)
        tiff += u16(entryCount)
        tiff += u16(0x010F) + u16(2) + u32(UInt32(make.count)) + u32(makeOffset)  // Make, ASCII, stored after the IFD
        let value = orientationType == 4 ? u32(UInt32(orientation)) : u16(orientation) + [0, 0]
        tiff += u16(0x0112) + u16(orientationType) + u32(1) + value
        tiff += u32(0)  // no IFD1
        tiff += make
        let payload = Array("Exif".utf8) + [0, 0] + tiff
        return [0xFF, 0xE1] + .bigEndian(UInt16(payload.count + 2)) + payload
    }

    /// The JPEG with `segment` placed right after SOI.
    static func inserting(_ segment: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
        Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
    }

    /// Overwrites the orientation value inside the file's own Exif block, keeping its structure.
    static func settingExistingOrientation(_ value: UInt16, in jpeg: [UInt8]) -> [UInt8]? {
        for offset in segmentOffsets(jpeg) where jpeg[offset + 1] == 0xE1 {
            let tiff = offset + 10
            guard Array(jpeg[offset + 4..<offset + 10]) == Array("Exif".utf8) + [0, 0] else { continue }
            let littleEndian = jpeg[tiff] == 0x49
            func u16(_ at: Int) -> Int {
                littleEndian ? Int(jpeg[at]) | Int(jpeg[at + 1]) << 8 : Int(jpeg[at]) << 8 | Int(jpeg[at + 1])
            }
            func u32(_ at: Int) -> Int { littleEndian ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2) }
            let ifd = tiff + u32(tiff + 4)
            for index in 0..<u16(ifd) {
                let entry = ifd + 2 + index * 12
                if u16(entry) == 0x0112 {
                    var edited = jpeg
                    edited[entry + 8] = littleEndian ? UInt8(value & 0xFF) : UInt8(value >> 8)
                    edited[entry + 9] = littleEndian ? UInt8(value >> 8) : UInt8(value & 0xFF)
                    return edited
                }
            }
        }
        return nil
    }
}

// MARK: - Pixel statistics and reference transforms

extension RGBImage {
    /// Mean of each channel.
    var channelMeans: [Double] {
        var sums = [0, 0, 0]
        for index in pixels.indices { sums[index % 3] += Int(pixels[index]) }
        return sums.map { Double($0) / Double(width * height) }
    }

    /// Pixel (r, g, b) at column x, row y.
    func pixel(_ x: Int, _ y: Int) -> [UInt8] {
        let start = (y * width + x) * 3
        return Array(pixels[start..<start + 3])
    }

    /// Every `step`-th pixel of every `step`-th row: a small image from a real photo.
    func decimated(by step: Int) -> RGBImage {
        let newWidth = width / step, newHeight = height / step
        var output: [UInt8] = []
        output.reserveCapacity(newWidth * newHeight * 3)
        for y in 0..<newHeight {
            for x in 0..<newWidth { output += pixel(x * step, y * step) }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: output)
    }

    /// The largest absolute difference between two images' samples.
    func maximumDifference(to other: RGBImage) -> Int {
        zip(pixels, other.pixels).reduce(0) { Swift.max($0, abs(Int($1.0) - Int($1.1))) }
    }
}

/// Orientation built from three elementary moves, independently of the decoder's index arithmetic.
enum ReferenceOrientation {
    static func flipHorizontal(_ image: RGBImage) -> RGBImage {
        remap(image, width: image.width, height: image.height) { x, y in (image.width - 1 - x, y) }
    }

    static func flipVertical(_ image: RGBImage) -> RGBImage {
        remap(image, width: image.width, height: image.height) { x, y in (x, image.height - 1 - y) }
    }

    static func transpose(_ image: RGBImage) -> RGBImage {
        remap(image, width: image.height, height: image.width) { x, y in (y, x) }
    }

    /// The upright image for an EXIF value, per the standard's "0th row / 0th column" table.
    static func apply(_ value: UInt16, to image: RGBImage) -> RGBImage {
        switch value {
        case 2: flipHorizontal(image)
        case 3: flipVertical(flipHorizontal(image))
        case 4: flipVertical(image)
        case 5: transpose(image)
        case 6: flipHorizontal(transpose(image))  // 0th row is the visual right: a clockwise quarter turn
        case 7: flipVertical(flipHorizontal(transpose(image)))
        case 8: flipVertical(transpose(image))  // 0th row is the visual left: a counter-clockwise quarter turn
        default: image
        }
    }

    private static func remap(
        _ image: RGBImage, width: Int, height: Int, source: (Int, Int) -> (Int, Int)
    ) -> RGBImage {
        var output = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { input in
            for y in 0..<height {
                for x in 0..<width {
                    let (sourceX, sourceY) = source(x, y)
                    let from = (sourceY * image.width + sourceX) * 3, to = (y * width + x) * 3
                    output[to] = input[from]
                    output[to + 1] = input[from + 1]
                    output[to + 2] = input[from + 2]
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: output)
    }
}
