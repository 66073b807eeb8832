/// The name and declared shape of a model input or output.
public struct ORTValueInfo: Sendable, Equatable {
    /// The graph's name for the value, used as the key in feeds and results.
    public let name: String
    /// Declared dimensions; `-1` marks a symbolic (free) dimension such as a batch size.
    public let shape: [Int]

    /// Describes a value by name and shape.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// A dense float32 tensor in row-major order, copied in and out of ONNX Runtime.
public struct ORTTensor: Sendable, Equatable {
    /// Dimensions, outermost first; every dimension is zero or more.
    public var shape: [Int]
    /// Elements in row-major order; `values.count` is the product of `shape`.
    public var values: [Float]

    /// Makes a tensor, checking that the shape describes exactly `values.count` elements.
    /// - Throws: `ORTError.invalidTensor` on a negative dimension or a count mismatch.
    public init(shape: [Int], values: [Float]) throws(ORTError) {
        let count = try Self.elementCount(of: shape)
        guard count == values.count else {
            throw .invalidTensor("shape \(shape) holds \(count) elements but \(values.count) values were given")
        }
        self.shape = shape
        self.values = values
    }

    /// Wraps values already known to match `shape` (results read back from ORT).
    init(uncheckedShape shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// The number of elements a shape holds.
    /// - Throws: `ORTError.invalidTensor` on a negative dimension or an overflowing product.
    static func elementCount(of shape: [Int]) throws(ORTError) -> Int {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else {
                throw .invalidTensor("shape \(shape) has a negative dimension")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .invalidTensor("shape \(shape) is too large") }
            count = product
        }
        return count
    }
}
