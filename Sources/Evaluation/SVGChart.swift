import Foundation

/// A small SVG plot: one frame, two axes (linear or base-10 logarithmic), grid lines, tick
/// labels and whatever series are added. Self-contained markup, no scripts or fonts to fetch.
public struct SVGChart {
    /// How values map along an axis.
    public enum Scale {
        /// Evenly spaced values in `range`, ticks every `step`.
        case linear(ClosedRange<Double>, step: Double)
        /// Decades from 10^lowerExponent to 10^upperExponent; values at or below zero sit on the lower edge.
        case logarithmic(lowerExponent: Int, upperExponent: Int)

        /// Position of `value` in 0...1 along the axis, clamped.
        func fraction(_ value: Double) -> Double {
            switch self {
            case let .linear(range, _):
                let span = range.upperBound - range.lowerBound
                return span > 0 ? min(max((value - range.lowerBound) / span, 0), 1) : 0
            case let .logarithmic(lower, upper):
                guard value > 0 else { return 0 }
                return min(max((log10(value) - Double(lower)) / Double(upper - lower), 0), 1)
            }
        }

        /// Major ticks: value and label markup.
        var ticks: [(value: Double, label: String)] {
            switch self {
            case let .linear(range, step):
                guard step > 0 else { return [] }
                let first = (range.lowerBound / step).rounded(.up)
                let last = (range.upperBound / step).rounded(.down)
                guard first <= last else { return [] }
                return stride(from: first, through: last, by: 1).map { index in
                    let value = index * step
                    return (value, SVGChart.number(value))
                }
            case let .logarithmic(lower, upper):
                return (lower...upper).map { exponent in
                    let label = exponent == 0
                        ? "1" : "10<tspan dy=\"-6\" font-size=\"9\">\(exponent)</tspan>"
                    return (pow(10, Double(exponent)), label)
                }
            }
        }

        /// Minor ticks (2...9 within each decade of a log axis), unlabelled.
        var minorTicks: [Double] {
            guard case let .logarithmic(lower, upper) = self, lower < upper else { return [] }
            return (lower..<upper).flatMap { exponent in (2...9).map { Double($0) * pow(10, Double(exponent)) } }
        }
    }

    let width: Double
    let height: Double
    let title: String
    let xScale: Scale
    let yScale: Scale
    let xLabel: String
    let yLabel: String
    private let left = 62.0
    private let right = 16.0
    private let top = 30.0
    private let bottom = 46.0
    /// Whether the legend sits in the top-left corner of the plot (else the top-right).
    public var legendOnLeft = false
    private var layers: [String] = []
    private var legend: [(color: String, label: String, dashed: Bool)] = []
    /// Labels for the x axis in place of the scale's numbers (category axes: one label per
    /// period, say); nil keeps the numbers.
    public var xTickLabels: [(value: Double, label: String)]?

