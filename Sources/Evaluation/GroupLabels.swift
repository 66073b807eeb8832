import Foundation

/// Demographic (or any other) group labels for the people of a dataset, read from a CSV file
/// of `person,group` lines such as `s1,female`.
///
/// Tolerated: a header line whose first field is `person`, `subject`, `identity`, `id` or
/// `name` (unless that is a person's label); blank lines; lines starting with `#`; spaces
/// around fields; fields in double quotes; Windows line ends; a UTF-8 byte-order mark; a
/// person listed twice with the same group. People the file does not mention are unlabelled
/// and left out of the per-group figures (the report lists them).
public struct GroupLabels: Sendable, Equatable {
    /// Each labelled person's group.
    public let groupOfPerson: [String: String]

    /// Labels from an already built map.
    public init(groupOfPerson: [String: String]) {
        self.groupOfPerson = groupOfPerson
    }

    /// Parses the text of a groups file.
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - knownPeople: The dataset's person labels; any other name is an error.
    ///   - source: Names the file in errors.
    /// - Throws: ``EvaluationError/malformedGroupsLine(line:text:)``,
    ///   ``EvaluationError/unknownPersonInGroups(person:line:)``,
    ///   ``EvaluationError/conflictingGroups(person:first:second:line:)``, or
    ///   ``EvaluationError/noLabelledPeople(path:)`` when no line labels anyone.
    public init(parsing text: String, knownPeople: Set<String>, source: String = "groups.csv") throws(EvaluationError) {
        var groups: [String: String] = [:]
        var sawContent = false
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for (offset, rawLine) in lines.enumerated() {
            let lineNumber = offset + 1
            var line = String(rawLine)
            if offset == 0, line.hasPrefix("\u{FEFF}") { line.removeFirst() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map(Self.unquoted)
            let isFirstContent = !sawContent
            sawContent = true
            if isFirstContent, let first = fields.first, !knownPeople.contains(first),
               Self.headerWords.contains(first.lowercased()) {
                continue
            }
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw .malformedGroupsLine(line: lineNumber, text: trimmed)
            }
            let (person, group) = (fields[0], fields[1])
            guard knownPeople.contains(person) else { throw .unknownPersonInGroups(person: person, line: lineNumber) }
            if let earlier = groups[person], earlier != group {
                throw .conflictingGroups(person: person, first: earlier, second: group, line: lineNumber)
            }
            groups[person] = group
        }
        guard !groups.isEmpty else { throw .noLabelledPeople(path: source) }
        groupOfPerson = groups
    }

    /// Reads and parses a groups file for `dataset`.
    /// - Throws: ``EvaluationError/groupsFileUnreadable(path:reason:)`` when the file cannot be
    ///   read as UTF-8, or any error of ``init(parsing:knownPeople:source:)``.
    public static func load(from file: URL, for dataset: LabelledDataset) throws(EvaluationError) -> GroupLabels {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw .groupsFileUnreadable(path: file.path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .groupsFileUnreadable(path: file.path, reason: "it is not UTF-8 text")
        }
        return try GroupLabels(parsing: text, knownPeople: Set(dataset.personNames), source: file.path)
    }

    /// The group names, in natural order.
    public var groups: [String] {
        Set(groupOfPerson.values).sorted(by: NaturalOrder.areInIncreasingOrder)
    }

    /// The people of `people` the file does not label, in the order given.
    public func unlabelled(among people: [String]) -> [String] {
        people.filter { groupOfPerson[$0] == nil }
    }

    private static let headerWords: Set<String> = ["person", "subject", "identity", "id", "name"]

    private static func unquoted(_ field: Substring) -> String {
        var value = field.trimmingCharacters(in: .whitespaces)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }
        return value
    }
}
