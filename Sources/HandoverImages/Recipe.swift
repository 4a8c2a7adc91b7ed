import Foundation
import HandoverSupport

/// A kernel image recipe from Images/NAME.yaml: where the source comes from, the base
/// configuration and the fragments merged on top.
public struct Recipe: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A Debian linux-source package; `version` is a glob over Debian versions ("7.3.*").
        case debian(package: String, version: String, suite: String)
        /// A local kernel tree, built out of tree so the user's checkout stays clean.
        case tree(path: URL)
        /// A bzImage somebody else built, with the .config it was built from.
        case prebuilt(bzImage: URL, config: URL, tree: URL?)
        /// A Debian binary kernel package (linux-image-*.deb, as `make bindeb-pkg` or a
        /// distribution makes it): kernel, config, System.map and modules from the package as is.
        case package(deb: URL)

        /// Built by somebody else: nothing to configure or patch.
        public var isPrebuilt: Bool {
            switch self {
            case .prebuilt, .package: true
            case .debian, .tree: false
            }
        }
    }

    public enum BaseConfig: Sendable, Equatable {
        case tinyconfig, defconfig
        case file(URL)

        package var label: String {
            switch self {
            case .tinyconfig: "tinyconfig"
            case .defconfig: "defconfig"
            case .file(let url): url.path
            }
        }
    }

    public var name: String
    public var file: URL
    public var description: String?
    public var source: Source
    public var base: BaseConfig
    public var fragments: [URL]
    /// Extra words for the kernel command line this image boots with.
    public var cmdline: [String]
    /// Posted series, by the Message-ID of their thread root (see `PostedSeries`), applied in
    /// order to a copy of the tree before `patches`.
    public var series: [String] = []
    /// Patches (unified diffs or mbox files) applied in order with `patch -p1` to a copy of the
    /// tree: the project's own port fixups. One whose preamble says `Ports: <Message-ID>` is
    /// applied right after that series patch, and stands in for the hunks of it that do not apply.
    public var patches: [URL] = []
    /// The architecture it is built for (`arch:`, x86_64 when absent).
    public var arch: Architecture = .default
    /// The configuration's modules the image keeps and the agent loads (`modules:`); nil: none
    /// are built.
    public var modules: ModuleSelection? = nil

    public static let keys = ["description", "source", "config", "cmdline", "series", "patches", "arch", "modules"]

    package init(
        name: String,
        file: URL,
        description: String? = nil,
        source: Source,
        base: BaseConfig,
        fragments: [URL],
        cmdline: [String],
        series: [String] = [],
        patches: [URL] = [],
        arch: Architecture = .default
    ) {
        self.series = series
        self.arch = arch
        self.name = name
        self.file = file
        self.description = description
        self.source = source
        self.base = base
        self.fragments = fragments
        self.cmdline = cmdline
        self.patches = patches
    }
}

