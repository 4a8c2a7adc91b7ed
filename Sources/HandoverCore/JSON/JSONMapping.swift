/// Reading an object's members with errors that name the key.
public struct JSONObject {
    let members: [(String, JSON)]

    public init(_ json: JSON) throws(JSONError) {
        guard case .object(let members) = json else { throw JSONError("expected an object, found \(json.kind)") }
        self.members = members
    }

    public func value(_ key: String) -> JSON? {
        guard let found = members.first(where: { $0.0 == key })?.1 else { return nil }
        if case .null = found { return nil }
        return found
    }

    public func required<T: JSONConvertible>(_ key: String, as type: T.Type = T.self) throws(JSONError) -> T {
        guard let value = value(key) else { throw JSONError("missing key '\(key)'") }
        do { return try T(json: value) } catch { throw error.inside(key) }
    }

    public func optional<T: JSONConvertible>(_ key: String, as type: T.Type = T.self) throws(JSONError) -> T? {
        guard let value = value(key) else { return nil }
        do { return try T(json: value) } catch { throw error.inside(key) }
    }

    /// A key that older writers left out: the default when absent.
    public func optional<T: JSONConvertible>(_ key: String, default fallback: T) throws(JSONError) -> T {
        try optional(key) ?? fallback
    }
}

/// Building an object: nil optionals are left out, as Codable's encodeIfPresent does.
public struct JSONObjectBuilder {
    public private(set) var members: [(String, JSON)] = []

    public init() {}

    public mutating func add<T: JSONConvertible>(_ key: String, _ value: T) {
        members.append((key, value.json))
    }

    public mutating func add<T: JSONConvertible>(_ key: String, _ value: T?) {
        if let value { members.append((key, value.json)) }
    }

    public var json: JSON { .object(members) }
}

extension JSON {
    public static func build(_ build: (inout JSONObjectBuilder) -> Void) -> JSON {
        var builder = JSONObjectBuilder()
        build(&builder)
        return builder.json
    }
}

extension JSON: JSONConvertible {
    public var json: JSON { self }
    public init(json: JSON) throws(JSONError) { self = json }
}

extension String: JSONConvertible {
    public var json: JSON { .string(self) }
    public init(json: JSON) throws(JSONError) {
        guard case .string(let value) = json else { throw JSONError("expected a string, found \(json.kind)") }
        self = value
    }
}

extension Bool: JSONConvertible {
    public var json: JSON { .bool(self) }
    public init(json: JSON) throws(JSONError) {
        guard case .bool(let value) = json else { throw JSONError("expected a boolean, found \(json.kind)") }
        self = value
    }
}

extension Double: JSONConvertible {
    public var json: JSON { isFinite ? .number("\(self)") : .null }
    public init(json: JSON) throws(JSONError) {
        guard case .number(let text) = json, let value = Double(text) else { throw JSONError("expected a number, found \(json.kind)") }
        guard value.isFinite else { throw JSONError("expected a finite number, found \(text)") }
        self = value
    }
}

/// Integers are read from their text, so a fraction or an out-of-range value is refused.
public protocol JSONInteger: FixedWidthInteger, JSONConvertible {}

extension JSONInteger {
    public var json: JSON { .number("\(self)") }
    public init(json: JSON) throws(JSONError) {
        guard case .number(let text) = json else { throw JSONError("expected an integer, found \(json.kind)") }
        guard let value = Self(text, radix: 10) else { throw JSONError("expected an integer in \(Self.min)...\(Self.max), found \(text)") }
        self = value
    }
}

extension Int: JSONInteger {}
extension Int32: JSONInteger {}
extension Int64: JSONInteger {}
extension UInt8: JSONInteger {}
extension UInt16: JSONInteger {}
extension UInt32: JSONInteger {}
extension UInt64: JSONInteger {}

extension Array: JSONConvertible where Element: JSONConvertible {
    public var json: JSON { .array(map { $0.json }) }
    public init(json: JSON) throws(JSONError) {
        guard case .array(let items) = json else { throw JSONError("expected an array, found \(json.kind)") }
        var result: [Element] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do { result.append(try Element(json: item)) } catch { throw error.inside("[\(index)]") }
        }
        self = result
    }
}

extension Dictionary: JSONConvertible where Key == String, Value: JSONConvertible {
    /// Sorted by key, so the same dictionary is always written the same way.
    public var json: JSON { .object(keys.sorted().map { ($0, self[$0]!.json) }) }
    public init(json: JSON) throws(JSONError) {
        guard case .object(let members) = json else { throw JSONError("expected an object, found \(json.kind)") }
        var result: [String: Value] = [:]
        for (key, value) in members {
            do { result[key] = try Value(json: value) } catch { throw error.inside(key) }
        }
        self = result
    }
}

/// String-backed enums are written as their raw value.
public protocol JSONRawEnum: RawRepresentable, JSONConvertible where RawValue == String {}

extension JSONRawEnum {
    public var json: JSON { .string(rawValue) }
    public init(json: JSON) throws(JSONError) {
        let text = try String(json: json)
        guard let value = Self(rawValue: text) else { throw JSONError("unknown value '\(text)'") }
        self = value
    }
}
