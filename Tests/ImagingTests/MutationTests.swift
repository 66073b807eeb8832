import CPNG
import CTurboJPEG
import Imaging
import Testing

/// Deterministic mutations of small real images: every one must decode or fail with a typed error.
///
/// A crash (trap, sanitizer report, libpng abort) fails the whole test process, so simply running
/// them all is the check; the tallies then prove the mutations reached every outcome.
struct MutationTests {
    struct Seed: Sendable {
        let name: String
        let bytes: [UInt8]
        let format: ImageFormat
    }

    /// Small JPEGs, PNGs and PNMs made from the real photos, plus a real ORL greymap.
    static func seeds() throws -> [Seed] {
        let obama = try ImageDecoder().decode(TestData.photo("obama.jpg")).decimated(by: 8)  // 113 x 142
        let biden = try ImageDecoder().decode(TestData.photo("biden.jpg")).decimated(by: 14)  // 69 x 157
        let astronaut = try ImageDecoder().decode(TestData.photo("astronaut.png")).decimated(by: 5)  // 102 x 102
        let baseline = try TurboJPEGWriter.compress(obama.pixels, width: obama.width, height: obama.height,
                                                    pixelFormat: TJPF_RGB, subsampling: TJSAMP_420, quality: 85)
        let withExif = JPEGStructure.inserting(JPEGStructure.exifSegment(orientation: 6, littleEndian: true), into: baseline)
        let progressive = try TurboJPEGWriter.compress(biden.pixels, width: biden.width, height: biden.height,
                                                       pixelFormat: TJPF_RGB, subsampling: TJSAMP_444, quality: 90,
                                                       progressive: true)
        let grey = try TurboJPEGWriter.compress(astronaut.greyscale(), width: astronaut.width, height: astronaut.height,
                                                pixelFormat: TJPF_GRAY, subsampling: TJSAMP_GRAY, quality: 75)
        let rgba = astronaut.pixels.enumerated().flatMap { index, value in index % 3 == 2 ? [value, UInt8(index % 251)] : [value] }
        let rgbaPNG = try rgba.withUnsafeBytes {
            try LibPNGWriter.encode(width: astronaut.width, height: astronaut.height,
                                    format: png_uint_32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA), samples: $0)
        }
        let interlaced = HandmadePNG.png(
            width: biden.width, height: biden.height, bitDepth: 8, colorType: 2,
            rows: (0..<biden.height).map { Array(biden.pixels[$0 * biden.width * 3..<($0 + 1) * biden.width * 3]) },
            interlaced: true)
        return [
            Seed(name: "baseline+exif.jpg", bytes: withExif, format: .jpeg),
            Seed(name: "progressive.jpg", bytes: progressive, format: .jpeg),
            Seed(name: "grey.jpg", bytes: grey, format: .jpeg),
            Seed(name: "rgb.png", bytes: try obama.pngData(), format: .png),
            Seed(name: "rgba.png", bytes: rgbaPNG, format: .png),
            Seed(name: "interlaced-stored.png", bytes: interlaced, format: .png),
            Seed(name: "orl.pgm", bytes: try TestData.orlFace(subject: 2, shot: 4), format: .pgm),
            Seed(name: "astronaut.ppm", bytes: astronaut.portablePixmapData(), format: .ppm),
        ]
    }

    struct Tally: Sendable {
        var decoded = 0
        var failures: [String: Int] = [:]
        var probeMismatches: [String] = []

        mutating func merge(_ other: Tally) {
            decoded += other.decoded
            failures.merge(other.failures, uniquingKeysWith: +)
            probeMismatches += other.probeMismatches
        }
    }

    static let mutationsPerSeed = 2_560

    @Test func twentyThousandMutationsNeverCrash() async throws {
        let seeds = try Self.seeds()
        for seed in seeds {
            #expect((try? ImageDecoder().decode(seed.bytes)) != nil, "seed \(seed.name) decodes")
        }
        // A small pixel limit keeps header edits from allocating large images thousands of times.
        let limits = DecodingLimits(maxEncodedBytes: 1_000_000, maxPixels: 1_000_000, maxDimension: 4_096)
        let tally = await withTaskGroup(of: Tally.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    var tally = Tally()
                    for (seedIndex, seed) in seeds.enumerated() {
                        var random = SplitMix64(seed: UInt64(seedIndex * 2 + worker) &* 0x1000_0001)
                        for iteration in 0..<Self.mutationsPerSeed / 2 {
                            let mutated = Self.mutate(seed, using: &random)
                            let policy: JPEGWarningPolicy = iteration % 4 == 0 ? .accept : .reject
                            Self.check(mutated, decoder: ImageDecoder(limits: limits, jpegWarnings: policy),
                                       seed: seed.name, into: &tally)
                        }
                    }
                    return tally
                }
            }
            var total = Tally()
            for await partial in group { total.merge(partial) }
            return total
        }
        let total = tally.decoded + tally.failures.values.reduce(0, +)
        #expect(total == seeds.count * Self.mutationsPerSeed)
        #expect(total >= 20_000)
        #expect(tally.probeMismatches.isEmpty, "\(tally.probeMismatches.prefix(5))")
        // The mutations must reach both outcomes and the main failure kinds.
        #expect(tally.decoded > 1_000)
        for kind in ["truncated", "corrupt", "tooManyPixels", "invalidDimensions", "unsupportedFormat"] {
            #expect(tally.failures[kind, default: 0] > 0, "no mutation ended in \(kind): \(tally.failures)")
        }
    }

    /// Decodes and probes; a successful decode must agree with the probe's size.
    static func check(_ bytes: [UInt8], decoder: ImageDecoder, seed: String, into tally: inout Tally) {
        do {
            let image = try decoder.decode(bytes)
            tally.decoded += 1
            do {
                let info = try decoder.probe(bytes)
                if info.width != image.width || info.height != image.height {
                    tally.probeMismatches.append("\(seed): probe \(info.width)x\(info.height), image \(image.width)x\(image.height)")
                }
            } catch {
                tally.probeMismatches.append("\(seed): decoded but probe threw \(error)")
            }
        } catch {
            tally.failures[kind(of: error), default: 0] += 1
        }
    }

    static func kind(of error: ImageDecodingError) -> String {
        switch error {
        case .empty: "empty"
        case .unsupportedFormat: "unsupportedFormat"
        case .tooLarge: "tooLarge"
        case .tooManyPixels: "tooManyPixels"
        case .dimensionTooLarge: "dimensionTooLarge"
        case .invalidDimensions: "invalidDimensions"
        case .truncated: "truncated"
        case .corrupt: "corrupt"
        case .libraryFailure: "libraryFailure"
        case .unreadableFile: "unreadableFile"
        }
    }

    // MARK: - Mutations

    static func mutate(_ seed: Seed, using random: inout SplitMix64) -> [UInt8] {
        var bytes = seed.bytes
        let mutationCount = Int.random(in: 1...3, using: &random)
        for _ in 0..<mutationCount where !bytes.isEmpty {
            switch Int.random(in: 0..<8, using: &random) {
            case 0:  // flip a few bits
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
                }
            case 1:  // overwrite a few bytes with interesting or random values
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    let interesting: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0xD8, 0xD9, 0xDA]
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] =
                        Bool.random(using: &random) ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                }
            case 2:  // truncate
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
            case 3:  // edit the stated width or height
                editDimensions(&bytes, format: seed.format, using: &random)
            case 4:  // edit a chunk or segment length
                editLength(&bytes, format: seed.format, using: &random)
            case 5:  // insert random bytes
                let insertion = (0..<Int.random(in: 1...32, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                bytes.insert(contentsOf: insertion, at: Int.random(in: 0...bytes.count, using: &random))
            case 6:  // delete a slice
                let start = Int.random(in: 0..<bytes.count, using: &random)
                bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...64, using: &random)))
            default:  // duplicate a slice elsewhere
                let start = Int.random(in: 0..<bytes.count, using: &random)
                let slice = bytes[start..<min(bytes.count, start + Int.random(in: 1...256, using: &random))]
                bytes.insert(contentsOf: slice, at: Int.random(in: 0...bytes.count, using: &random))
            }
        }
        return bytes
    }

    static func interestingSize(using random: inout SplitMix64) -> UInt32 {
        let sizes: [UInt32] = [0, 1, 2, 7, 8, 9, 255, 4_095, 4_096, 4_097, 65_535, 65_536, 0x7FFF_FFFF, 0xFFFF_FFFF]
        return Bool.random(using: &random) ? sizes.randomElement(using: &random)! : UInt32.random(in: 0...2_000, using: &random)
    }

    static func editDimensions(_ bytes: inout [UInt8], format: ImageFormat, using random: inout SplitMix64) {
        let size = interestingSize(using: &random)
        switch format {
        case .jpeg:
            guard let frame = JPEGStructure.frameOffset(bytes), frame + 9 <= bytes.count else { return }
            let field = frame + (Bool.random(using: &random) ? 5 : 7)
            bytes.replaceSubrange(field..<field + 2, with: [UInt8].bigEndian(UInt16(truncatingIfNeeded: size)))
        case .png:
            guard bytes.count >= 33 else { return }
            let field = Bool.random(using: &random) ? 16 : 20
            bytes.replaceSubrange(field..<field + 4, with: [UInt8].bigEndian(size))
            if Bool.random(using: &random) {  // usually keep the CRC valid so libpng looks further
                bytes.replaceSubrange(29..<33, with: [UInt8].bigEndian(HandmadePNG.crc32(bytes[12..<29])))
            }
        case .pgm, .ppm:
            // Rewrite the header's width and height text.
            guard let text = String(bytes: bytes.prefix(20), encoding: .ascii),
                  let headerEnd = text.firstIndex(of: "\n").map({ text.distance(from: text.startIndex, to: $0) }),
                  let sizeLineEnd = bytes[(headerEnd + 1)...].firstIndex(of: 0x0A) else { return }
            let replacement = Array("\(size) \(interestingSize(using: &random))".utf8)
            bytes.replaceSubrange((headerEnd + 1)..<sizeLineEnd, with: replacement)
        }
    }

    static func editLength(_ bytes: inout [UInt8], format: ImageFormat, using random: inout SplitMix64) {
        switch format {
        case .jpeg:
            let segments = JPEGStructure.segmentOffsets(bytes)
            guard let segment = segments.randomElement(using: &random), segment + 4 <= bytes.count else { return }
            bytes.replaceSubrange(segment + 2..<segment + 4,
                                  with: [UInt8].bigEndian(UInt16(truncatingIfNeeded: interestingSize(using: &random))))
        case .png:
            var chunkStarts: [Int] = []
            var offset = 8
            while offset + 8 <= bytes.count {
                chunkStarts.append(offset)
                offset += 12 + Int(bytes.bigEndianUInt32(at: offset))
            }
            guard let chunk = chunkStarts.randomElement(using: &random) else { return }
            bytes.replaceSubrange(chunk..<chunk + 4, with: [UInt8].bigEndian(interestingSize(using: &random)))
        case .pgm, .ppm:
            editDimensions(&bytes, format: format, using: &random)
        }
    }
}
