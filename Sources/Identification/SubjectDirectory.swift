import Matching

/// The subject facts a gallery's searches report (reference) and filter on (attributes), held
/// compactly: at tens of millions of subjects a dictionary entry with its own string costs over
/// 100 bytes each, about 1 GB at 10M; this layout costs the reference's bytes plus 20.
///
/// Owners are kept in ascending order (stored identifiers grow, so enrolment appends and a
/// lookup is a binary search), references packed into one byte arena. Attributes, which most
/// subjects lack, sit in a dictionary of their own, so an attribute filter only visits subjects
/// that have some. An erased subject leaves a tombstone until enough of them are compacted away.
struct SubjectDirectory: Sendable {
    private var owners: [UInt64] = []
    private var referenceStarts: [UInt64] = []
    /// Byte length of each reference; `tombstone` marks an erased subject.
    private var referenceLengths: [UInt32] = []
    private var arena: [UInt8] = []
    private var attributes: [UInt64: [String: String]] = [:]
    private var tombstones = 0
    private static let tombstone = UInt32.max

    /// Subjects present.
    private(set) var count = 0

    init() {}

    /// Reserves room for `subjects` subjects whose references average `referenceBytes` bytes.
    mutating func reserveCapacity(_ subjects: Int, referenceBytes: Int = 16) {
        owners.reserveCapacity(subjects)
        referenceStarts.reserveCapacity(subjects)
        referenceLengths.reserveCapacity(subjects)
        arena.reserveCapacity(subjects * referenceBytes)
    }

    /// The subject of `owner`, or nil when there is none.
    subscript(owner: OwnerID) -> GalleryIndex.Subject? {
        guard let position = position(of: owner.rawValue), referenceLengths[position] != Self.tombstone else { return nil }
        return GalleryIndex.Subject(reference: reference(at: position), attributes: attributes[owner.rawValue] ?? [:])
    }

    /// Adds or replaces the subject of `owner`; returns false when it replaced one.
    @discardableResult
    mutating func set(_ subject: GalleryIndex.Subject, for owner: OwnerID) -> Bool {
        let key = owner.rawValue
        let start = UInt64(arena.count)
        let bytes = Array(subject.reference.utf8)
        // References longer than 4 GB cannot be stored; the store limits them far below that.
        let length = UInt32(bytes.count)
        arena += bytes
        if subject.attributes.isEmpty { attributes.removeValue(forKey: key) } else { attributes[key] = subject.attributes }
        if let last = owners.last, key <= last {
            let position = insertionPoint(of: key)
            if position < owners.count, owners[position] == key {
                let wasPresent = referenceLengths[position] != Self.tombstone
                if !wasPresent { tombstones -= 1; count += 1 }
                referenceStarts[position] = start
                referenceLengths[position] = length
                return !wasPresent
            }
            owners.insert(key, at: position)
            referenceStarts.insert(start, at: position)
            referenceLengths.insert(length, at: position)
        } else {
            owners.append(key)
            referenceStarts.append(start)
            referenceLengths.append(length)
        }
        count += 1
        return true
    }

    /// Removes the subject of `owner`, if present.
    mutating func remove(_ owner: OwnerID) {
        guard let position = position(of: owner.rawValue), referenceLengths[position] != Self.tombstone else { return }
        referenceLengths[position] = Self.tombstone
        attributes.removeValue(forKey: owner.rawValue)
        count -= 1
        tombstones += 1
        if tombstones > 1024 && tombstones > owners.count / 4 { compact() }
    }

    /// Owners whose attributes hold every pair of `filter` (a non-empty filter).
    func owners(matching filter: [String: String]) -> Set<OwnerID> {
        var matching = Set<OwnerID>()
        for (owner, values) in attributes where filter.allSatisfy({ values[$0.key] == $0.value }) {
            matching.insert(OwnerID(owner))
        }
        return matching
    }

    /// Calls `body` with every subject present, in ascending owner order.
    func forEach(_ body: (OwnerID, GalleryIndex.Subject) throws -> Void) rethrows {
        for position in owners.indices where referenceLengths[position] != Self.tombstone {
            let owner = owners[position]
            try body(OwnerID(owner), GalleryIndex.Subject(reference: reference(at: position), attributes: attributes[owner] ?? [:]))
        }
    }

    private func reference(at position: Int) -> String {
        let start = Int(referenceStarts[position])
        return String(decoding: arena[start..<start + Int(referenceLengths[position])], as: UTF8.self)
    }

    private func position(of key: UInt64) -> Int? {
        let position = insertionPoint(of: key)
        return position < owners.count && owners[position] == key ? position : nil
    }

    /// The first position whose owner is not below `key`.
    private func insertionPoint(of key: UInt64) -> Int {
        var low = 0
        var high = owners.count
        while low < high {
            let middle = (low + high) / 2
            if owners[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Drops tombstones and the arena bytes nothing refers to any more.
    private mutating func compact() {
        var compacted = SubjectDirectory()
        compacted.reserveCapacity(count, referenceBytes: count == 0 ? 0 : arena.count / max(1, owners.count))
        forEach { owner, subject in compacted.set(subject, for: owner) }
        self = compacted
    }
}