extension Recipe {
    /// Reads and checks a recipe; files it names are resolved against the recipe's folder.
    public static func load(from file: URL) throws(InputError) -> Recipe {
        let name = file.deletingPathExtension().lastPathComponent
        let root = try YAMLValue.load(contentsOf: file)
        let top = try root.mapping(allowedKeys: keys)
        let folder = file.deletingLastPathComponent()

        let description = try top["description"]?.string()
        var arch = Architecture.default
        if let value = top["arch"] {
            let text = try value.nonEmptyString()
            guard let parsed = Architecture(name: text) else {
                throw value.error("expected \(Architecture.expectedNames), found '\(text)'")
            }
            arch = parsed
        }
        let source = try parseSource(try top.required("source", "one of debian, tree or prebuilt"), folder: folder)

        var base = BaseConfig.tinyconfig
        var fragments: [URL] = []
        if let config = top["config"] {
            let fields = try config.mapping(allowedKeys: ["base", "fragments"])
            if let baseValue = fields["base"] {
                let text = try baseValue.nonEmptyString()
                switch text {
                case "tinyconfig": base = .tinyconfig
                case "defconfig": base = .defconfig
                default:
                    let url = resolve(text, against: folder)
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw baseValue.error("expected tinyconfig, defconfig or a config file; \(url.path) does not exist")
                    }
                    base = .file(url)
                }
            }
            if let list = fields["fragments"] {
                for item in try list.list() {
                    let text = try item.nonEmptyString()
                    let url = text.contains("/") || text.hasSuffix(".config")
                        ? resolve(text, against: folder)
                        : folder.appendingPathComponent("fragments/\(text).config")
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw item.error("fragment '\(text)' not found: expected \(url.path)")
                    }
                    fragments.append(url)
                }
            }
        } else if !source.isPrebuilt {
            throw InputError(file: file.path, keyPath: "config", message: "is missing; expected base and fragments")
        }

        var cmdline: [String] = []
        if let words = top["cmdline"] {
            cmdline = try words.string().split(separator: " ").map(String.init)
        }
        var patches: [URL] = []
        if let list = top["patches"] {
            if source.isPrebuilt { throw list.error("a prebuilt image cannot be patched; patches apply to source trees") }
            for item in try list.list() {
                let url = resolve(try item.nonEmptyString(), against: folder)
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw item.error("expected a patch file; \(url.path) does not exist")
                }
                patches.append(url)
            }
        }
        var series: [String] = []
        if let list = top["series"] {
            if source.isPrebuilt { throw list.error("a prebuilt image cannot carry a series; series apply to source trees") }
            for item in try list.list() {
                let text = try item.nonEmptyString()
                guard PostedSeries.isMessageID(text) else {
                    throw item.error("expected the Message-ID of a series' cover letter, such as <20260101000000.1-1-someone@example.org>, found '\(text)'")
                }
                let id = PostedSeries.normalizedID(text)
                if series.contains(id) { throw item.error("the series \(id) is listed twice") }
                series.append(id)
            }
        }
        if source.isPrebuilt, let config = top["config"] {
            throw config.error("a prebuilt image has its own .config (source.prebuilt.config); config does not apply")
        }
        var recipe = Recipe(name: name, file: file, description: description, source: source, base: base,
                            fragments: fragments, cmdline: cmdline, series: series, patches: patches, arch: arch)
        if let value = top["modules"] {
            if case .prebuilt = source { throw value.error("a prebuilt image has no module tree to take modules from; build from a source or a package") }
            recipe.modules = try ModuleSelection.parse(value)
        }
        return recipe
    }

    private static func parseSource(_ value: YAMLValue, folder: URL) throws(InputError) -> Source {
        let kinds = try value.mapping(allowedKeys: ["debian", "tree", "prebuilt", "package"])
        guard kinds.keys.count == 1 else {
            throw value.error("expected exactly one of debian, tree, prebuilt or package, found \(kinds.keys.isEmpty ? "none" : kinds.keys.joined(separator: " and "))")
        }
        if let package = kinds["package"] {
            let url = resolve(try package.nonEmptyString(), against: folder)
            guard url.pathExtension == "deb", FileManager.default.fileExists(atPath: url.path) else {
                throw package.error("expected an existing Debian kernel package (linux-image-*.deb); \(url.path) \(url.pathExtension == "deb" ? "does not exist" : "is not a .deb")")
            }
            return .package(deb: url)
        }
        if let debian = kinds["debian"] {
            let fields = try debian.mapping(allowedKeys: ["package", "version", "suite"])
            let package = try fields.required("package", "a package name such as linux-source-7.3").nonEmptyString()
            let packageValue = fields["package"]!
            guard package.range(of: #"^[a-z0-9][a-z0-9.+-]+$"#, options: .regularExpression) != nil else {
                throw packageValue.error("expected a Debian package name, found '\(package)'")
            }
            let version = try fields["version"]?.nonEmptyString() ?? "*"
            let suite = try fields.required("suite", "the Debian suite that carries the package (sid, trixie-backports, ...)").nonEmptyString()
            guard suite.range(of: #"^[a-z0-9-]+$"#, options: .regularExpression) != nil else {
                throw fields["suite"]!.error("expected a suite name such as trixie-backports, found '\(suite)'")
            }
            return .debian(package: package, version: version, suite: suite)
        }
        if let tree = kinds["tree"] {
            let url = resolve(try tree.nonEmptyString(), against: folder)
            try checkKernelTree(url, value: tree)
            return .tree(path: url)
        }
        let prebuilt = try kinds["prebuilt"]!.mapping(allowedKeys: ["bzImage", "config", "tree"])
        let image = resolve(try prebuilt.required("bzImage", "the path of a bzImage").nonEmptyString(), against: folder)
        guard FileManager.default.fileExists(atPath: image.path) else {
            throw prebuilt["bzImage"]!.error("expected an existing bzImage; \(image.path) does not exist")
        }
        let config = resolve(try prebuilt.required("config", "the .config the bzImage was built from").nonEmptyString(), against: folder)
        guard FileManager.default.fileExists(atPath: config.path) else {
            throw prebuilt["config"]!.error("expected an existing kernel .config; \(config.path) does not exist")
        }
        var tree: URL?
        if let treeValue = prebuilt["tree"] {
            let url = resolve(try treeValue.nonEmptyString(), against: folder)
            try checkKernelTree(url, value: treeValue)
            tree = url
        }
        return .prebuilt(bzImage: image, config: config, tree: tree)
    }

    static func checkKernelTree(_ url: URL, value: YAMLValue) throws(InputError) {
        let fm = FileManager.default
        guard fm.isDirectory(url) else {
            throw value.error("expected a kernel source tree; \(url.path) is not a directory")
        }
        for marker in ["Makefile", "Kconfig", "arch/x86/Kconfig", "scripts/kconfig"] where !fm.fileExists(atPath: url.appendingPathComponent(marker).path) {
            throw value.error("expected a kernel source tree; \(url.path) has no \(marker)")
        }
    }

    package static func resolve(_ path: String, against folder: URL) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
        if path == "~" || path.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            return URL(fileURLWithPath: home + path.dropFirst()).standardizedFileURL
        }
        return folder.appendingPathComponent(path).standardizedFileURL
    }
}

