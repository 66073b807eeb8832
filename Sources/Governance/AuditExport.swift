/// The audit log's export format: JSON Lines, one entry per line, in chain order.
///
/// Each line is a canonical JSON object (see ``JSONValue``) whose keys are the `audit_log`
/// column names from `sequence` to `entry_hash` (see ``AuditEntry``); integers are JSON
/// integers, missing values are `null`, and `parameters` and `result` are strings holding the
/// stored JSON text exactly, since the hash covers those bytes. Anyone can recompute each
/// `entry_hash` from the line alone and check that `previous_hash` equals the line before's
/// `entry_hash`; ``AuditVerifier/verify(exportLines:startingAfter:anchor:)`` does both.
public enum AuditExport {
    /// The export line of `entry`.
    public static func line(for entry: AuditEntry) -> String {
        AuditRow(entry, position: entry.sequence).exportLine
    }

    /// The entries of export lines, skipping empty lines. Throws
    /// ``GovernanceError/malformedExport(line:reason:)`` for a line that is not an entry.
    public static func entries(fromLines lines: some Sequence<some StringProtocol>) throws(GovernanceError) -> [AuditEntry] {
        var entries: [AuditEntry] = []
        var lineNumber = 0
        for line in lines {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let row = try AuditRow(exportLine: String(line), line: lineNumber)
            do {
                entries.append(try row.entry())
            } catch {
                throw .malformedExport(line: lineNumber, reason: error.description)
            }
        }
        return entries
    }
}
