/// Greedy non-maximum suppression as OpenCV's `dnn::NMSBoxes` does it (with `eta` 1).
enum NonMaximumSuppression {
    /// The indices of the boxes to keep, highest score first.
    ///
    /// Boxes are visited by descending score (ties keep their input order); a box is kept when
    /// its intersection over union with every box kept so far is at most `iouThreshold`.
    static func keptIndices(boxes: [FaceBox], scores: [Float], iouThreshold: Double) -> [Int] {
        precondition(boxes.count == scores.count, "one score per box")
        let order = boxes.indices.sorted { left, right in
            scores[left] != scores[right] ? scores[left] > scores[right] : left < right
        }
        var kept: [Int] = []
        for candidate in order {
            let overlapsKept = kept.contains { boxes[$0].intersectionOverUnion(with: boxes[candidate]) > iouThreshold }
            if !overlapsKept { kept.append(candidate) }
        }
        return kept
    }
}
