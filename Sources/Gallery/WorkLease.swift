import Foundation

/// A named lease on work that one process of a cluster does at a time (the retention sweep):
/// whoever holds an unexpired lease does the work, renewing it well before it expires; when the
/// holder dies its lease runs out and another process claims it.
///
/// Leases live in the store (table `work_leases`) and are claimed, renewed and released in
/// transactions of their own. On PostgreSQL expiry is reckoned by the database server's clock,
/// so the nodes' clocks need not agree; the lease table is replicated like everything else, so
/// a lease survives a failover.
public struct WorkLease: Sendable, Hashable {
    /// The work's name.
    public var name: String
    /// Who holds (or last held) it.
    public var holder: String
    /// When the lease ends unless renewed; in the past for an expired or released lease.
    public var expiresAt: Date

    /// Describes a lease.
    public init(name: String, holder: String, expiresAt: Date) {
        self.name = name
        self.holder = holder
        self.expiresAt = expiresAt
    }

    /// The longest lease a store grants.
    public static let maximumDuration: Duration = .seconds(86_400)

    static func validate(name: String, holder: String, duration: Duration) throws(GalleryError) {
        if name.isEmpty || name.count > 200 {
            throw .invalidInput(field: "lease name", reason: "must have 1-200 characters")
        }
        if holder.isEmpty || holder.count > 200 {
            throw .invalidInput(field: "lease holder", reason: "must have 1-200 characters")
        }
        if duration <= .zero || duration > maximumDuration {
            throw .invalidInput(field: "lease duration", reason: "must lie in (0, \(maximumDuration)], got \(duration)")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
