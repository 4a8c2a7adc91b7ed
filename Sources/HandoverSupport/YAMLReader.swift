import Foundation
import Yams

/// A YAML node together with where it came from, so that every error can name the file,
/// the key path and the line. Mappings are read strictly: a key nobody asked for is an error.
public struct YAMLValue {
    public let node: Node
    public let file: String
    public let path: [String]

    public static func load(file: String, text: String) throws(InputError) -> YAMLValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InputError(file: file, keyPath: "", line: Self.line(of: error), message: "is not valid YAML: \(error)")
        } catch {
            throw InputError(file: file, keyPath: "", message: "is not valid YAML: \(error)")
        }
        guard let root else {
            throw InputError(file: file, keyPath: "", message: "is empty; expected a mapping")
        }
        return YAMLValue(node: root, file: file, path: [])
    }

    public static func load(contentsOf url: URL) throws(InputError) -> YAMLValue {
        try load(file: url.path, text: try readText(url))
    }

    /// A user's file as text, or an InputError naming it.
    public static func readText(_ url: URL) throws(InputError) -> String {
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw InputError(file: url.path, keyPath: "", message: "cannot be read: \(error.localizedDescription)")
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    public var keyPath: String {
        var text = ""
        for component in path {
            if component.hasPrefix("[") { text += component } else { text += text.isEmpty ? component : ".\(component)" }
        }
        return text
    }

    public func error(_ message: String) -> InputError {
        InputError(file: file, keyPath: keyPath, line: node.mark?.line, message: message)
    }

    /// `node.int`, except for YAML 1.1 base-60 forms such as 1:30: Yams computes those
    /// without overflow checks and traps on long ones (59:59:...:59), and no input of
    /// handover is written that way.
    private var integer: Int? {
        guard case .scalar(let scalar) = node, !scalar.string.contains(":") else { return nil }
        return node.int
    }

    private var kindName: String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if integer != nil { return "a number" }
                if node.bool != nil { return "a boolean" }
                if node.null != nil { return "null" }
            }
            return "a string"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public func mapping(allowedKeys: [String]) throws(InputError) -> YAMLMapping {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping with keys \(allowedKeys.joined(separator: ", ")), found \(kindName)")
        }
        var entries: [(String, YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            let child = YAMLValue(node: keyNode, file: file, path: path)
            guard case .scalar(let scalar) = keyNode else {
                throw child.error("keys must be strings, found \(child.kindName)")
            }
            let key = scalar.string
            let value = YAMLValue(node: valueNode, file: file, path: path + [key])
            guard allowedKeys.contains(key) else {
                throw value.error("unknown key '\(key)'; expected one of: \(allowedKeys.joined(separator: ", "))")
            }
            if entries.contains(where: { $0.0 == key }) {
                throw value.error("key '\(key)' appears twice")
            }
            entries.append((key, value))
        }
        return YAMLMapping(owner: self, entries: entries)
    }

    /// A mapping whose keys are names chosen by the user (for example object names).
    public func namedEntries() throws(InputError) -> [(name: String, value: YAMLValue)] {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping of names to entries, found \(kindName)")
        }
        var result: [(name: String, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            let key = keyNode.string ?? ""
            let value = YAMLValue(node: valueNode, file: file, path: path + [key])
            if result.contains(where: { $0.name == key }) { throw value.error("name '\(key)' appears twice") }
            result.append((key, value))
        }
        return result
    }

    public func string() throws(InputError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a string, found \(kindName)") }
        return scalar.string
    }

    public func nonEmptyString() throws(InputError) -> String {
        let text = try string()
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw error("expected a non-empty string") }
        return text
    }

    public func bool() throws(InputError) -> Bool {
        guard case .scalar = node, let value = node.bool else { throw error("expected true or false, found \(kindName)") }
        return value
    }

    public func int(in range: ClosedRange<Int>) throws(InputError) -> Int {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = integer else {
            throw error("expected a whole number, found \(kindName)")
        }
        guard range.contains(value) else { throw error("expected a number from \(range.lowerBound) to \(range.upperBound), found \(value)") }
        return value
    }

    public func list() throws(InputError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw error("expected a list, found \(kindName)") }
        return sequence.enumerated().map { YAMLValue(node: $1, file: file, path: path + ["[\($0)]"]) }
    }

    public func stringList() throws(InputError) -> [String] {
        var result: [String] = []
        for item in try list() { result.append(try item.nonEmptyString()) }
        return result
    }

    /// One of a fixed set of words.
    public func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws(InputError) -> T where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            throw error("expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'")
        }
        return value
    }
}

public struct YAMLMapping {
    public let owner: YAMLValue
    let entries: [(String, YAMLValue)]

    public subscript(key: String) -> YAMLValue? {
        entries.first { $0.0 == key }?.1
    }

    public func required(_ key: String, _ what: String) throws(InputError) -> YAMLValue {
        guard let value = self[key] else {
            throw InputError(file: owner.file, keyPath: (owner.path + [key]).isEmpty ? key : YAMLValue(node: owner.node, file: owner.file, path: owner.path + [key]).keyPath,
                             line: owner.node.mark?.line, message: "is missing; expected \(what)")
        }
        return value
    }

    public var keys: [String] { entries.map(\.0) }
}

extension Array where Element: Hashable {
    package var firstDuplicate: Element? {
        var seen = Set<Element>()
        return first { !seen.insert($0).inserted }
    }
}
