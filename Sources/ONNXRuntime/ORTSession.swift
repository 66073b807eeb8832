/// A loaded ONNX model, ready to run on the CPU.
///
/// A session is safe to share: ONNX Runtime allows concurrent `Run` calls on one session,
/// and everything this object stores is fixed at init, so many tasks may call `run` at once.
/// Each call uses up to `intraOpThreads` threads; size that against the cores available.
///
/// Only float32 tensors go in and come out; models with other input or output element types
/// load, but running them with such a value throws `ORTError.invalidTensor`.
public final class ORTSession: @unchecked Sendable {  // Immutable after init; ORT's Run is thread-safe.
    /// The model's inputs, in graph order.
    public let inputs: [ORTValueInfo]
    /// The model's outputs, in graph order.
    public let outputs: [ORTValueInfo]
    /// The file this session loaded.
    public let modelPath: String

    /// Kept alive as long as the session: ORT requires the env to outlive its sessions.
    let environment: ORTEnvironment
    /// The `OrtSession*` this object owns.
    let handle: OpaquePointer
    /// ORT's default CPU allocator (a process-wide singleton; never released).
    let allocator: OpaquePointer
    let inputValues: [ValueDescription]
    let outputValues: [ValueDescription]

    /// Loads `modelPath` with every graph optimisation enabled.
    /// - Parameters:
    ///   - environment: The loaded runtime.
    ///   - modelPath: Path of an `.onnx` file.
    ///   - intraOpThreads: Threads one operator may use (`0` lets ORT pick one per core).
    ///     Graph-level parallelism is off: these models are chains, and callers parallelise
    ///     across requests instead.
    /// - Throws: `ORTError.runtime` carrying ORT's message when the file is missing, is not
    ///   a valid model, or uses an operator this runtime lacks. Some unsupported attribute
    ///   values surface only when a node first runs (the shipped int8 YuNet's `block_size`).
    public init(environment: ORTEnvironment, modelPath: String, intraOpThreads: Int = 1) throws(ORTError) {
        let api = environment.api

        var options: OpaquePointer?
        try api.check(api.createSessionOptions(&options), "CreateSessionOptions")
        defer { api.releaseSessionOptions(options) }
        try api.check(
            api.setSessionGraphOptimizationLevel(options, ORTConstant.graphOptimizationEnableAll),
            "SetSessionGraphOptimizationLevel")
        try api.check(api.setIntraOpNumThreads(options, Int32(clamping: intraOpThreads)), "SetIntraOpNumThreads")
        try api.check(api.setInterOpNumThreads(options, 1), "SetInterOpNumThreads")

        var session: OpaquePointer?
        try api.check(api.createSession(environment.handle, modelPath, options, &session), "CreateSession")
        guard let session else {
            throw .runtime(operation: "CreateSession", code: 1, message: "returned no session for \(modelPath)")
        }

        let allocator: OpaquePointer
        let inputValues: [ValueDescription]
        let outputValues: [ValueDescription]
        do throws(ORTError) {
            var defaultAllocator: OpaquePointer?
            try api.check(api.getAllocatorWithDefaultOptions(&defaultAllocator), "GetAllocatorWithDefaultOptions")
            guard let defaultAllocator else {
                throw .runtime(operation: "GetAllocatorWithDefaultOptions", code: 1, message: "returned no allocator")
            }
            allocator = defaultAllocator
            inputValues = try Self.describeValues(
                api: api, session: session, allocator: allocator, kind: .input)
            do throws(ORTError) {
                outputValues = try Self.describeValues(
                    api: api, session: session, allocator: allocator, kind: .output)
            } catch {
                Self.freeNames(of: inputValues, api: api, allocator: allocator)
                throw error
            }
        } catch {
            api.releaseSession(session)
            throw error
        }

        self.environment = environment
        self.handle = session
        self.allocator = allocator
        self.modelPath = modelPath
        self.inputValues = inputValues
        self.outputValues = outputValues
        self.inputs = inputValues.map(\.info)
        self.outputs = outputValues.map(\.info)
    }

    deinit {
        let api = environment.api
        Self.freeNames(of: inputValues, api: api, allocator: allocator)
        Self.freeNames(of: outputValues, api: api, allocator: allocator)
        api.releaseSession(handle)
    }

