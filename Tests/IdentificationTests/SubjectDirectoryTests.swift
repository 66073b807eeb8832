import Matching
import Testing

@testable import Identification

@Suite("Subject directory: compact subject facts that answer like a dictionary")
struct SubjectDirectoryTests {
    @Test("lookups, replacements, erasures (through compaction) and attribute filters agree with a dictionary")
    func agreesWithADictionary() {
        var directory = SubjectDirectory()
        var expected: [OwnerID: GalleryIndex.Subject] = [:]
        var generator = SeededGenerator(seed: 11)
        func subject(_ number: UInt64) -> GalleryIndex.Subject {
            // Every seventh subject has attributes; references of varied length, some non-ASCII.
            let reference = number % 5 == 0 ? "sujet-é-\(number)" : "subject-\(String(repeating: "x", count: Int(number % 23)))-\(number)"
            let attributes = number % 7 == 0 ? ["group": number % 2 == 0 ? "a" : "b", "site": "\(number % 3)"] : [:]
            return GalleryIndex.Subject(reference: reference, attributes: attributes)
        }
        // Mostly ascending owners (as a store hands them out), some out of order and some repeated.
        var owners = Array(UInt64(1)...6_000)
        for _ in 0..<400 {
            let a = Int.random(in: 0..<owners.count, using: &generator)
            let b = Int.random(in: 0..<owners.count, using: &generator)
            owners.swapAt(a, b)
        }
        owners += (0..<100).map { _ in UInt64.random(in: 1...6_000, using: &generator) }
        for number in owners {
            let owner = OwnerID(number)
            let isNew = expected[owner] == nil
            let added = directory.set(subject(number), for: owner)
            #expect(added == isNew)
            expected[owner] = subject(number)
        }
        // Erase two thirds: enough tombstones to compact several times.
        for number in UInt64(1)...6_000 where number % 3 != 0 {
            directory.remove(OwnerID(number))
            expected.removeValue(forKey: OwnerID(number))
        }
        directory.remove(OwnerID(999_999))
        // Re-enrol a few erased ones with new facts.
        for number in [UInt64(1), 2, 4_000] {
            let fresh = GalleryIndex.Subject(reference: "again-\(number)", attributes: ["group": "a"])
            let added = directory.set(fresh, for: OwnerID(number))
            #expect(added)
            expected[OwnerID(number)] = fresh
        }

        #expect(directory.count == expected.count)
        for number in UInt64(0)...6_001 {
            let owner = OwnerID(number)
            #expect(directory[owner]?.reference == expected[owner]?.reference)
            #expect(directory[owner]?.attributes == expected[owner]?.attributes)
        }
        var visited: [UInt64] = []
        directory.forEach { owner, subject in
            visited.append(owner.rawValue)
            #expect(subject.reference == expected[owner]?.reference)
        }
        #expect(visited == expected.keys.map(\.rawValue).sorted())
        for filter in [["group": "a"], ["group": "b", "site": "1"], ["site": "none"]] {
            let matching = Set(expected.compactMap { owner, subject in
                filter.allSatisfy { subject.attributes[$0.key] == $0.value } ? owner : nil
            })
            #expect(directory.owners(matching: filter) == matching)
        }
    }
}
