extension DlibNetwork {
    /// The activation shape after each layer (one sample), checking that every layer fits its input:
    /// convolution input channels, affine channel counts, pooling windows, tags, the flattened
    /// size a fully connected layer takes.
    public func activationShapes() throws(DlibNetworkError) -> [DlibActivationShape] {
        var current = DlibActivationShape(channels: input.means.count, rows: input.rows, columns: input.columns)
        var tagged: [Int: DlibActivationShape] = [:]
        var shapes: [DlibActivationShape] = []
        for (index, layer) in layers.enumerated() {
            switch layer {
            case .convolution(let c):
                guard c.inputChannels == current.channels else {
                    throw .inconsistentLayer(index: index, reason: "convolution takes \(c.inputChannels) channels, gets \(current)")
                }
                current = try Self.window(current, channels: c.filters, rows: c.kernelRows, columns: c.kernelColumns,
                                          strideY: c.strideY, strideX: c.strideX, paddingY: c.paddingY,
                                          paddingX: c.paddingX, index: index)
            case .affine(let a):
                guard a.gamma.count == current.channels, a.beta.count == current.channels else {
                    throw .inconsistentLayer(index: index, reason: "affine has \(a.gamma.count) channels, gets \(current)")
                }
            case .relu:
                break
            case .maxPool(let p), .averagePool(let p):
                if p.isGlobal {
                    current = DlibActivationShape(channels: current.channels, rows: 1, columns: 1)
                } else {
                    // dlib requires the padding to be smaller than the window.
                    guard p.paddingY < p.windowRows, p.paddingX < p.windowColumns else {
                        throw .inconsistentLayer(index: index, reason: "pooling padding is not smaller than its window")
                    }
                    current = try Self.window(current, channels: current.channels, rows: p.windowRows,
                                              columns: p.windowColumns, strideY: p.strideY, strideX: p.strideX,
                                              paddingY: p.paddingY, paddingX: p.paddingX, index: index)
                }
            case .tag(let id):
                tagged[id] = current
            case .skip(let id):
                guard let shape = tagged[id] else { throw .inconsistentLayer(index: index, reason: "skip\(id) before tag\(id)") }
                current = shape
            case .addTagged(let id):
                guard let other = tagged[id] else { throw .inconsistentLayer(index: index, reason: "add_prev\(id) before tag\(id)") }
                current = DlibActivationShape(channels: max(current.channels, other.channels),
                                              rows: max(current.rows, other.rows), columns: max(current.columns, other.columns))
            case .fullyConnected(let f):
                let flattened = current.channels * current.rows * current.columns
                guard f.inputs == flattened else {
                    throw .inconsistentLayer(index: index, reason: "fc takes \(f.inputs) inputs, gets \(current)")
                }
                current = DlibActivationShape(channels: f.outputs, rows: 1, columns: 1)
            }
            shapes.append(current)
        }
        return shapes
    }

    /// The output of a sliding window: `1 + (side + 2·padding - window) / stride`, as dlib sizes it.
    private static func window(
        _ input: DlibActivationShape, channels: Int, rows: Int, columns: Int,
        strideY: Int, strideX: Int, paddingY: Int, paddingX: Int, index: Int
    ) throws(DlibNetworkError) -> DlibActivationShape {
        guard rows > 0, columns > 0, strideY > 0, strideX > 0, paddingY >= 0, paddingX >= 0,
              rows <= input.rows + 2 * paddingY, columns <= input.columns + 2 * paddingX
        else {
            throw .inconsistentLayer(index: index, reason: "a \(rows)x\(columns) window (stride \(strideY)x\(strideX), "
                                     + "padding \(paddingY)x\(paddingX)) does not fit \(input)")
        }
        return DlibActivationShape(
            channels: channels,
            rows: 1 + (input.rows + 2 * paddingY - rows) / strideY,
            columns: 1 + (input.columns + 2 * paddingX - columns) / strideX
        )
    }
}
