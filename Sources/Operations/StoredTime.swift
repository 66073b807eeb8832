import Foundation

/// Times as this target's rows keep them: whole milliseconds since 1970 UTC, rounded to the
/// nearest (idempotency outcomes, engine jobs).
enum StoredTime {
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000).rounded()) }
    static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1_000) }
}
