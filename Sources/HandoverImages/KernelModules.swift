import Foundation
import HandoverSupport

/// Which of the configuration's modules a recipe keeps (`modules:`): every module the
/// configuration builds, or the named ones; each with the modules it depends on.
public enum ModuleSelection: Sendable, Equatable {
    case all
    case named([String])

    /// For the cache key.
    var keyText: String {
        switch self {
        case .all: "all"
        case .named(let names): names.joined(separator: ",")
        }
    }

    static func parse(_ value: YAMLValue) throws(InputError) -> ModuleSelection {
        if case .scalar = value.node {
            let word = try value.nonEmptyString()
            guard word == "all" else { throw value.error("expected all or a list of module names such as [kvm_amd, vfio_pci], found '\(word)'") }
            return .all
        }
        var names: [String] = []
        for item in try value.list() {
            let name = try item.nonEmptyString()
            guard name.range(of: #"^[A-Za-z0-9_-]+$"#, options: .regularExpression) != nil else {
                throw item.error("expected a module name (letters, digits, '_' or '-'), found '\(name)'")
            }
            names.append(KernelModules.canonical(name))
        }
        guard !names.isEmpty else { throw value.error("expected all or at least one module name") }
        return .named(names)
    }
}

/// The modules an image carries: the tree `modules_install` wrote, and the load order of the
/// selected ones, dependencies first, read from its `modules.dep`.
public enum KernelModules {
    /// kbuild names a module file with dashes or underscores; the module itself always has underscores.
    public static func canonical(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    /// The module name of a `modules.dep` path ("kernel/arch/x86/kvm/kvm-amd.ko" -> "kvm_amd").
    public static func name(ofPath path: String) -> String {
        var file = String(path.split(separator: "/").last ?? Substring(path))
        if let range = file.range(of: ".ko") { file = String(file[..<range.lowerBound]) }
        return canonical(file)
    }

    /// `modules.dep`: "path: dependency dependency ...", one module a line.
    static func dependencies(_ text: String) -> [(path: String, dependencies: [String])] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let dependencies = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            return (String(line[..<colon]), dependencies)
        }
    }

    /// The paths to load, in order: every dependency before what needs it, each once.
    /// Throws the names of selected modules that `modules.dep` does not have.
    static func loadOrder(_ selection: ModuleSelection, modulesDep text: String) throws(MissingModules) -> [String] {
        let entries = dependencies(text)
        let byName = Dictionary(entries.map { (name(ofPath: $0.path), $0) }, uniquingKeysWith: { first, _ in first })
        let roots: [String]
        switch selection {
        case .all:
            roots = entries.map(\.path).sorted()
        case .named(let names):
            let missing = names.filter { byName[$0] == nil }
            if !missing.isEmpty { throw MissingModules(names: missing, available: byName.keys.sorted()) }
            roots = names.compactMap { byName[$0]?.path }
        }
        let dependenciesOf = Dictionary(entries.map { ($0.path, $0.dependencies) }, uniquingKeysWith: { first, _ in first })
        var order: [String] = []
        var placed = Set<String>()
        func place(_ path: String, depth: Int) {
            guard !placed.contains(path), depth < 64 else { return }
            for dependency in dependenciesOf[path] ?? [] { place(dependency, depth: depth + 1) }
            if placed.insert(path).inserted { order.append(path) }
        }
        for root in roots { place(root, depth: 0) }
        return order
    }

    /// The load order of a recipe's selection from an installed tree's `modules.dep`; a
    /// module the tree does not have is an error on the recipe's `modules` key, saying
    /// where the tree came from and what it has.
    static func loadOrder(_ recipe: Recipe, selection: ModuleSelection, tree: URL, from origin: String) throws(InputError) -> [String] {
        let dep = (try? String(contentsOf: tree.appendingPathComponent("modules.dep"), encoding: .utf8)) ?? ""
        do {
            return try loadOrder(selection, modulesDep: dep)
        } catch {
            throw InputError(file: recipe.file.path, keyPath: "modules",
                             message: "not among the modules of \(origin): \(error.names.joined(separator: ", ")) (it has \(error.available.isEmpty ? "none" : error.available.joined(separator: ", ")))")
        }
    }

    struct MissingModules: Error {
        var names: [String]
        var available: [String]
    }
}