    /// Runs the model on float32 tensors, copying the results out.
    ///
    /// Inputs are passed to ORT without copying for the duration of the call.
    /// - Parameters:
    ///   - feeds: One tensor for every model input, by input name.
    ///   - outputNames: Outputs to compute, or `nil` for all of them.
    /// - Returns: The requested outputs by name.
    /// - Throws: `ORTError.invalidTensor` for an unknown or missing input, an unknown output,
    ///   or a non-float32 value; `ORTError.runtime` with ORT's message for shapes the model
    ///   rejects and any failure inside the graph.
    public func run(_ feeds: [String: ORTTensor], outputNames: [String]? = nil) throws(ORTError) -> [String: ORTTensor] {
        let outputIndices = try resolveOutputs(outputNames)
        var entries: [(inputIndex: Int, tensor: ORTTensor)] = []
        for (name, tensor) in feeds {
            entries.append((try resolveInput(name), tensor))
        }
        entries.sort { $0.inputIndex < $1.inputIndex }
        return try withFeeds(entries, from: 0, collected: []) { feeds throws(ORTError) in
            try run(feeds: feeds, outputIndices: outputIndices)
        }
    }

    /// Runs a single-input model on a float32 buffer read in place, for hot paths.
    ///
    /// ORT reads `data` directly (no copy); it must stay valid and unchanged until this returns,
    /// which a buffer obtained from `withUnsafeBufferPointer` guarantees.
    /// - Parameters:
    ///   - inputName: The model input to feed.
    ///   - shape: Dimensions of `data`, row-major.
    ///   - data: Exactly the product of `shape` elements.
    ///   - outputNames: Outputs to compute, or `nil` for all of them.
    /// - Returns: The requested outputs by name.
    /// - Throws: As `run(_:outputNames:)`, and `ORTError.invalidTensor` when `data.count`
    ///   does not match `shape`.
    public func run(
        inputName: String, shape: [Int], data: UnsafeBufferPointer<Float>, outputNames: [String]? = nil
    ) throws(ORTError) -> [String: ORTTensor] {
        let count = try ORTTensor.elementCount(of: shape)
        guard count == data.count else {
            throw .invalidTensor("shape \(shape) holds \(count) elements but the buffer has \(data.count)")
        }
        let outputIndices = try resolveOutputs(outputNames)
        let feed = Feed(inputIndex: try resolveInput(inputName), shape: shape.map(Int64.init), data: data)
        return try run(feeds: [feed], outputIndices: outputIndices)
    }

    // MARK: - Running

    /// One input tensor borrowed for a single `Run` call.
    struct Feed {
        let inputIndex: Int
        let shape: [Int64]
        let data: UnsafeBufferPointer<Float>
    }

    /// Pins every tensor's storage, one nested closure per feed, then calls `body` with them all.
    private func withFeeds<Output>(
        _ entries: [(inputIndex: Int, tensor: ORTTensor)], from position: Int, collected: [Feed],
        _ body: ([Feed]) throws(ORTError) -> Output
    ) throws(ORTError) -> Output {
        guard position < entries.count else { return try body(collected) }
        let entry = entries[position]
        let shape = entry.tensor.shape.map(Int64.init)
        let outcome: Result<Output, ORTError> = entry.tensor.values.withUnsafeBufferPointer { buffer in
            Result { () throws(ORTError) -> Output in
                let feed = Feed(inputIndex: entry.inputIndex, shape: shape, data: buffer)
                return try withFeeds(entries, from: position + 1, collected: collected + [feed], body)
            }
        }
        return try outcome.get()
    }

