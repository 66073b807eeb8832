import Foundation
import Imaging
import Installation
import Testing

/// The real test photos, checked against Pillow 13.0 (libjpeg-turbo 3.2, zlib 1.2), an independent
/// decoder run once on the same pinned files: per-channel means for JPEG (IDCT rounding may differ
/// between libjpeg-turbo versions) and the SHA-256 of the RGB bytes for the lossless formats.
struct PhotoDecodingTests {
    struct JPEGReference: Sendable, CustomTestStringConvertible {
        let file: String
        let width: Int
        let height: Int
        let means: [Double]
        var testDescription: String { file }
    }

    static let jpegReferences = [
        JPEGReference(file: "obama.jpg", width: 910, height: 1137, means: [95.0287, 71.6719, 74.6439]),
        JPEGReference(file: "obama2.jpg", width: 626, height: 1200, means: [89.1873, 64.7637, 69.7316]),
        JPEGReference(file: "obama3.jpg", width: 1434, height: 2333, means: [111.5054, 112.3980, 115.8271]),
        JPEGReference(file: "biden.jpg", width: 970, height: 2204, means: [70.7463, 62.7113, 55.5138]),
        JPEGReference(file: "obama_partial_face.jpg", width: 491, height: 1137, means: [87.5708, 69.2950, 71.1942]),
        JPEGReference(file: "obama_partial_face2.jpg", width: 551, height: 1137, means: [101.0951, 77.3664, 81.2374]),
    ]

    @Test(arguments: jpegReferences)
    func jpegPhotoMatchesItsFrameHeaderAndAnIndependentDecoder(reference: JPEGReference) throws {
        let bytes = try TestData.photo(reference.file)
        let frame = try #require(JPEGStructure.frameSize(bytes))
        let image = try ImageDecoder().decode(bytes)
        #expect(image.width == frame.width && image.height == frame.height)
        #expect(image.width == reference.width && image.height == reference.height)
        for (mean, expected) in zip(image.channelMeans, reference.means) {
            #expect(abs(mean - expected) < 0.05, "channel mean \(mean), Pillow \(expected)")
        }
        let info = try ImageDecoder().probe(bytes)
        #expect(info == ImageInfo(format: .jpeg, width: frame.width, height: frame.height, orientation: .identity))
    }

    @Test func astronautPNGIsBitExactWithAnIndependentDecoder() throws {
        let image = try ImageDecoder().decode(TestData.photo("astronaut.png"))
        #expect(image.width == 512 && image.height == 512)
        #expect(FileDigest.sha256(of: image.pixels) == "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071")
    }

    @Test func rgbaPNGDropsAlphaAndKeepsTheStoredColours() throws {
        let bytes = try TestData.photo("32bit.png")
        #expect(bytes[25] == 6, "the file is RGBA (colour type 6)")
        let image = try ImageDecoder().decode(bytes)
        #expect(image.width == 626 && image.height == 1200)
        #expect(FileDigest.sha256(of: image.pixels) == "a2909fa377494d258a30c04019bc477f8e22754f44fc5d42ff4dac38a8f83884")
    }

    @Test func orlGreymapsAreBitExactWithAnIndependentDecoder() throws {
        let expected = [
            (1, 1, "84a18057d7c4710d5cb1a3f21114d4cf5389c3c7661d3fbf4c715648c51bf168"),
            (7, 3, "52391609abd53e6847549cf95031b5b302684d9fdd8b2010c02dff5e2e9ff785"),
        ]
        for (subject, shot, digest) in expected {
            let bytes = try TestData.orlFace(subject: subject, shot: shot)
            #expect(ImageFormat.sniff(bytes) == .pgm)
            let image = try ImageDecoder().decode(bytes)
            #expect(image.width == 92 && image.height == 112)
            #expect(FileDigest.sha256(of: image.pixels) == digest)
        }
    }

    @Test func decodingAFileReadsTheSameImageAsDecodingItsBytes() throws {
        let url = TestData.installation.testPhotosDirectory.appending(path: "obama2.jpg")
        let decoder = ImageDecoder()
        #expect(try decoder.decode(contentsOf: url) == decoder.decode(Array(try Data(contentsOf: url))))
        #expect(try decoder.decode(Data(contentsOf: url)) == decoder.decode(contentsOf: url))
        #expect(try decoder.probe(contentsOf: url).width == 626)
    }

    @Test func manyTasksDecodeAtOnceWithTheSameResults() async throws {
        let files = ["obama2.jpg", "obama_partial_face.jpg", "astronaut.png"]
        let inputs = try files.map { try TestData.photo($0) }
        let decoder = ImageDecoder()
        let sequential = try inputs.map { try decoder.decode($0) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, RGBImage).self) { group in
            for _ in 0..<4 {
                for (index, input) in inputs.enumerated() {
                    group.addTask { (index, try decoder.decode(input)) }
                }
            }
            var results: [(Int, RGBImage)] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(concurrent.count == 12)
        for (index, image) in concurrent {
            #expect(image == sequential[index])
        }
    }
}
