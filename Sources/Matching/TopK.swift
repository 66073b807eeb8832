/// A bounded collection of the best `capacity` (score, row) pairs seen so far.
///
/// Order: higher score is better; at equal scores the lower row (earlier enrolment) is better,
/// so results are deterministic whatever the scan order or worker split. The root of the
/// binary heap is the worst kept pair, which is what every new candidate is compared with.
struct TopK {
    let capacity: Int
    private(set) var scores: [Float]
    private(set) var rows: [UInt32]

    init(capacity: Int) {
        self.capacity = capacity
        scores = []
        rows = []
        scores.reserveCapacity(capacity)
        rows.reserveCapacity(capacity)
    }

    var count: Int { scores.count }
    var isFull: Bool { scores.count >= capacity }

    /// The worst kept score, or -infinity while not full (anything may enter).
    @inline(__always)
    var admissionScore: Float { isFull ? scores[0] : -.infinity }

    /// The worst kept score; only meaningful when not empty.
    var worstScore: Float { scores[0] }

    @inline(__always)
    static func isWorse(_ scoreA: Float, _ rowA: UInt32, than scoreB: Float, _ rowB: UInt32) -> Bool {
        scoreA < scoreB || (scoreA == scoreB && rowA > rowB)
    }

    /// Offers a candidate; returns whether it was kept.
    @discardableResult
    mutating func offer(score: Float, row: UInt32) -> Bool {
        if scores.count < capacity {
            scores.append(score)
            rows.append(row)
            siftUp(scores.count - 1)
            return true
        }
        guard capacity > 0, Self.isWorse(scores[0], rows[0], than: score, row) else { return false }
        scores[0] = score
        rows[0] = row
        siftDown(0)
        return true
    }

    /// Offers every pair kept by `other`.
    mutating func merge(_ other: TopK) {
        for index in 0..<other.count { offer(score: other.scores[index], row: other.rows[index]) }
    }

    /// The kept pairs, best first.
    func sorted() -> [(score: Float, row: UInt32)] {
        zip(scores, rows).map { (score: $0.0, row: $0.1) }.sorted { a, b in
            Self.isWorse(b.score, b.row, than: a.score, a.row)
        }
    }

    private mutating func siftUp(_ start: Int) {
        scores.withUnsafeMutableBufferPointer { scores in
            rows.withUnsafeMutableBufferPointer { rows in
                let score = scores[start], row = rows[start]
                var child = start
                while child > 0 {
                    let parent = (child - 1) >> 1
                    guard Self.isWorse(score, row, than: scores[parent], rows[parent]) else { break }
                    scores[child] = scores[parent]
                    rows[child] = rows[parent]
                    child = parent
                }
                scores[child] = score
                rows[child] = row
            }
        }
    }

    private mutating func siftDown(_ start: Int) {
        scores.withUnsafeMutableBufferPointer { scores in
            rows.withUnsafeMutableBufferPointer { rows in
                let count = scores.count
                let score = scores[start], row = rows[start]
                var parent = start
                while true {
                    let left = 2 * parent + 1
                    guard left < count else { break }
                    var worst = left
                    let right = left + 1
                    if right < count, Self.isWorse(scores[right], rows[right], than: scores[left], rows[left]) { worst = right }
                    guard Self.isWorse(scores[worst], rows[worst], than: score, row) else { break }
                    scores[parent] = scores[worst]
                    rows[parent] = rows[worst]
                    parent = worst
                }
                scores[parent] = score
                rows[parent] = row
            }
        }
    }
}
