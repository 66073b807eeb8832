/// The stable identifier of one enrolled template (one row of a gallery).
///
/// Identifiers are chosen by the caller (usually the gallery store's primary key) and never
/// reused by the index: removing a template and inserting another with the same identifier is
/// allowed, but two live templates never share one.
public struct TemplateID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The identifier as stored in snapshots and databases.
    public let rawValue: UInt64

    /// Wraps a raw identifier.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Wraps a raw identifier.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (lhs: TemplateID, rhs: TemplateID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "template \(rawValue)" }
}

/// The subject (person) a template belongs to; several templates may share one owner, and
/// per-subject search results keep only each owner's best-scoring template.
public struct OwnerID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The identifier as stored in snapshots and databases.
    public let rawValue: UInt64

    /// Wraps a raw identifier.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Wraps a raw identifier.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (lhs: OwnerID, rhs: OwnerID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "subject \(rawValue)" }
}
