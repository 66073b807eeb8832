@testable import Server

/// A JSON Schema validator for the subset the OpenAPI document uses: `type` (a name or an array of
/// names, which is how 3.1 says nullable), `properties`, `required`, `additionalProperties`
/// (false or a schema), `items`, `enum`, `minimum`/`maximum` and `$ref` to
/// `#/components/schemas/...`. Other keywords (`format`, `description`, `contentEncoding`) are
/// annotations and ignored.
struct SchemaValidator {
    let document: JSON

    /// Every violation of `schema` by `value`, as "pointer: reason"; empty when valid.
    func violations(of value: JSON, against schema: JSON, at pointer: String = "") -> [String] {
        guard case .object(let keywords) = schema else { return ["\(pointer): schema is not an object"] }
        if let reference = keywords["$ref"]?.stringValue {
            guard let target = resolve(reference) else { return ["\(pointer): unresolvable $ref \(reference)"] }
            return violations(of: value, against: target, at: pointer)
        }
        var problems: [String] = []
        if let typeKeyword = keywords["type"] {
            let allowed = typeKeyword.arrayValue?.compactMap(\.stringValue) ?? typeKeyword.stringValue.map { [$0] } ?? []
            if !allowed.contains(where: { Self.matches(value, type: $0) }) {
                return ["\(pointer): expected \(allowed.joined(separator: " or ")), found \(Self.typeName(value))"]
            }
        }
        if let values = keywords["enum"]?.arrayValue, !values.contains(value) {
            problems.append("\(pointer): \(value) is not one of the enumerated values")
        }
        if case .number(let number) = value {
            if let minimum = keywords["minimum"]?.numberValue, number < minimum { problems.append("\(pointer): below \(minimum)") }
            if let maximum = keywords["maximum"]?.numberValue, number > maximum { problems.append("\(pointer): above \(maximum)") }
        }
        if case .object(let members) = value {
            let properties = keywords["properties"]?.objectValue ?? [:]
            for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                problems.append("\(pointer)/\(name): required but missing")
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    problems += violations(of: member, against: propertySchema, at: "\(pointer)/\(name)")
                } else if let additional = keywords["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append("\(pointer)/\(name): not allowed by the schema")
                    } else if case .object = additional {
                        problems += violations(of: member, against: additional, at: "\(pointer)/\(name)")
                    }
                }
            }
        }
        if case .array(let elements) = value, let items = keywords["items"] {
            for (index, element) in elements.enumerated() {
                problems += violations(of: element, against: items, at: "\(pointer)/\(index)")
            }
        }
        return problems
    }

    /// The schema a `#/...` reference points to.
    func resolve(_ reference: String) -> JSON? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: JSON? = document
        for component in reference.dropFirst(2).split(separator: "/") {
            node = node?[String(component)]
        }
        return node
    }

    static func matches(_ value: JSON, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
            ("object", .object):
            true
        case ("integer", .number(let number)): number.rounded() == number
        default: false
        }
    }

    static func typeName(_ value: JSON) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
