// libFuzzer harness for the Imaging decoders, built by `make fuzz` together with the Imaging
// sources into one module (so no `import Imaging`), with AddressSanitizer.
//
// Every input must decode to an image or fail with an `ImageDecodingError`; a trap, a sanitizer
// report or a broken invariant below is a finding.
//
// Run with DECODER_FUZZER_MAKE_SEEDS=<output folder> and DECODER_FUZZER_PHOTOS=<photo folder>,
// it instead writes small JPEG, PNG and PPM re-encodings of the photos (small inputs fuzz
// hundreds of times faster than full photos) and exits.

import CTurboJPEG
import Foundation

/// Limits small enough that inflated headers never make libFuzzer's RSS limit trip.
let fuzzLimits = DecodingLimits(maxEncodedBytes: 4 * 1_048_576, maxPixels: 12_000_000, maxDimension: 8_192)
let strictDecoder = ImageDecoder(limits: fuzzLimits, jpegWarnings: .reject)
let lenientDecoder = ImageDecoder(limits: fuzzLimits, jpegWarnings: .accept)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageDecoders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let probed = try? strictDecoder.probe(bytes)
    for decoder in [strictDecoder, lenientDecoder] {
        guard let image = try? decoder.decode(bytes) else { continue }
        // A decodable input has a readable header that predicts the decoded size.
        guard let probed, probed.width == image.width, probed.height == image.height else {
            fatalError("decode gave \(image.width)x\(image.height) but probe gave \(String(describing: probed))")
        }
        // Small results also round-trip through the PNG encoder and the orientation transforms.
        if image.width * image.height <= 65_536 {
            guard let png = try? image.pngData(), (try? decoder.decode(png)) == image else {
                fatalError("a decoded image did not survive a PNG round trip")
            }
            guard image.applying(.rotate90Clockwise).applying(.rotate90CounterClockwise) == image else {
                fatalError("a quarter turn and its inverse changed the image")
            }
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeFuzzer(
    _ argc: UnsafeMutablePointer<Int32>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> Int32 {
    guard let output = getenv("DECODER_FUZZER_MAKE_SEEDS"), let photos = getenv("DECODER_FUZZER_PHOTOS") else {
        return 0
    }
    // _exit: the seed maker is done, and LeakSanitizer need not audit Foundation's caches.
    do {
        try SeedMaker(photos: URL(filePath: String(cString: photos)), output: URL(filePath: String(cString: output))).run()
        _exit(0)
    } catch {
        FileHandle.standardError.write(Data("decoder-fuzzer: cannot make seeds: \(error)\n".utf8))
        _exit(1)
    }
}

/// Writes small re-encodings of real photos as fuzzing seeds.
struct SeedMaker {
    let photos: URL
    let output: URL

    func run() throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: photos.path(percentEncoded: false)).sorted()
        for (index, name) in names.enumerated() {
            guard let image = try? ImageDecoder().decode(contentsOf: photos.appending(path: name)) else { continue }
            let small = shrink(image, longestSide: 96)
            let stem = (name as NSString).deletingPathExtension
            try write(try small.pngData(), "\(stem).png")
            try write(small.portablePixmapData(), "\(stem).ppm")
            let progressive = index % 2 == 1
            var jpeg = try compress(small, quality: 85, progressive: progressive)
            if index % 3 == 0 {
                // Exif with an orientation, so the fuzzer starts inside the Exif parser.
                jpeg = Array(jpeg[0..<2]) + exifSegment(orientation: UInt16(index % 8 + 1)) + Array(jpeg[2...])
            }
            try write(jpeg, "\(stem)\(progressive ? "-progressive" : "").jpg")
            if index == 0 {
                try write(plainAnymap(small, colour: false), "\(stem)-plain.pgm")
                try write(plainAnymap(shrink(small, longestSide: 24), colour: true), "\(stem)-plain.ppm")
            }
        }
    }

    /// `P2` (grey, from the green channel) or `P3` text.
    private func plainAnymap(_ image: RGBImage, colour: Bool) -> [UInt8] {
        let samples = colour ? image.pixels : stride(from: 1, to: image.pixels.count, by: 3).map { image.pixels[$0] }
        let header = "\(colour ? "P3" : "P2")\n# seed\n\(image.width) \(image.height)\n255\n"
        return Array((header + samples.map(String.init).joined(separator: " ") + "\n").utf8)
    }

    private func write(_ bytes: [UInt8], _ name: String) throws {
        try Data(bytes).write(to: output.appending(path: name))
    }

    /// Nearest-neighbour shrink: seeds need real structure, not quality.
    private func shrink(_ image: RGBImage, longestSide: Int) -> RGBImage {
        let step = max(1, (max(image.width, image.height) + longestSide - 1) / longestSide)
        let width = image.width / step, height = image.height / step
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let source = (y * step * image.width + x * step) * 3
                pixels += image.pixels[source..<source + 3]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    private func compress(_ image: RGBImage, quality: Int32, progressive: Bool) throws -> [UInt8] {
        struct CompressionFailed: Error {}
        guard let handle = tjInitCompress() else { throw CompressionFailed() }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), quality, progressive ? TJFLAG_PROGRESSIVE : 0)
        }
        defer { tjFree(buffer) }
        guard status == 0, let buffer else { throw CompressionFailed() }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// A little-endian APP1 Exif segment whose IFD0 holds only the orientation.
    private func exifSegment(orientation: UInt16) -> [UInt8] {
        let tiff: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                             UInt8(orientation), 0, 0, 0, 0, 0, 0, 0]
        let payload = Array("Exif".utf8) + [0, 0] + tiff
        let length = payload.count + 2
        return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }
}
