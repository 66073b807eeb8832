import Evaluation
import Testing

@Suite("Natural order of person and file names")
struct NaturalOrderTests {
    @Test("digit runs compare by value, so 2 comes before 10 and s9 before s10")
    func numbersByValue() {
        let names = ["10.pgm", "2.pgm", "1.pgm", "s10", "s9", "s1", "a", "a01", "a1", "b2c10", "b2c9"]
        let sorted = names.sorted(by: NaturalOrder.areInIncreasingOrder)
        #expect(sorted == ["1.pgm", "2.pgm", "10.pgm", "a", "a1", "a01", "b2c9", "b2c10", "s1", "s9", "s10"])
    }

    @Test("the order is strict: no name precedes itself, and of two different names exactly one comes first")
    func strictOrder() {
        let names = ["x", "x1", "x01", "x001", "1", "01", "", "X", "x-1"]
        for left in names {
            #expect(!NaturalOrder.areInIncreasingOrder(left, left))
            for right in names where right != left {
                #expect(NaturalOrder.areInIncreasingOrder(left, right) != NaturalOrder.areInIncreasingOrder(right, left))
            }
        }
    }
}
