/// Orders names as people read them: runs of digits compare as numbers, so `2.pgm` comes
/// before `10.pgm` and `s9` before `s10`. Independent of locale, so every machine sorts alike.
public enum NaturalOrder {
    /// Whether `left` comes before `right`. Digit runs compare by value (ties broken by
    /// fewer leading zeros first), other runs by Unicode scalar value; a name that is a
    /// prefix of another comes first.
    public static func areInIncreasingOrder(_ left: String, _ right: String) -> Bool {
        let leftRuns = runs(of: left)
        let rightRuns = runs(of: right)
        for (leftRun, rightRun) in zip(leftRuns, rightRuns) {
            if let order = compare(leftRun, rightRun) { return order }
        }
        if leftRuns.count != rightRuns.count { return leftRuns.count < rightRuns.count }
        // Equal by the rules above (e.g. "a01" and "a1"): fall back to plain order for a total order.
        return left.unicodeScalars.lexicographicallyPrecedes(right.unicodeScalars)
    }

    private struct Run {
        var scalars: [Unicode.Scalar]
        var isNumber: Bool
    }

    private static func runs(of text: String) -> [Run] {
        var result: [Run] = []
        for scalar in text.unicodeScalars {
            let isDigit = ("0"..."9").contains(scalar)
            if let last = result.indices.last, result[last].isNumber == isDigit {
                result[last].scalars.append(scalar)
            } else {
                result.append(Run(scalars: [scalar], isNumber: isDigit))
            }
        }
        return result
    }

    /// `true` or `false` when the runs differ, `nil` when they are equal.
    private static func compare(_ left: Run, _ right: Run) -> Bool? {
        if left.isNumber && right.isNumber {
            let leftDigits = left.scalars.drop { $0 == "0" }
            let rightDigits = right.scalars.drop { $0 == "0" }
            if leftDigits.count != rightDigits.count { return leftDigits.count < rightDigits.count }
            if !leftDigits.elementsEqual(rightDigits) {
                return leftDigits.lexicographicallyPrecedes(rightDigits) { $0.value < $1.value }
            }
            if left.scalars.count != right.scalars.count { return left.scalars.count < right.scalars.count }
            return nil
        }
        if left.isNumber != right.isNumber { return left.isNumber }
        if left.scalars.elementsEqual(right.scalars) { return nil }
        return left.scalars.lexicographicallyPrecedes(right.scalars) { $0.value < $1.value }
    }
}