/// Finds recipes: a name looks in the images folder, a path is taken as it is.
public struct RecipeCatalog: Sendable {
    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    /// $HANDOVER_IMAGES, else the nearest Images/ folder from the current directory upward.
    public static func locate(explicit: String? = nil) -> RecipeCatalog {
        if let explicit { return RecipeCatalog(folder: URL(fileURLWithPath: explicit)) }
        if let env = ProcessInfo.processInfo.environment["HANDOVER_IMAGES"], !env.isEmpty {
            return RecipeCatalog(folder: URL(fileURLWithPath: env))
        }
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("Images")
            if FileManager.default.isDirectory(candidate) { return RecipeCatalog(folder: candidate) }
            directory.deleteLastPathComponent()
        }
        return RecipeCatalog(folder: URL(fileURLWithPath: "Images"))
    }

    public func recipeFile(for nameOrPath: String) throws -> URL {
        if nameOrPath.hasSuffix(".yaml") || nameOrPath.contains("/") {
            let url = URL(fileURLWithPath: nameOrPath)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw HarnessError(.notFound, "no recipe file at \(url.path)")
            }
            return url
        }
        let url = folder.appendingPathComponent("\(nameOrPath).yaml")
        guard FileManager.default.fileExists(atPath: url.path) else {
            let known = names().joined(separator: ", ")
            throw HarnessError(.notFound, "no recipe named '\(nameOrPath)' in \(folder.path) (known: \(known.isEmpty ? "none" : known))")
        }
        return url
    }

    public func load(_ nameOrPath: String) throws -> Recipe {
        try Recipe.load(from: recipeFile(for: nameOrPath))
    }

    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }
}
