import Foundation
import Gallery

/// Typed access to the columns of a stored review row; failures name the table and row.
struct RowReader {
    let row: StoreRow
    let table: String
    var context = ""

    func malformed(_ reason: String) -> ReviewError {
        .malformedRow(table: table, reason: context.isEmpty ? reason : "\(context): \(reason)")
    }

    func integer(_ column: String) throws(ReviewError) -> Int64 {
        guard case .integer(let value)? = row[column] else { throw malformed("\(column) is not an integer") }
        return value
    }

    func optionalInteger(_ column: String) throws(ReviewError) -> Int64? {
        switch row[column] {
        case .null?, nil: return nil
        case .integer(let value)?: return value
        default: throw malformed("\(column) is not an integer")
        }
    }

    func real(_ column: String) throws(ReviewError) -> Double {
        switch row[column] {
        case .real(let value)?: return value
        // SQLite hands back a REAL column holding a whole number as an integer only if the
        // column is not STRICT; accept it anyway.
        case .integer(let value)?: return Double(value)
        default: throw malformed("\(column) is not a number")
        }
    }

    func text(_ column: String) throws(ReviewError) -> String {
        guard case .text(let value)? = row[column] else { throw malformed("\(column) is not text") }
        return value
    }

    func optionalText(_ column: String) throws(ReviewError) -> String? {
        switch row[column] {
        case .null?, nil: return nil
        case .text(let value)?: return value
        default: throw malformed("\(column) is not text")
        }
    }

    func blob(_ column: String) throws(ReviewError) -> Data {
        guard case .blob(let value)? = row[column] else { throw malformed("\(column) is not a blob") }
        return value
    }

    func date(_ column: String) throws(ReviewError) -> Date {
        Date(timeIntervalSince1970: Double(try integer(column)) / 1000)
    }
}

enum Clock {
    /// Milliseconds since 1970 UTC, as every review row stores times.
    static func milliseconds(_ date: Date = Date()) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
