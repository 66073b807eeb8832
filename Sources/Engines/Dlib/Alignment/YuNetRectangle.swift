import FaceEngine

extension DlibRectangle {
    /// The rectangle dlib's HOG face detector would likely report for a face YuNet boxed.
    ///
    /// dlib's 5-point predictor was trained on its HOG detector's rectangles, so it is run on a
    /// rectangle of that kind rather than on YuNet's box: a square of side `sideScale * (w + h) / 2`
    /// centred `horizontalShift * w` right of and `verticalShift * h` below the box's centre.
    /// MEASURED_FIGURES
    public init(yuNetBox box: FaceBox) {
        self.init(yuNetBox: box, sideScale: Self.sideScale, horizontalShift: Self.horizontalShift, verticalShift: Self.verticalShift)
    }

    /// The mapping with explicit parameters (what the measurement varied).
    init(yuNetBox box: FaceBox, sideScale: Double, horizontalShift: Double, verticalShift: Double) {
        let side = sideScale * (box.width + box.height) / 2
        let centreX = box.x + box.width / 2 + horizontalShift * box.width
        let centreY = box.y + box.height / 2 + verticalShift * box.height
        self.init(
            left: Int((centreX - side / 2).rounded()), top: Int((centreY - side / 2).rounded()),
            right: Int((centreX + side / 2).rounded()), bottom: Int((centreY + side / 2).rounded()))
    }

    /// Side of the square relative to the mean of YuNet's width and height.
    static let sideScale = 0.93
    /// Shift of the centre, as a fraction of YuNet's width (positive: right).
    static let horizontalShift = -0.02
    /// Shift of the centre, as a fraction of YuNet's height (positive: down).
    static let verticalShift = 0.05
}
