import DlibEngine
import Foundation
import Imaging
import Installation
import ONNXRuntime
import ONNXSchema
import SwiftProtobuf
import Testing

/// The converted graph under ONNX Runtime against dlib 20.0 itself, on the chips dlib cut from the
/// public-domain test photos (`tools/dlib/descriptors.py`).
@Suite struct DlibDescriptorParityTests {
    @Test func descriptorsMatchDlibsWithin1e4() throws {
        let model = try SharedDlibConversion.model.get()
        let fixture = try DlibDescriptorFixture.load()
        #expect(fixture.resnetSHA256 == PinnedDlibModel.resNet.originalSHA256)
        #expect(fixture.chips.count == 5)
        let chips = try fixture.chips.map(fixture.image(of:))
        let descriptors = try model.descriptors(of: chips)
        #expect(descriptors.count == chips.count)
        for (entry, descriptor) in zip(fixture.chips, descriptors) {
            #expect(descriptor.count == 128)
            let difference = zip(descriptor, entry.descriptor).map { abs($0 - $1) }.max() ?? .infinity
            #expect(difference <= 1e-4, "\(entry.name): max abs difference \(difference)")
        }
    }

    @Test func sameAndDifferentPeopleFallEitherSideOfDlibsThreshold() throws {
        let model = try SharedDlibConversion.model.get()
        let fixture = try DlibDescriptorFixture.load()
        var descriptors: [String: [Float]] = [:]
        for entry in fixture.chips { descriptors[entry.name] = try model.descriptor(of: fixture.image(of: entry)) }
        let obamas = ["obama", "obama2", "obama3"]
        for (index, first) in obamas.enumerated() {
            for second in obamas[(index + 1)...] {
                let distance = DlibDescriptorModel.distance(try #require(descriptors[first]), try #require(descriptors[second]))
                #expect(distance < DlibDescriptorModel.sameIdentityDistance, "\(first) - \(second): \(distance)")
            }
            for other in ["biden", "astronaut"] {
                let distance = DlibDescriptorModel.distance(try #require(descriptors[first]), try #require(descriptors[other]))
                #expect(distance > DlibDescriptorModel.sameIdentityDistance, "\(first) - \(other): \(distance)")
            }
        }
    }

    /// Batching (one chip per run, 8 per run, a partial last batch) does not change a descriptor.
    @Test func batchesGiveTheSameDescriptorsAsSingleChips() throws {
        let fixture = try DlibDescriptorFixture.load()
        let chips = try fixture.chips.map(fixture.image(of:))
        let nine = (0..<9).map { chips[$0 % chips.count] }
        let shared = try SharedDlibConversion.fixture.get().prepared.file
        let environment = try SharedDlibConversion.environment.get()
        let batched = try DlibDescriptorModel(environment: environment, file: shared, batchSize: 8).descriptors(of: nine)
        let single = try DlibDescriptorModel(environment: environment, file: shared, batchSize: 1).descriptors(of: nine)
        #expect(batched.count == 9 && single.count == 9)
        for (first, second) in zip(batched, single) {
            let difference = zip(first, second).map { abs($0 - $1) }.max() ?? .infinity
            #expect(difference <= 1e-5)
        }
        #expect(try DlibDescriptorModel(environment: environment, file: shared).descriptors(of: []) == [])
    }

    @Test func refusesOtherChipSizesAndOtherModels() throws {
        let model = try SharedDlibConversion.model.get()
        let fixture = try DlibDescriptorFixture.load()
        let chip = try fixture.image(of: fixture.chips[0])
        #expect(throws: DlibDescriptorError.invalidChip(index: 1, width: 112, height: 112)) {
            try model.descriptors(of: [chip, RGBImage(width: 112, height: 112)])
        }

        let environment = try SharedDlibConversion.environment.get()
        let installation = SharedDlibConversion.installation
        let missing = installation.home.appending(path: "no-such-model.onnx")
        #expect(throws: DlibDescriptorError.modelMissing(path: missing.path)) {
            try DlibDescriptorModel(environment: environment, file: missing)
        }
        // A graph ONNX Runtime loads but with SFace's chip size: refused before any chip is run.
        try withTemporaryFolder { folder in
            let file = folder.appending(path: "small-chips.onnx")
            try (Self.identityModel(side: 112).serializedBytes() as Data).write(to: file)
            #expect {
                try DlibDescriptorModel(environment: environment, file: file)
            } throws: { error in
                guard case .unexpectedModel = error as? DlibDescriptorError else { return false }
                return true
            }
        }
    }

    /// `descriptors = Flatten(GlobalAveragePool(chips))`, chips Nx3x`side`x`side`.
    static func identityModel(side: Int) -> Onnx_ModelProto {
        func valueInfo(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
            var info = Onnx_ValueInfoProto()
            info.name = name
            info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            info.type.tensorType.shape.dim = dims.map { size in
                var dimension = Onnx_TensorShapeProto.Dimension()
                if let size { dimension.dimValue = size } else { dimension.dimParam = "N" }
                return dimension
            }
            return info
        }
        var pool = Onnx_NodeProto()
        pool.opType = "GlobalAveragePool"
        pool.input = ["chips"]
        pool.output = ["pooled"]
        var flatten = Onnx_NodeProto()
        flatten.opType = "Flatten"
        flatten.input = ["pooled"]
        flatten.output = ["descriptors"]
        var graph = Onnx_GraphProto()
        graph.name = "small"
        graph.node = [pool, flatten]
        graph.input = [valueInfo("chips", [nil, 3, Int64(side), Int64(side)])]
        graph.output = [valueInfo("descriptors", [nil, 3])]
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        model.opsetImport = [opset]
        model.graph = graph
        return model
    }
}
