/// A JSON value. The protocol and the plan are mapped to it by hand (`JSONConvertible`) because
/// the guest agent is Embedded Swift, which has no Codable; the host's Codable conformances of
/// the same types go through this mapping too, so both sides write one shape.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as written: integers up to UInt64.max stay exact.
    case number(String)
    case string(String)
    case array([JSON])
    /// Keys in the order written.
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b || (Double(a) != nil && Double(a) == Double(b))
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && a.allSatisfy { pair in b.contains { $0.0 == pair.0 && $0.1 == pair.1 } }
        default: false
        }
    }

    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// What was wrong, and where: `path` is the keys and indexes from the top (`body.objects[2].size`).
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var path: [String]

    public init(_ reason: String, path: [String] = []) {
        self.reason = reason
        self.path = path
    }

    func inside(_ component: String) -> JSONError {
        JSONError(reason, path: [component] + path)
    }

    public var description: String {
        guard !path.isEmpty else { return reason }
        var shown = ""
        for component in path {
            if component.hasPrefix("[") { shown += component } else { shown += shown.isEmpty ? component : "." + component }
        }
        return "\(reason) at \(shown)"
    }
}

/// A type with one JSON shape, written and read without Codable.
public protocol JSONConvertible {
    var json: JSON { get }
    init(json: JSON) throws(JSONError)
}
