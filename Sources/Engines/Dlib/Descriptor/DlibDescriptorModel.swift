import Foundation
import Imaging
import ONNXRuntime

/// dlib's ResNet face descriptor run by ONNX Runtime on the graph ``DlibModelPreparer`` writes:
/// 150x150 RGB chips (dlib's `get_face_chip` geometry) in, raw 128-D descriptors out.
///
/// The descriptors are not normalised (their length is about 1.3, as dlib's); two chips show the
/// same person when their Euclidean distance is below ``sameIdentityDistance``. Safe to share:
/// the session is, and nothing else is mutable.
public final class DlibDescriptorModel: Sendable {
    /// The chip side the network takes.
    public static let chipSide = DlibResNetArchitecture.inputSide
    /// The descriptor length.
    public static let descriptorLength = DlibResNetArchitecture.descriptorLength
    /// dlib's operating point: Euclidean distance below this means the same person.
    public static let sameIdentityDistance: Float = 0.6

    /// The loaded graph.
    public let session: ORTSession
    /// Most chips sent to ONNX Runtime in one run.
    public let batchSize: Int

    /// Wraps a session on the converted graph, checking its input and output.
    /// - Throws: ``DlibDescriptorError/unexpectedModel(reason:)`` unless the session has one input
    ///   `chips` shaped Nx3x150x150 with a symbolic N and an output `descriptors` of 128 values.
    public init(session: ORTSession, batchSize: Int = 8) throws(DlibDescriptorError) {
        let side = Self.chipSide
        guard session.inputs.count == 1, let input = session.inputs.first, input.name == DlibONNXBuilder.inputName,
              input.shape.count == 4, input.shape[0] < 0, Array(input.shape[1...]) == [3, side, side]
        else {
            throw .unexpectedModel(reason: "expected one input '\(DlibONNXBuilder.inputName)' shaped Nx3x\(side)x\(side) "
                                   + "with a symbolic N, found \(session.inputs.map { "\($0.name) \($0.shape)" })")
        }
        guard let output = session.outputs.first(where: { $0.name == DlibONNXBuilder.outputName }),
              output.shape.count == 2, output.shape[0] < 0, output.shape[1] == Self.descriptorLength
        else {
            throw .unexpectedModel(reason: "expected an output '\(DlibONNXBuilder.outputName)' shaped Nx\(Self.descriptorLength), "
                                   + "found \(session.outputs.map { "\($0.name) \($0.shape)" })")
        }
        self.session = session
        self.batchSize = max(1, batchSize)
    }

    /// Loads the converted graph from `file`.
    /// - Parameters:
    ///   - intraOpThreads: threads one operator may use.
    ///   - batchSize: most chips per ONNX Runtime run.
    public convenience init(
        environment: ORTEnvironment, file: URL, intraOpThreads: Int = 1, batchSize: Int = 8
    ) throws(DlibDescriptorError) {
        guard FileManager.default.fileExists(atPath: file.path) else { throw .modelMissing(path: file.path) }
        let session: ORTSession
        do {
            session = try ORTSession(environment: environment, modelPath: file.path, intraOpThreads: intraOpThreads)
        } catch {
            throw .runtime(error)
        }
        try self.init(session: session, batchSize: batchSize)
    }

    /// The raw descriptor of each chip, in order, computed ``batchSize`` chips per run.
    /// - Throws: ``DlibDescriptorError/invalidChip(index:width:height:)`` for a chip that is not 150x150.
    public func descriptors(of chips: [RGBImage]) throws(DlibDescriptorError) -> [[Float]] {
        for (index, chip) in chips.enumerated() where chip.width != Self.chipSide || chip.height != Self.chipSide {
            throw .invalidChip(index: index, width: chip.width, height: chip.height)
        }
        var descriptors: [[Float]] = []
        descriptors.reserveCapacity(chips.count)
        var start = 0
        while start < chips.count {
            let batch = chips[start..<min(start + batchSize, chips.count)]
            descriptors += try run(batch)
            start += batch.count
        }
        return descriptors
    }

    /// The raw descriptor of one chip.
    public func descriptor(of chip: RGBImage) throws(DlibDescriptorError) -> [Float] {
        try descriptors(of: [chip])[0]
    }

    /// The Euclidean distance between two descriptors (dlib's comparison; smaller is more alike).
    public static func distance(_ first: [Float], _ second: [Float]) -> Float {
        precondition(first.count == second.count, "descriptors of different lengths")
        var sum: Float = 0
        for index in first.indices {
            let difference = first[index] - second[index]
            sum += difference * difference
        }
        return sum.squareRoot()
    }

    // MARK: - Running

    private func run(_ chips: ArraySlice<RGBImage>) throws(DlibDescriptorError) -> [[Float]] {
        let planes = Self.planarInput(chips)
        let outputs: [String: ORTTensor]
        do throws(ORTError) {
            outputs = try planes.withUnsafeBufferPointer { buffer throws(ORTError) in
                try session.run(inputName: DlibONNXBuilder.inputName, shape: [chips.count, 3, Self.chipSide, Self.chipSide],
                                data: buffer, outputNames: [DlibONNXBuilder.outputName])
            }
        } catch {
            throw .runtime(error)
        }
        guard let output = outputs[DlibONNXBuilder.outputName],
              output.shape == [chips.count, Self.descriptorLength]
        else {
            throw .unexpectedOutput(reason: "expected \(chips.count)x\(Self.descriptorLength) values, "
                                    + "got \(outputs[DlibONNXBuilder.outputName]?.shape ?? [])")
        }
        return (0..<chips.count).map { index in
            Array(output.values[index * Self.descriptorLength..<(index + 1) * Self.descriptorLength])
        }
    }

    /// Interleaved 8-bit RGB chips as one NCHW float buffer of raw 0-255 values (the graph normalises).
    static func planarInput(_ chips: ArraySlice<RGBImage>) -> [Float] {
        let planeSize = chipSide * chipSide
        var values = [Float](repeating: 0, count: chips.count * 3 * planeSize)
        values.withUnsafeMutableBufferPointer { buffer in
            for (chipIndex, chip) in chips.enumerated() {
                let base = chipIndex * 3 * planeSize
                chip.pixels.withUnsafeBufferPointer { pixels in
                    for pixel in 0..<planeSize {
                        buffer[base + pixel] = Float(pixels[3 * pixel])
                        buffer[base + planeSize + pixel] = Float(pixels[3 * pixel + 1])
                        buffer[base + 2 * planeSize + pixel] = Float(pixels[3 * pixel + 2])
                    }
                }
            }
        }
        return values
    }
}
