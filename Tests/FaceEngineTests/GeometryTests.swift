import Imaging
import Testing

@Suite("Imaging geometry: resize and affine warp")
struct GeometryTests {
    /// An image from one byte per pixel, repeated in R, G and B.
    private func grey(_ values: [UInt8], width: Int) -> RGBImage {
        RGBImage(greyscale: values, width: width, height: values.count / width)
    }

    private func redChannel(_ image: RGBImage) -> [UInt8] {
        stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }
    }

    @Test("halving a row averages pixel pairs, rounding half up like OpenCV's fixed point")
    func halvingAveragesPairs() {
        // Destination x samples source (x + 0.5) * 2 - 0.5: positions 0.5 and 2.5.
        let image = grey([10, 20, 30, 41], width: 4)
        let resized = image.resizedBilinear(width: 2, height: 1)
        #expect(redChannel(resized) == [15, 36])
    }

    @Test("enlarging 2x2 to 4x4 interpolates between the pixel centres and clamps at the edges")
    func enlargingInterpolatesAndClamps() {
        // Positions -0.25, 0.25, 0.75, 1.25 on each axis: clamped, 1/4, 3/4, clamped.
        let image = grey([0, 100, 100, 200], width: 2)
        let resized = image.resizedBilinear(width: 4, height: 4)
        #expect(redChannel(resized) == [
            0, 25, 75, 100,
            25, 50, 100, 125,
            75, 100, 150, 175,
            100, 125, 175, 200,
        ])
    }

    @Test("resizing keeps the channels apart")
    func resizingKeepsChannels() {
        let image = RGBImage(width: 2, height: 1, pixels: [200, 0, 10, 0, 200, 30])
        let resized = image.resizedBilinear(width: 1, height: 1)
        #expect(resized.pixels == [100, 100, 20])
    }

    @Test("resizing to the same size returns the image unchanged")
    func sameSizeIsIdentity() {
        let image = grey((0..<35).map { UInt8($0 * 7) }, width: 7)
        #expect(image.resizedBilinear(width: 7, height: 5) == image)
    }

    @Test("the identity warp copies the image")
    func identityWarp() {
        let image = grey((0..<20).map { UInt8($0 * 11) }, width: 5)
        #expect(image.warpedAffine(.identity, width: 5, height: 4) == image)
    }

    @Test("a quarter turn moves every pixel to its rotated place")
    func quarterTurn() {
        let image = grey([1, 2, 3, 4, 5, 6], width: 3)  // 3 wide, 2 high
        // (x, y) -> (1 - y, x): a clockwise quarter turn on screen into a 2 x 3 image.
        let turn = AffineTransform(a: 0, b: -1, c: 1, d: 1, e: 0, f: 0)
        let turned = image.warpedAffine(turn, width: 2, height: 3)
        #expect(redChannel(turned) == [4, 1, 5, 2, 6, 3])
    }

    @Test("a half-pixel shift averages neighbours and treats outside pixels as black")
    func halfPixelShift() {
        let image = grey([100, 200, 50, 0], width: 4)
        // Destination x samples source x - 1.5.
        let shift = AffineTransform(a: 1, b: 0, c: 1.5, d: 0, e: 1, f: 0)
        let shifted = image.warpedAffine(shift, width: 4, height: 1)
        // x=0 samples -1.5 (both neighbours outside), x=1 samples -0.5 (half black),
        // x=2 samples 0.5, x=3 samples 1.5.
        #expect(redChannel(shifted) == [0, 50, 150, 125])
    }

    @Test("enlarging by a warp interpolates a ramp linearly")
    func warpInterpolatesRamp() {
        let image = grey([0, 40, 80, 120], width: 4)
        let double = AffineTransform(a: 2, b: 0, c: 0, d: 0, e: 2, f: 0)
        let enlarged = image.warpedAffine(double, width: 7, height: 1)
        #expect(redChannel(enlarged) == [0, 20, 40, 60, 80, 100, 120])
    }

    @Test("a singular transform gives a black image")
    func singularWarp() {
        let image = grey([255, 255, 255, 255], width: 2)
        let collapse = AffineTransform(a: 1, b: 2, c: 0, d: 2, e: 4, f: 0)
        #expect(image.warpedAffine(collapse, width: 3, height: 3) == RGBImage(width: 3, height: 3))
    }

    @Test("the inverse undoes the transform")
    func inverseUndoes() throws {
        let transform = AffineTransform.similarity(scale: 0.4, angle: 0.3, translationX: 12, translationY: -7)
        let inverse = try #require(transform.inverse)
        let point = ImagePoint(x: 321.5, y: -45.25)
        let back = inverse.apply(transform.apply(point))
        #expect(abs(back.x - point.x) < 1e-9 && abs(back.y - point.y) < 1e-9)
    }
}