    /// Wraps the borrowed buffers as OrtValues, runs, and copies the outputs into tensors.
    private func run(feeds: [Feed], outputIndices: [Int]) throws(ORTError) -> [String: ORTTensor] {
        let api = environment.api
        // Every input ORT lists is required (initializers it may override are not listed);
        // checked here because ORT itself only notices when the first node needs the value.
        let missing = inputValues.indices.filter { index in !feeds.contains { $0.inputIndex == index } }
        guard missing.isEmpty else {
            throw .invalidTensor(
                "no tensor fed for input " + missing.map { "'\(inputValues[$0].info.name)'" }.joined(separator: ", "))
        }
        var inputHandles: [OpaquePointer?] = []
        inputHandles.reserveCapacity(feeds.count)
        defer { inputHandles.forEach(api.releaseValue) }

        for feed in feeds {
            let description = inputValues[feed.inputIndex]
            guard description.elementType == ORTConstant.elementTypeFloat else {
                throw .invalidTensor(
                    "input '\(description.info.name)' takes \(Self.elementTypeName(description.elementType)), "
                        + "not float32")
            }
            var value: OpaquePointer?
            // ORT only reads input buffers, though its signature takes a mutable pointer.
            let status = feed.shape.withUnsafeBufferPointer { shape in
                api.createTensorWithDataAsOrtValue(
                    environment.cpuMemoryInfo, UnsafeMutableRawPointer(mutating: feed.data.baseAddress),
                    feed.data.count * MemoryLayout<Float>.stride, shape.baseAddress, shape.count,
                    ORTConstant.elementTypeFloat, &value)
            }
            try api.check(status, "CreateTensorWithDataAsOrtValue(\(description.info.name))")
            inputHandles.append(value)
        }

        let inputNames = feeds.map { UnsafePointer(inputValues[$0.inputIndex].cName) as UnsafePointer<CChar>? }
        let outputNames = outputIndices.map { UnsafePointer(outputValues[$0].cName) as UnsafePointer<CChar>? }
        var outputHandles = [OpaquePointer?](repeating: nil, count: outputIndices.count)
        defer { outputHandles.forEach(api.releaseValue) }

        try api.check(
            api.run(
                handle, nil, inputNames, inputHandles, inputHandles.count,
                outputNames, outputNames.count, &outputHandles),
            "Run")

        var results: [String: ORTTensor] = [:]
        for (position, outputIndex) in outputIndices.enumerated() {
            let name = outputValues[outputIndex].info.name
            results[name] = try copyTensor(outputHandles[position], name: name)
        }
        return results
    }

