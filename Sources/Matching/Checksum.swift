/// A fast streaming 64-bit checksum for snapshot sections (four independent multiply-rotate
/// lanes over 32-byte blocks, then a mixing finish), so verifying gigabytes costs well under
/// a second. It detects corruption, not tampering.
struct Checksum64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9

    private var lanes: (UInt64, UInt64, UInt64, UInt64)
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    init(seed: UInt64 = 0) {
        lanes = (seed &+ Self.prime1 &+ Self.prime2, seed &+ Self.prime2, seed, seed &- Self.prime1)
    }

    @inline(__always)
    private static func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = lane &+ word &* prime2
        return ((mixed << 31) | (mixed >> 33)) &* prime1
    }

    @_optimize(speed)
    private mutating func consumeBlocks(_ base: UnsafeRawPointer, count blocks: Int) {
        var (a, b, c, d) = lanes
        var pointer = base
        for _ in 0..<blocks {
            a = Self.round(a, UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self)))
            b = Self.round(b, UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            c = Self.round(c, UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            d = Self.round(d, UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
            pointer += 32
        }
        lanes = (a, b, c, d)
    }

    /// Adds bytes.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        length &+= UInt64(remaining)
        if !pending.isEmpty {
            let take = min(32 - pending.count, remaining)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            remaining -= take
            if pending.count == 32 {
                pending.withUnsafeBytes { consumeBlocks($0.baseAddress!, count: 1) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let blocks = remaining / 32
        if blocks > 0 { consumeBlocks(base, count: blocks) }
        let tail = remaining - blocks * 32
        if tail > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: base + blocks * 32, count: tail)) }
    }

    /// The checksum of everything added.
    func finalize() -> UInt64 {
        var hash = length &* Self.prime3
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3] {
            hash = (hash ^ Self.round(0, lane)) &* Self.prime1 &+ Self.prime3
        }
        for byte in pending { hash = ((hash ^ UInt64(byte)) &* Self.prime1).rotatedLeft(11) }
        hash ^= hash >> 33
        hash &*= Self.prime2
        hash ^= hash >> 29
        hash &*= Self.prime3
        return hash ^ (hash >> 32)
    }
}

extension UInt64 {
    @inline(__always)
    func rotatedLeft(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
