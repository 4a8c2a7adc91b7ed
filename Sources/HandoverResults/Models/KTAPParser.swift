import Foundation

/// Reads kselftest output: KTAP result lines ("ok 1 name", "not ok 2 name # SKIP why"),
/// the "# Totals:" line and "Bail out!".
public struct KTAPParser {
    public enum Status: String, Codable, Sendable { case pass, fail, skip }

    public struct Result: Codable, Sendable, Equatable {
        public var name: String
        public var status: Status
        public var message: String?
    }

    public struct Parsed: Sendable, Equatable {
        public var results: [Result] = []
        public var totals: [String: Int] = [:]
        public var bailOut: String?
        public var diagnostics: [String] = []
    }

    public static func parse(_ lines: [String]) -> Parsed {
        var parsed = Parsed()
        for raw in lines {
            // Only top-level results; nested subtests are indented.
            guard !raw.hasPrefix(" "), !raw.hasPrefix("\t") else { continue }
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Bail out!") {
                parsed.bailOut = String(line.dropFirst("Bail out!".count)).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("# Totals:") {
                for field in line.dropFirst("# Totals:".count).split(separator: " ") {
                    let parts = field.split(separator: ":")
                    if parts.count == 2, let value = Int(parts[1]) { parsed.totals[String(parts[0])] = value }
                }
            } else if line.hasPrefix("#") {
                parsed.diagnostics.append(String(line.dropFirst().trimmingCharacters(in: .whitespaces)))
            } else if let result = resultLine(line) {
                parsed.results.append(result)
            }
        }
        return parsed
    }

    static func resultLine(_ line: String) -> Result? {
        let failed = line.hasPrefix("not ok ")
        guard failed || line.hasPrefix("ok ") else { return nil }
        var rest = line.dropFirst(failed ? 7 : 3)
        // The test number.
        let number = rest.prefix { $0.isNumber }
        guard !number.isEmpty else { return nil }
        rest = rest.dropFirst(number.count)
        var name = rest.trimmingCharacters(in: .whitespaces)
        var directive: String?
        if let hash = name.range(of: " # ") ?? name.range(of: "# ", options: .anchored) {
            directive = String(name[hash.upperBound...]).trimmingCharacters(in: .whitespaces)
            name = String(name[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces)
        }
        if let directive, directive.uppercased().hasPrefix("SKIP") {
            let reason = directive.dropFirst(4).trimmingCharacters(in: .whitespaces)
            return Result(name: name, status: .skip, message: reason.isEmpty ? nil : reason)
        }
        return Result(name: name, status: failed ? .fail : .pass, message: directive)
    }
}
