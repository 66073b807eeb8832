/// dlib's `rectangle`: integer pixel edges, right and bottom inclusive (width is
/// `right - left + 1`), the face rectangle the shape predictor runs on.
public struct DlibRectangle: Sendable, Hashable, Codable {
    /// Left column.
    public var left: Int
    /// Top row.
    public var top: Int
    /// Right column (inclusive).
    public var right: Int
    /// Bottom row (inclusive).
    public var bottom: Int

    /// A rectangle from its four edges.
    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }

    /// Columns covered, as dlib counts them.
    public var width: Int { right - left + 1 }
    /// Rows covered, as dlib counts them.
    public var height: Int { bottom - top + 1 }
}
