import Foundation
import HandoverCore
import HandoverImages
import HandoverResults

/// `handover bisect`'s options as given, checked before anything builds or boots. Each
/// problem names the option and what was expected.
public struct BisectOptions: Sendable, Equatable {
    public var tree: String?
    public var good: String?
    public var bad: String?
    /// Recipe-list mode: recipe names in order, the first good, the last bad.
    public var recipes: [String] = []
    public var from: String?
    public var to: String?
    /// Take the tree's configuration (base, fragments, patches, cmdline) from this recipe.
    public var recipe: String?
    public var config: String?
    public var fragments: [String] = []
    public var patches: [String] = []
    public var cmdline: String?
    public var failureClass: String?
    public var blackout = false
    /// Percent, as given (20 is 20%).
    public var threshold: Double?
    public var repeats = 1

    public init() {}

    public enum Mode: Sendable, Equatable { case tree, recipes }

    /// The fragments a tree is built with when no recipe or fragment is given.
    public static let defaultFragments = ["tiny-guest", "luo"]
    public static let defaultThreshold = 20.0

    /// The checks that need neither git nor the cache; returns the mode and the criterion.
    public func check() throws(BisectInputError) -> (Mode, BisectCriterion) {
        let mode: Mode
        switch (tree, recipes.isEmpty) {
        case (.some, false): throw BisectInputError(option: "--tree", "expected either --tree (bisect commits) or --recipes (bisect recipes), not both")
        case (nil, true): throw BisectInputError(option: "--tree", "expected --tree PATH with --good and --bad, or --recipes A,B,...")
        case (.some, true): mode = .tree
        case (nil, false): mode = .recipes
        }
        if mode == .tree {
            if good == nil { throw BisectInputError(option: "--good", "expected the revision known to hand over well (a commit, tag or branch of --tree)") }
            if bad == nil { throw BisectInputError(option: "--bad", "expected the revision known to fail (a commit, tag or branch of --tree)") }
            if recipe != nil && (config != nil || !fragments.isEmpty || !patches.isEmpty || cmdline != nil) {
                throw BisectInputError(option: "--recipe", "takes the configuration from the recipe; --config, --fragment, --patch and --cmdline cannot be added to it")
            }
        } else {
            for (option, value) in [("--good", good), ("--bad", bad), ("--recipe", recipe), ("--config", config), ("--cmdline", cmdline)] where value != nil {
                throw BisectInputError(option: option, "goes with --tree; with --recipes the first recipe is the good end, the last the bad end, each built as its recipe says")
            }
            if !fragments.isEmpty || !patches.isEmpty {
                throw BisectInputError(option: fragments.isEmpty ? "--patch" : "--fragment", "goes with --tree; each recipe of --recipes brings its own")
            }
            if recipes.count < 2 { throw BisectInputError(option: "--recipes", "expected at least two recipes, in order: the first good, the last bad; got \(recipes.count)") }
            if Set(recipes).count != recipes.count { throw BisectInputError(option: "--recipes", "names a recipe twice: \(recipes.joined(separator: ","))") }
        }
        if from != nil && to != nil {
            throw BisectInputError(option: "--to", "expected --from IMAGE (the bisected kernels are the new ones) or --to IMAGE (they are the old ones), not both; give neither to hand each over to itself")
        }
        if repeats < 1 { throw BisectInputError(option: "--repeat", "expected 1 or more runs per step, got \(repeats)") }
        if blackout {
            if failureClass != nil { throw BisectInputError(option: "--class", "goes with a verdict bisection; --blackout judges the blackout of passing runs") }
            if repeats < BlackoutChange.minimumRepeats {
                throw BisectInputError(option: "--repeat", "expected \(BlackoutChange.minimumRepeats) or more with --blackout (the statistics compare repeats), got \(repeats)")
            }
            let percent = threshold ?? Self.defaultThreshold
            guard percent > 0, percent <= 1000 else { throw BisectInputError(option: "--threshold", "expected a growth in percent above 0 and at most 1000, got \(percent)") }
            return (mode, .blackout(threshold: percent / 100))
        }
        if threshold != nil { throw BisectInputError(option: "--threshold", "goes with --blackout") }
        if let failureClass {
            guard let parsed = FailureClass(rawValue: failureClass), parsed != .infrastructure else {
                let known = FailureClass.allCases.filter { $0 != .infrastructure }.map(\.rawValue).joined(separator: ", ")
                throw BisectInputError(option: "--class", "expected a failure class (\(known)), got '\(failureClass)'")
            }
            return (mode, .verdict(failureClass: parsed))
        }
        return (mode, .verdict(failureClass: nil))
    }

    /// The recipe the tree is built with: --recipe's configuration, or --config and --fragment
    /// (default tinyconfig with tiny-guest and luo), with the tree as its source.
    public func treeRecipe(tree: URL, name: String, catalog: RecipeCatalog) throws -> Recipe {
        if let recipe {
            var loaded: Recipe
            do { loaded = try catalog.load(recipe) } catch { throw BisectInputError(option: "--recipe", "expected a recipe name or file: \(error)") }
            if loaded.source.isPrebuilt { throw BisectInputError(option: "--recipe", "\(recipe) is a prebuilt image or package; expected a recipe with a configuration to build the tree with") }
            loaded.source = .tree(path: tree)
            loaded.name = name
            return loaded
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let base: Recipe.BaseConfig
        switch config ?? "tinyconfig" {
        case "tinyconfig": base = .tinyconfig
        case "defconfig": base = .defconfig
        case let path:
            let url = Recipe.resolve(path, against: cwd)
            guard FileManager.default.fileExists(atPath: url.path) else { throw BisectInputError(option: "--config", "expected tinyconfig, defconfig or a config file; \(url.path) does not exist") }
            base = .file(url)
        }
        let fragments = try (self.fragments.isEmpty ? Self.defaultFragments : self.fragments).map { text throws(BisectInputError) -> URL in
            let url = text.contains("/") || text.hasSuffix(".config")
                ? Recipe.resolve(text, against: cwd) : catalog.folder.appendingPathComponent("fragments/\(text).config")
            guard FileManager.default.fileExists(atPath: url.path) else { throw BisectInputError(option: "--fragment", "expected a fragment name or file; '\(text)' not found at \(url.path)") }
            return url
        }
        let patches = try self.patches.map { text throws(BisectInputError) -> URL in
            let url = Recipe.resolve(text, against: cwd)
            guard FileManager.default.fileExists(atPath: url.path) else { throw BisectInputError(option: "--patch", "expected a patch file; \(url.path) does not exist") }
            return url
        }
        return Recipe(name: name, file: tree, description: nil, source: .tree(path: tree), base: base, fragments: fragments,
                      cmdline: cmdline.map { $0.split(separator: " ").map(String.init) } ?? [], patches: patches)
    }
}