    /// Copies a float32 output value into a tensor.
    private func copyTensor(_ value: OpaquePointer?, name: String) throws(ORTError) -> ORTTensor {
        let api = environment.api
        guard let value else { throw .invalidTensor("output '\(name)' was not produced") }
        var typeAndShape: OpaquePointer?
        try api.check(api.getTensorTypeAndShape(value, &typeAndShape), "GetTensorTypeAndShape(\(name))")
        defer { api.releaseTensorTypeAndShapeInfo(typeAndShape) }
        var elementType: Int32 = 0
        try api.check(api.getTensorElementType(typeAndShape, &elementType), "GetTensorElementType(\(name))")
        guard elementType == ORTConstant.elementTypeFloat else {
            throw .invalidTensor("output '\(name)' is \(Self.elementTypeName(elementType)), not float32")
        }
        let shape = try Self.dimensions(of: typeAndShape, api: api)
        let count = try ORTTensor.elementCount(of: shape)
        var data: UnsafeMutableRawPointer?
        try api.check(api.getTensorMutableData(value, &data), "GetTensorMutableData(\(name))")
        guard count == 0 || data != nil else { throw .invalidTensor("output '\(name)' has no data") }
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let data, count > 0 {
                buffer.baseAddress!.update(from: data.assumingMemoryBound(to: Float.self), count: count)
            }
            initialized = count
        }
        return ORTTensor(uncheckedShape: shape, values: values)
    }

    private func resolveInput(_ name: String) throws(ORTError) -> Int {
        guard let index = inputValues.firstIndex(where: { $0.info.name == name }) else {
            throw .invalidTensor(
                "the model has no input '\(name)'; its inputs are \(inputs.map(\.name).joined(separator: ", "))")
        }
        return index
    }

    private func resolveOutputs(_ names: [String]?) throws(ORTError) -> [Int] {
        guard let names else { return Array(outputValues.indices) }
        var indices: [Int] = []
        for name in names {
            guard let index = outputValues.firstIndex(where: { $0.info.name == name }) else {
                throw .invalidTensor(
                    "the model has no output '\(name)'; its outputs are "
                        + outputs.map(\.name).joined(separator: ", "))
            }
            guard !indices.contains(index) else { throw .invalidTensor("output '\(name)' is requested twice") }
            guard outputValues[index].elementType == ORTConstant.elementTypeFloat else {
                throw .invalidTensor(
                    "output '\(name)' is \(Self.elementTypeName(outputValues[index].elementType)), not float32")
            }
            indices.append(index)
        }
        return indices
    }

    // MARK: - Metadata

    /// What the session reports about one input or output.
    struct ValueDescription {
        let info: ORTValueInfo
        /// `ONNXTensorElementDataType`; 0 for values that are not tensors.
        let elementType: Int32
        /// The name as ORT allocated it with the default allocator; passed to `Run`, freed in deinit.
        let cName: UnsafeMutablePointer<CChar>
    }

    enum ValueKind { case input, output }

    private static func describeValues(
        api: ORTAPI, session: OpaquePointer, allocator: OpaquePointer, kind: ValueKind
    ) throws(ORTError) -> [ValueDescription] {
        let label = kind == .input ? "Input" : "Output"
        var count = 0
        try api.check(
            kind == .input ? api.sessionGetInputCount(session, &count) : api.sessionGetOutputCount(session, &count),
            "SessionGet\(label)Count")

        var descriptions: [ValueDescription] = []
        do throws(ORTError) {
            for index in 0..<count {
                var cName: UnsafeMutablePointer<CChar>?
                try api.check(
                    kind == .input
                        ? api.sessionGetInputName(session, index, allocator, &cName)
                        : api.sessionGetOutputName(session, index, allocator, &cName),
                    "SessionGet\(label)Name")
                guard let cName else {
                    throw .runtime(operation: "SessionGet\(label)Name", code: 1, message: "returned no name")
                }
                let (shape, elementType): ([Int], Int32)
                do throws(ORTError) {
                    (shape, elementType) = try typeAndShape(
                        api: api, session: session, index: index, kind: kind)
                } catch {
                    if let status = api.allocatorFree(allocator, cName) { api.releaseStatus(status) }
                    throw error
                }
                let info = ORTValueInfo(name: String(cString: cName), shape: shape)
                descriptions.append(ValueDescription(info: info, elementType: elementType, cName: cName))
            }
        } catch {
            freeNames(of: descriptions, api: api, allocator: allocator)
            throw error
        }
        return descriptions
    }

    private static func typeAndShape(
        api: ORTAPI, session: OpaquePointer, index: Int, kind: ValueKind
    ) throws(ORTError) -> (shape: [Int], elementType: Int32) {
        var typeInfo: OpaquePointer?
        try api.check(
            kind == .input
                ? api.sessionGetInputTypeInfo(session, index, &typeInfo)
                : api.sessionGetOutputTypeInfo(session, index, &typeInfo),
            kind == .input ? "SessionGetInputTypeInfo" : "SessionGetOutputTypeInfo")
        defer { api.releaseTypeInfo(typeInfo) }
        // Borrowed from typeInfo, not released; nil for sequences, maps and other non-tensors.
        var tensorInfo: OpaquePointer?
        try api.check(api.castTypeInfoToTensorInfo(typeInfo, &tensorInfo), "CastTypeInfoToTensorInfo")
        guard let tensorInfo else { return ([], 0) }
        var elementType: Int32 = 0
        try api.check(api.getTensorElementType(tensorInfo, &elementType), "GetTensorElementType")
        return (try dimensions(of: tensorInfo, api: api), elementType)
    }

    /// Reads the dimensions of an `OrtTensorTypeAndShapeInfo`; symbolic ones come back as -1.
    private static func dimensions(of info: OpaquePointer?, api: ORTAPI) throws(ORTError) -> [Int] {
        var rank = 0
        try api.check(api.getDimensionsCount(info, &rank), "GetDimensionsCount")
        var dimensions = [Int64](repeating: 0, count: rank)
        try api.check(api.getDimensions(info, &dimensions, rank), "GetDimensions")
        return dimensions.map { Int($0) }
    }

    private static func freeNames(of descriptions: [ValueDescription], api: ORTAPI, allocator: OpaquePointer) {
        for description in descriptions {
            if let status = api.allocatorFree(allocator, description.cName) { api.releaseStatus(status) }
        }
    }

    /// A readable name for an `ONNXTensorElementDataType` value.
    static func elementTypeName(_ type: Int32) -> String {
        let names = [
            "undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool",
            "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
        ]
        return names.indices.contains(Int(type)) ? names[Int(type)] : "element type \(type)"
    }
}
