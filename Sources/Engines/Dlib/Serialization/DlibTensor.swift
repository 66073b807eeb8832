/// The four dimensions of a dlib DNN tensor: samples, channels, rows, columns.
public struct DlibTensorShape: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Samples (`num_samples`, or filters for a convolution's weights).
    public var n: Int
    /// Channels (`k`).
    public var k: Int
    /// Rows (`nr`).
    public var nr: Int
    /// Columns (`nc`).
    public var nc: Int

    /// Stores the given values.
    public init(n: Int, k: Int, nr: Int, nc: Int) {
        self.n = n
        self.k = k
        self.nr = nr
        self.nc = nc
    }

    /// The shape of four stored dimensions, or nil when one is negative or their product overflows.
    init?(_ dimensions: [Int64]) {
        guard dimensions.count == 4, dimensions.allSatisfy({ $0 >= 0 && $0 <= Int64(Int.max) }) else { return nil }
        var product = 1
        for dimension in dimensions {
            let (next, overflow) = product.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow else { return nil }
            product = next
        }
        self.init(n: Int(dimensions[0]), k: Int(dimensions[1]), nr: Int(dimensions[2]), nc: Int(dimensions[3]))
    }

    /// n·k·nr·nc.
    public var elementCount: Int { n * k * nr * nc }

    /// `NxKxRxC`.
    public var description: String { "\(n)x\(k)x\(nr)x\(nc)" }
}

/// A tensor as dlib serialises it: a shape and, unless it is a shape-only alias, its values.
public struct DlibTensor: Sendable, Equatable {
    /// The dimensions.
    public var shape: DlibTensorShape
    /// The elements in NCHW order, or nil for a shape-only alias tensor (stored as version 1).
    public var values: [Float]?

    /// Stores the given values.
    public init(shape: DlibTensorShape, values: [Float]?) {
        self.shape = shape
        self.values = values
    }
}
