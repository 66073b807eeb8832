#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the processor offers beyond the baseline target, read once.
///
/// Swift has no `cpuid` intrinsic, so on Linux this reads the first `flags` line of
/// /proc/cpuinfo: the kernel lists `avx2` and `fma` only when the CPU has them and the OS saves
/// the 256-bit registers on context switches. Elsewhere it answers false (baseline kernels).
enum CPUFeatures {
    /// The CPU and OS support AVX2 and FMA.
    static let hasAVX2AndFMA: Bool = {
        let flags = cpuFlags()
        return flags.contains("avx2") && flags.contains("fma")
    }()

    /// The feature flags of the first processor listed in /proc/cpuinfo (empty when unreadable).
    static func cpuFlags() -> Set<Substring> {
        #if os(Linux) && arch(x86_64)
        guard let handle = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(handle) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, handle) > 0 {
            guard let line else { break }
            let text = String(cString: line)
            guard text.hasPrefix("flags") else { continue }
            guard let colon = text.firstIndex(of: ":") else { return [] }
            return Set(text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }))
        }
        return []
        #else
        return []
        #endif
    }
}