    /// An empty chart of this size, title, scales and axis labels.
    public init(width: Double, height: Double, title: String, x: Scale, y: Scale, xLabel: String, yLabel: String) {
        self.width = width
        self.height = height
        self.title = title
        xScale = x
        yScale = y
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    private var plotWidth: Double { width - left - right }
    private var plotHeight: Double { height - top - bottom }

    /// Horizontal pixel of data value `x`.
    func pixelX(_ x: Double) -> Double { left + xScale.fraction(x) * plotWidth }

    /// Vertical pixel of data value `y` (up is larger).
    func pixelY(_ y: Double) -> Double { top + (1 - yScale.fraction(y)) * plotHeight }

    /// A line through `points` (data coordinates).
    public mutating func line(_ points: [(x: Double, y: Double)], color: String, width: Double = 2, dashed: Bool = false, label: String?) {
        guard !points.isEmpty else { return }
        let coordinates = points.map { "\(Self.pixel(pixelX($0.x))),\(Self.pixel(pixelY($0.y)))" }.joined(separator: " ")
        let dash = dashed ? " stroke-dasharray=\"5 4\"" : ""
        layers.append(
            "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\"\(dash) "
                + "stroke-linejoin=\"round\" points=\"\(coordinates)\"/>")
        if let label { legend.append((color, label, dashed)) }
    }

    /// A histogram outline with a translucent fill: `values[i]` over [edges[i], edges[i+1]).
    public mutating func bars(edges: [Double], values: [Double], color: String, label: String) {
        guard edges.count == values.count + 1, !values.isEmpty else { return }
        let base = pixelY(Self.floorValue(of: yScale))
        var path = "M\(Self.pixel(pixelX(edges[0]))),\(Self.pixel(base))"
        for (index, value) in values.enumerated() {
            let y = Self.pixel(value > 0 ? pixelY(value) : base)
            path += " L\(Self.pixel(pixelX(edges[index]))),\(y) L\(Self.pixel(pixelX(edges[index + 1]))),\(y)"
        }
        path += " L\(Self.pixel(pixelX(edges[edges.count - 1]))),\(Self.pixel(base)) Z"
        layers.append(
            "<path d=\"\(path)\" fill=\"\(color)\" fill-opacity=\"0.25\" stroke=\"\(color)\" stroke-width=\"1.5\"/>")
        legend.append((color, label, false))
    }

    /// A vertical line at data value `x` across the plot, labelled at the top.
    public mutating func verticalMarker(at x: Double, color: String, label: String) {
        let px = Self.pixel(pixelX(x))
        layers.append(
            "<line x1=\"\(px)\" y1=\"\(Self.pixel(top))\" x2=\"\(px)\" y2=\"\(Self.pixel(top + plotHeight))\" "
                + "stroke=\"\(color)\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\"/>"
                + "<text x=\"\(Self.pixel(pixelX(x) + 4))\" y=\"\(Self.pixel(top + 12))\" font-size=\"11\" "
                + "fill=\"\(color)\">\(escapeHTML(label))</text>")
    }

    /// A dot at a data point with a label beside it.
    public mutating func point(x: Double, y: Double, color: String, label: String) {
        let px = pixelX(x)
        let py = pixelY(y)
        layers.append(
            "<circle cx=\"\(Self.pixel(px))\" cy=\"\(Self.pixel(py))\" r=\"4.5\" fill=\"\(color)\" stroke=\"#fff\"/>"
                + "<text x=\"\(Self.pixel(px + 8))\" y=\"\(Self.pixel(py - 6))\" font-size=\"11\" "
                + "fill=\"\(color)\">\(escapeHTML(label))</text>")
    }

    /// The finished `<svg>` element.
    public func render() -> String {
        var parts: [String] = []
        parts.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
                + "width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(escapeHTML(title))\" "
                + "font-family=\"system-ui, sans-serif\">")
        parts.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>")
        parts.append(
            "<text x=\"\(Self.pixel(left))\" y=\"18\" font-size=\"14\" font-weight=\"600\" fill=\"#222\">"
                + "\(escapeHTML(title))</text>")
        let plotBottom = top + plotHeight
        let plotRight = left + plotWidth
        for value in xScale.minorTicks {
            let px = Self.pixel(pixelX(value))
            parts.append("<line x1=\"\(px)\" y1=\"\(Self.pixel(top))\" x2=\"\(px)\" y2=\"\(Self.pixel(plotBottom))\" stroke=\"#f0f0f0\"/>")
        }
        for value in yScale.minorTicks {
            let py = Self.pixel(pixelY(value))
            parts.append("<line x1=\"\(Self.pixel(left))\" y1=\"\(py)\" x2=\"\(Self.pixel(plotRight))\" y2=\"\(py)\" stroke=\"#f0f0f0\"/>")
        }
        for tick in xTickLabels.map({ $0.map { (value: $0.value, label: escapeHTML($0.label)) } }) ?? xScale.ticks {
            let px = Self.pixel(pixelX(tick.value))
            parts.append(
                "<line x1=\"\(px)\" y1=\"\(Self.pixel(top))\" x2=\"\(px)\" y2=\"\(Self.pixel(plotBottom))\" stroke=\"#ddd\"/>"
                    + "<text x=\"\(px)\" y=\"\(Self.pixel(plotBottom + 16))\" font-size=\"11\" fill=\"#444\" "
                    + "text-anchor=\"middle\">\(tick.label)</text>")
        }
        for tick in yScale.ticks {
            let py = Self.pixel(pixelY(tick.value))
            parts.append(
                "<line x1=\"\(Self.pixel(left))\" y1=\"\(py)\" x2=\"\(Self.pixel(plotRight))\" y2=\"\(py)\" stroke=\"#ddd\"/>"
                    + "<text x=\"\(Self.pixel(left - 6))\" y=\"\(Self.pixel(pixelY(tick.value) + 4))\" font-size=\"11\" "
                    + "fill=\"#444\" text-anchor=\"end\">\(tick.label)</text>")
        }
        parts.append(
            "<rect x=\"\(Self.pixel(left))\" y=\"\(Self.pixel(top))\" width=\"\(Self.pixel(plotWidth))\" "
                + "height=\"\(Self.pixel(plotHeight))\" fill=\"none\" stroke=\"#888\"/>")
        parts.append(
            "<text x=\"\(Self.pixel(left + plotWidth / 2))\" y=\"\(Self.pixel(height - 8))\" font-size=\"12\" "
                + "fill=\"#222\" text-anchor=\"middle\">\(escapeHTML(xLabel))</text>")
        let yMiddle = Self.pixel(top + plotHeight / 2)
        parts.append(
            "<text x=\"14\" y=\"\(yMiddle)\" font-size=\"12\" fill=\"#222\" text-anchor=\"middle\" "
                + "transform=\"rotate(-90 14 \(yMiddle))\">\(escapeHTML(yLabel))</text>")
        parts.append("<g>" + layers.joined() + "</g>")
        for (index, entry) in legend.enumerated() {
            let y = top + 14 + Double(index) * 16
            let x = legendOnLeft ? left + 12 : plotRight - 170
            let dash = entry.dashed ? " stroke-dasharray=\"5 4\"" : ""
            parts.append(
                "<line x1=\"\(Self.pixel(x))\" y1=\"\(Self.pixel(y - 4))\" x2=\"\(Self.pixel(x + 22))\" "
                    + "y2=\"\(Self.pixel(y - 4))\" stroke=\"\(entry.color)\" stroke-width=\"3\"\(dash)/>"
                    + "<text x=\"\(Self.pixel(x + 28))\" y=\"\(Self.pixel(y))\" font-size=\"11\" fill=\"#222\">"
                    + "\(escapeHTML(entry.label))</text>")
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// The value bars rise from: the bottom of the axis.
    private static func floorValue(of scale: Scale) -> Double {
        switch scale {
        case let .linear(range, _): range.lowerBound
        case let .logarithmic(lower, _): pow(10, Double(lower))
        }
    }

    /// A pixel coordinate with one decimal, which keeps the markup short.
    static func pixel(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// A tick value without trailing zeros.
    static func number(_ value: Double) -> String {
        let text = String(format: "%.2f", value)
        var trimmed = text
        while trimmed.contains("."), trimmed.hasSuffix("0") { trimmed.removeLast() }
        if trimmed.hasSuffix(".") { trimmed.removeLast() }
        return trimmed == "-0" ? "0" : trimmed
    }
}

/// `text` with the five HTML-significant characters escaped.
public func escapeHTML(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}
