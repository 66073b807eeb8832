import FaceEngine

extension DlibRectangle {
    /// The rectangle dlib's HOG face detector would likely report for a face YuNet boxed.
    ///
    /// dlib's 5-point predictor was trained on its HOG detector's rectangles, so it is run on a
    /// rectangle of that kind rather than on YuNet's box: a square of side `sideScale * (w + h) / 2`
    /// centred `horizontalShift * w` right of and `verticalShift * h` below the box's centre.
    ///
    /// The constants are the mean offset and side ratio between YuNet's boxes and dlib's HOG
    /// rectangles (upsampled once) on 395 faces: the 5 test photos and the 390 ORL faces dlib's
    /// detector finds. Measured with the predictor (dlib 20.0.1 points reproduced exactly) on
    /// those faces, the 5 points on this rectangle versus on dlib's own rectangle differ by
    /// 0.31 px on average, 5 px at most (ORL: mean 0.31, max 5; photos: mean 0.72, max 3 px;
    /// YuNet's box as is: 0.35 px overall). The chips cut from the two sets of points differ by
    /// 2.7 (photos) and 3.6 (ORL) grey levels per byte on average. The predictor is insensitive
    /// to the rectangle: side ratios from 0.86 to 1.0 and vertical shifts from 0 to 0.07 all
    /// gave means between 0.31 and 0.35 px.
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
