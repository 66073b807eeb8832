import DlibEngine
import Foundation
import Installation
import Testing

/// The parser on dlib's real ResNet file, and on files that differ from it.
@Suite struct DlibNetworkParserTests {
    static let sourceBytes: [UInt8] = {
        let file = Installation.fromEnvironment().originalFile(of: PinnedDlibModel.resNet)
        return (try? [UInt8](Data(contentsOf: file))) ?? []
    }()

    @Test func readsTheResNetToItsLastByteWithItsArchitecture() throws {
        #expect(Self.sourceBytes.count == 22_466_066)
        let network = try DlibNetworkParser.resNet.parse(Self.sourceBytes)
        #expect(network.layers.map(\.spec) == DlibResNetArchitecture.layers)
        #expect(network.parameterCount == 5_614_592)
        #expect(network.input.rows == 150 && network.input.columns == 150)
        let expectedMeans: [Float] = [122.782, 117.001, 104.298]
        for (mean, expected) in zip(network.input.means, expectedMeans) { #expect(abs(mean - expected) < 1e-3) }
        #expect(network.loss.distanceThreshold == 0.6)

        // The spatial sizes of the stages: 35 after the stem, then 17, 8, 4 and 2 after each down block.
        let shapes = try network.activationShapes()
        let afterAdditions = zip(network.layers, shapes).compactMap { layer, shape in
            if case .addTagged = layer { shape } else { nil }
        }
        #expect(afterAdditions.map(\.rows) == [35, 35, 35, 17, 17, 17, 17, 8, 8, 8, 4, 4, 4, 2])
        #expect(afterAdditions.map(\.channels) == [32, 32, 32, 64, 64, 64, 64, 128, 128, 128, 256, 256, 256, 256])
        #expect(shapes.last == DlibActivationShape(channels: 128, rows: 1, columns: 1))

        // The first convolution's weights and bias are where dlib stores them: filters then biases.
        guard case .convolution(let stem) = network.layers[0] else {
            Issue.record("layer 0 is \(network.layers[0].spec)")
            return
        }
        #expect(stem.weights.count == 32 * 3 * 7 * 7 && stem.bias.count == 32)
        #expect(stem.inputChannels == 3)
    }

    @Test func refusesTruncatedAndExtendedFiles() throws {
        let bytes = Self.sourceBytes
        #expect(throws: DlibNetworkError.malformed(.trailingBytes(offset: bytes.count, count: 1))) {
            try DlibNetworkParser.resNet.parse(bytes + [0])
        }
        #expect {
            try DlibNetworkParser.resNet.parse(Array(bytes.dropLast(3)))
        } throws: { error in
            guard case .malformed(.unexpectedEnd) = error as? DlibNetworkError else { return false }
            return true
        }
        #expect(throws: DlibNetworkError.malformed(.unexpectedEnd(offset: 0, needed: 1, available: 0))) {
            try DlibNetworkParser.resNet.parse([])
        }
    }

    @Test func refusesAnotherInputSizeOrLayer() throws {
        // The input layer's declared rows, found by reading up to them.
        let inputName = Array("input_rgb_image_sized".utf8)
        let nameStart = try #require(Self.firstIndex(of: inputName, in: Self.sourceBytes)) - 2
        var reader = DlibDeserializer(bytes: Array(Self.sourceBytes[nameStart...]))
        _ = try reader.readString()
        for _ in 0..<3 { _ = try reader.readFloat() }
        let rows = nameStart + reader.offset
        var resized = Self.sourceBytes
        #expect(resized[rows] == 0x01 && resized[rows + 1] == 150)
        resized[rows + 1] = 160
        #expect(throws: DlibNetworkError.unexpectedInput(offset: nameStart, reason: "160x150 images, expected 150x150")) {
            try DlibNetworkParser.resNet.parse(resized)
        }

        // The first layer renamed: an unknown layer where the stem convolution belongs.
        var renamed = Self.sourceBytes
        let convolution = try #require(Self.firstIndex(of: Array("con_4".utf8), in: renamed))
        renamed[convolution + 4] = UInt8(ascii: "9")
        #expect(throws: DlibNetworkError.unexpectedLayer(index: 0, offset: convolution - 2, expected: "a known layer", found: "'con_9'")) {
            try DlibNetworkParser.resNet.parse(renamed)
        }
    }

    @Test func refusesAFileOfAnotherArchitecture() throws {
        var wider = DlibResNetArchitecture.layers
        wider[0] = .convolution(filters: 64, kernelRows: 7, kernelColumns: 7, strideY: 2, strideX: 2, paddingY: 0, paddingX: 0)
        #expect {
            try DlibNetworkParser(architecture: wider, inputSide: 150).parse(Self.sourceBytes)
        } throws: { error in
            guard case .unexpectedLayer(index: 0, _, let expected, let found) = error as? DlibNetworkError else { return false }
            return expected.hasPrefix("con(64") && found.hasPrefix("con(32")
        }

        // One residual block fewer: the wrapper versions no longer line up with the file.
        var shallower = DlibResNetArchitecture.layers
        shallower.removeSubrange(4..<12)
        #expect(throws: DlibNetworkError.self) {
            try DlibNetworkParser(architecture: shallower, inputSide: 150).parse(Self.sourceBytes)
        }

        // Another model altogether (SFace's ONNX file).
        let sface = try [UInt8](Data(contentsOf: Installation.fromEnvironment().originalFile(of: .sface)))
        #expect(throws: DlibNetworkError.self) { try DlibNetworkParser.resNet.parse(sface) }
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}
