import Foundation

/// The "compatible" strings a kernel tree writes into its handover data (kho-v4, luo-v5, ...).
/// A new kernel refuses data whose string it does not know, so two images that differ in one
/// cannot hand that part over.
public struct ABIStrings: Codable, Sendable, Equatable {
    /// Macro name → string, for example LUO_ABI_COMPATIBLE → "luo-v5".
    public var byMacro: [String: String]

    public init(byMacro: [String: String]) { self.byMacro = byMacro }

    /// Family ("luo") → string ("luo-v5").
    public var byFamily: [String: String] {
        var result: [String: String] = [:]
        for value in byMacro.values { result[Self.family(of: value)] = value }
        return result
    }

    public var sortedValues: [String] { Array(Set(byMacro.values)).sorted() }

    /// "memfd-v2" → "memfd"; "reserve-mem-v1" → "reserve-mem"; "kvm_vm_luo_v1" → "kvm_vm_luo".
    public static func family(of value: String) -> String {
        if let range = value.range(of: #"[-_]v[0-9]+$"#, options: .regularExpression) {
            return String(value[..<range.lowerBound])
        }
        return value
    }

    /// The folder holding the ABI headers in a tree, as 7.x lays them out.
    public static let headerFolder = "include/linux/kho/abi"

    /// Reads every `#define NAME_COMPATIBLE "value"` from the ABI headers of a tree. Macros
    /// with parameters (test strings built at compile time) are not handover formats.
    public static func extract(fromTree tree: URL) throws -> ABIStrings {
        let folder = tree.appendingPathComponent(headerFolder)
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            return ABIStrings(byMacro: [:])
        }
        var result: [String: String] = [:]
        for file in files.sorted() where file.hasSuffix(".h") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            result.merge(extract(fromHeader: text), uniquingKeysWith: { first, _ in first })
        }
        return ABIStrings(byMacro: result)
    }

    public static func extract(fromHeader text: String) -> [String: String] {
        var result: [String: String] = [:]
        let pattern = #/^\s*#\s*define\s+([A-Z0-9_]*COMPATIBLE)\s+"([^"]+)"/#
        for line in text.split(separator: "\n") {
            if let match = try? pattern.firstMatch(in: line) {
                result[String(match.1)] = String(match.2)
            }
        }
        return result
    }
}
