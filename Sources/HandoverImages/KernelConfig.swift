import Foundation

/// A kernel .config or a fragment: CONFIG_NAME=value lines and "# CONFIG_NAME is not set".
public struct KernelConfig: Sendable, Equatable {
    /// Option name (without CONFIG_) to value; "n" for "is not set".
    public private(set) var values: [String: String] = [:]
    public private(set) var order: [String] = []

    public init() {}

    public init(text: String) {
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") {
                let name = line.dropFirst("# CONFIG_".count).dropLast(" is not set".count)
                set(String(name), "n")
            } else if line.hasPrefix("CONFIG_"), let equals = line.firstIndex(of: "=") {
                let name = line[line.index(line.startIndex, offsetBy: 7)..<equals]
                set(String(name), String(line[line.index(after: equals)...]))
            }
        }
    }

    public subscript(name: String) -> String? { values[name] }

    public func isEnabled(_ name: String) -> Bool {
        values[name] == "y" || values[name] == "m"
    }

    public mutating func set(_ name: String, _ value: String) {
        if values[name] == nil { order.append(name) }
        values[name] = value
    }

    /// Applies a fragment on top of this config, as merge_config.sh does.
    public mutating func merge(_ fragment: KernelConfig) {
        for name in fragment.order { set(name, fragment.values[name]!) }
    }

    public var text: String {
        order.map { name in
            let value = values[name]!
            return value == "n" ? "# CONFIG_\(name) is not set" : "CONFIG_\(name)=\(value)"
        }.joined(separator: "\n") + "\n"
    }

    /// What a fragment asked for and the final config does not have.
    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        public var option: String
        public var wanted: String
        public var actual: String?
        public var fragment: String
        public var knownToKernel: Bool

        public var description: String {
            let got = actual.map { $0 == "n" ? " is not set" : "=\($0)" } ?? " is absent"
            if !knownToKernel {
                return "CONFIG_\(option)=\(wanted) (from \(fragment)) is not an option this kernel knows: no Kconfig file defines \(option)"
            }
            return "CONFIG_\(option)=\(wanted) (from \(fragment)) did not survive olddefconfig: the final .config says CONFIG_\(option)\(got) (a dependency is missing or the option has no prompt)"
        }
    }

    /// Every option a fragment set that the resolved config does not carry.
    public static func verify(
        fragments: [(name: String, config: KernelConfig)], resolved: KernelConfig, knownOptions: Set<String>?
    ) -> [Mismatch] {
        var mismatches: [Mismatch] = []
        // A later fragment overrides an earlier one: only the last setting of an option counts.
        let lastSetter = fragments.enumerated().reduce(into: [String: Int]()) { owners, entry in
            for option in entry.element.config.order { owners[option] = entry.offset }
        }
        for (index, (name, fragment)) in fragments.enumerated() {
            for option in fragment.order where lastSetter[option] == index {
                let wanted = fragment.values[option]!
                let actual = resolved[option]
                let satisfied = wanted == "n" ? (actual == nil || actual == "n") : actual == wanted
                if !satisfied {
                    mismatches.append(Mismatch(option: option, wanted: wanted, actual: actual, fragment: name,
                                               knownToKernel: knownOptions?.contains(option) ?? true))
                }
            }
        }
        return mismatches
    }

    /// Names of all options defined by Kconfig files below a kernel tree.
    public static func knownOptions(inTree tree: URL) -> Set<String> {
        var names = Set<String>()
        guard let walker = FileManager.default.enumerator(at: tree, includingPropertiesForKeys: nil) else { return names }
        for case let url as URL in walker {
            let file = url.lastPathComponent
            if file == ".git" || file == "Documentation" || file == "tools" { walker.skipDescendants(); continue }
            guard file.hasPrefix("Kconfig") else { continue }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count >= 2, words[0] == "config" || words[0] == "menuconfig" {
                    names.insert(String(words[1]))
                }
            }
        }
        return names
    }
}

/// What an image can do, read from its .config.
public struct Capabilities: Codable, Sendable, Equatable {
    public var kexecFile: Bool
    public var relocatable: Bool
    public var kexecHandover: Bool
    public var liveUpdate: Bool
    public var memfdPreservation: Bool
    public var khoEnabledByDefault: Bool
    /// The enabled options that build live update file handlers (LIVEUPDATE_*, *_LIVEUPDATE),
    /// sorted; nil for images recorded before it was.
    public var liveUpdateOptions: [String]?

    public init(config: KernelConfig) {
        kexecFile = config.isEnabled("KEXEC_FILE")
        relocatable = config.isEnabled("RELOCATABLE")
        kexecHandover = config.isEnabled("KEXEC_HANDOVER")
        liveUpdate = config.isEnabled("LIVEUPDATE")
        memfdPreservation = config.isEnabled("LIVEUPDATE_MEMFD")
        khoEnabledByDefault = config.isEnabled("KEXEC_HANDOVER_ENABLE_DEFAULT")
        liveUpdateOptions = config.values.keys.filter { name in
            (name.hasPrefix("LIVEUPDATE_") || name.hasSuffix("_LIVEUPDATE")) && config.isEnabled(name)
        }.sorted()
    }

    /// kexec_file_load refuses a bzImage without RELOCATABLE (no XLF_CAN_BE_LOADED_ABOVE_4G).
    public var canBeKexecTarget: Bool { relocatable }
    public var canKexec: Bool { kexecFile }
}
