import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages


/// A temporary folder holding exactly the files one test needs; removed by `remove()`.
private struct RecipeScratch {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("handover-recipe-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ relative: String, _ text: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @discardableResult
    func directory(_ relative: String) throws -> URL {
        let url = root.appendingPathComponent(relative, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A folder that passes Recipe's kernel tree check.
    @discardableResult
    func kernelTree(_ relative: String) throws -> URL {
        let tree = try directory(relative)
        try write("\(relative)/Makefile", "VERSION = 7\nPATCHLEVEL = 3\n")
        try write("\(relative)/Kconfig", "mainmenu \"Linux\"\n")
        try write("\(relative)/arch/x86/Kconfig", "config X86\n\tdef_bool y\n")
        try directory("\(relative)/scripts/kconfig")
        return tree
    }

    func path(_ relative: String) -> String { Self.normal(root.appendingPathComponent(relative)) }

    static func normal(_ url: URL) -> String {
        var path = url.standardizedFileURL.path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Loads a recipe that must fail and returns its InputError (recording an issue if it loaded).
private func loadFailure(_ url: URL, sourceLocation: SourceLocation = #_sourceLocation) -> InputError? {
    do {
        let recipe = try Recipe.load(from: url)
        Issue.record("expected an InputError, but the recipe loaded: \(recipe)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// The repository's own Images folder.
private let realImages = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Images")

@Suite("Recipe")
struct RecipeTests {
    // MARK: - The three source kinds

    @Test func debianSourceWithFragmentsAndCmdline() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("fragments/guest.config", "CONFIG_TTY=y\n")
        try scratch.write("fragments/extra.config", "CONFIG_LIVEUPDATE=y\n")
        let file = try scratch.write("linux-x.yaml", """
            description: A test image.
            source:
              debian:
                package: linux-source-7.3
                version: "7.3.*"
                suite: trixie-backports
            config:
              base: tinyconfig
              fragments: [guest, extra]
            cmdline: "kho=on  quiet"
            """)

        let recipe = try Recipe.load(from: file)
        #expect(recipe.name == "linux-x")
        #expect(recipe.description == "A test image.")
        #expect(recipe.source == .debian(package: "linux-source-7.3", version: "7.3.*", suite: "trixie-backports"))
        #expect(recipe.base == .tinyconfig)
        #expect(recipe.fragments.map(RecipeScratch.normal) == [scratch.path("fragments/guest.config"), scratch.path("fragments/extra.config")])
        #expect(recipe.cmdline == ["kho=on", "quiet"])
    }

    @Test func debianVersionDefaultsToAnyAndBaseCanBeDefconfig() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-6.12, suite: trixie}
            config:
              base: defconfig
            """)
        let recipe = try Recipe.load(from: file)
        #expect(recipe.source == .debian(package: "linux-source-6.12", version: "*", suite: "trixie"))
        #expect(recipe.base == .defconfig)
        #expect(recipe.fragments.isEmpty)
        #expect(recipe.cmdline.isEmpty)
        #expect(recipe.description == nil)
    }

    @Test func baseConfigFileAndFragmentPathsResolveAgainstTheRecipeFolder() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("configs/base.config", "CONFIG_64BIT=y\n")
        try scratch.write("more/other.config", "CONFIG_SMP=y\n")
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              base: configs/base.config
              fragments: [more/other.config]
            """)
        let recipe = try Recipe.load(from: file)
        guard case .file(let base) = recipe.base else {
            Issue.record("expected a base config file, found \(recipe.base)")
            return
        }
        #expect(RecipeScratch.normal(base) == scratch.path("configs/base.config"))
        #expect(recipe.fragments.map(RecipeScratch.normal) == [scratch.path("more/other.config")])
    }

    @Test func treeSourcePointsAtAKernelTree() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.kernelTree("src/linux")
        try scratch.write("images/fragments/luo.config", "CONFIG_LIVEUPDATE=y\n")
        let file = try scratch.write("images/mine.yaml", """
            source:
              tree: ../src/linux
            config:
              base: tinyconfig
              fragments: [luo]
            """)
        let recipe = try Recipe.load(from: file)
        guard case .tree(let path) = recipe.source else {
            Issue.record("expected a tree source, found \(recipe.source)")
            return
        }
        #expect(RecipeScratch.normal(path) == scratch.path("src/linux"))
        #expect(recipe.fragments.map(RecipeScratch.normal) == [scratch.path("images/fragments/luo.config")])
        #expect(recipe.name == "mine")
    }

    @Test func treeSourceAcceptsAnAbsolutePath() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let tree = try scratch.kernelTree("linux")
        let file = try scratch.write("r.yaml", """
            source:
              tree: \(tree.path)
            config:
              base: defconfig
            """)
        let recipe = try Recipe.load(from: file)
        guard case .tree(let path) = recipe.source else {
            Issue.record("expected a tree source, found \(recipe.source)")
            return
        }
        #expect(RecipeScratch.normal(path) == scratch.path("linux"))
    }

    @Test func prebuiltSourceNeedsNoConfigSection() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("out/bzImage", "not really a kernel")
        try scratch.write("out/config", "CONFIG_LIVEUPDATE=y\n")
        let file = try scratch.write("p.yaml", """
            source:
              prebuilt:
                bzImage: out/bzImage
                config: out/config
            cmdline: kho=on
            """)
        let recipe = try Recipe.load(from: file)
        guard case .prebuilt(let image, let config, let tree) = recipe.source else {
            Issue.record("expected a prebuilt source, found \(recipe.source)")
            return
        }
        #expect(RecipeScratch.normal(image) == scratch.path("out/bzImage"))
        #expect(RecipeScratch.normal(config) == scratch.path("out/config"))
        #expect(tree == nil)
        #expect(recipe.fragments.isEmpty)
        #expect(recipe.cmdline == ["kho=on"])
    }

    @Test func prebuiltSourceWithTree() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("bzImage", "x")
        try scratch.write("config", "CONFIG_X=y\n")
        try scratch.kernelTree("linux")
        let file = try scratch.write("p.yaml", """
            source:
              prebuilt: {bzImage: bzImage, config: config, tree: linux}
            """)
        let recipe = try Recipe.load(from: file)
        guard case .prebuilt(_, _, let tree) = recipe.source else {
            Issue.record("expected a prebuilt source, found \(recipe.source)")
            return
        }
        #expect(tree.map(RecipeScratch.normal) == scratch.path("linux"))
    }

    // MARK: - The real recipes

    struct RealRecipe: Sendable, CustomTestStringConvertible {
        var name: String
        var package: String
        var version: String
        var suite: String
        var fragments: [String]
        var testDescription: String { name }
    }

    @Test(arguments: [
        RealRecipe(name: "linux-6.12", package: "linux-source-6.12", version: "6.12.*", suite: "trixie", fragments: ["tiny-guest"]),
        RealRecipe(name: "linux-7.2", package: "linux-source-7.2", version: "7.2.*", suite: "sid", fragments: ["tiny-guest", "luo", "kvm"]),
        RealRecipe(name: "linux-7.3", package: "linux-source-7.3", version: "7.3.*", suite: "trixie-backports", fragments: ["tiny-guest", "luo", "iommu-kvm"]),
    ])
    func realRecipe(_ expected: RealRecipe) throws {
        let file = realImages.appendingPathComponent("\(expected.name).yaml")
        let recipe = try Recipe.load(from: file)
        #expect(recipe.name == expected.name)
        #expect(recipe.source == .debian(package: expected.package, version: expected.version, suite: expected.suite))
        #expect(recipe.base == .tinyconfig)
        #expect(recipe.fragments.map(RecipeScratch.normal)
            == expected.fragments.map { RecipeScratch.normal(realImages.appendingPathComponent("fragments/\($0).config")) })
        #expect(recipe.description?.isEmpty == false)
    }

    @Test func catalogFindsTheRealRecipesByName() throws {
        let catalog = RecipeCatalog(folder: realImages)
        #expect(Set(["linux-6.12", "linux-7.2", "linux-7.3"]).isSubset(of: Set(catalog.names())))
        let recipe = try catalog.load("linux-7.3")
        #expect(recipe.source == .debian(package: "linux-source-7.3", version: "7.3.*", suite: "trixie-backports"))
        #expect(throws: HarnessError.self) { try catalog.load("linux-0.01") }
    }

    // MARK: - Errors

    @Test func unknownTopLevelKey() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              base: tinyconfig
            flavour: spicy
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "flavour")
        #expect(error.line == 5)
        #expect(error.message.contains("unknown key 'flavour'"))
        #expect(error.message.contains("expected one of: description, source, config, cmdline"))
    }

    @Test func unknownKeyUnderDebian() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian:
                package: linux-source-7.3
                suite: sid
                mirror: http://example.org
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source.debian.mirror")
        #expect(error.message.contains("unknown key 'mirror'"))
        #expect(error.message.contains("expected one of: package, version, suite"))
    }

    @Test func twoSourceKindsAtOnce() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.kernelTree("linux")
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
              tree: linux
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source")
        #expect(error.message.contains("expected exactly one of debian, tree, prebuilt or package"))
        #expect(error.message.contains("debian and tree"))
    }

    @Test func emptySourceMapping() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source: {}
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "source")
        #expect(error.message.contains("expected exactly one of debian, tree, prebuilt or package, found none"))
    }

    @Test func missingSource() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            description: nothing to build
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source")
        #expect(error.message.contains("is missing"))
        #expect(error.message.contains("debian, tree or prebuilt"))
    }

    @Test func missingSuite() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian:
                package: linux-source-7.3
                version: "7.3.*"
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source.debian.suite")
        #expect(error.message.contains("is missing"))
        #expect(error.message.contains("suite"))
    }

    @Test func badPackageName() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: "Linux Source", suite: sid}
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "source.debian.package")
        #expect(error.message.contains("expected a Debian package name"))
    }

    @Test func missingConfigForADebianSource() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "config")
        #expect(error.message.contains("is missing"))
    }

    @Test func missingFragmentFile() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              base: tinyconfig
              fragments: [no-such-fragment]
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "config.fragments[0]")
        #expect(error.message.contains("fragment 'no-such-fragment' not found"))
        #expect(error.message.contains(scratch.path("fragments/no-such-fragment.config")))
    }

    @Test func missingSecondFragmentNamesItsIndex() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("fragments/here.config", "CONFIG_X=y\n")
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              fragments:
                - here
                - gone
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "config.fragments[1]")
        #expect(error.line == 6)
    }

    @Test func baseConfigFileThatDoesNotExist() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              base: my.config
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "config.base")
        #expect(error.message.contains("expected tinyconfig, defconfig or a config file"))
        #expect(error.message.contains("\(scratch.path("my.config")) does not exist"))
    }

    @Test func treePathThatIsNotADirectory() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("linux", "a file, not a folder")
        let file = try scratch.write("r.yaml", """
            source:
              tree: linux
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source.tree")
        #expect(error.message.contains("expected a kernel source tree"))
        #expect(error.message.contains("is not a directory"))
    }

    @Test func treePathThatDoesNotExist() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source:
              tree: nowhere
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "source.tree")
        #expect(error.message.contains("\(scratch.path("nowhere")) is not a directory"))
    }

    @Test func treePathThatIsADirectoryButNotAKernelTree() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("project/Makefile", "all:\n")
        try scratch.write("project/Kconfig", "")
        let file = try scratch.write("r.yaml", """
            source:
              tree: project
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "source.tree")
        #expect(error.message.contains("expected a kernel source tree"))
        #expect(error.message.contains("has no arch/x86/Kconfig"))
    }

    @Test func fragmentsGivenAsAStringInsteadOfAList() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("fragments/luo.config", "CONFIG_LIVEUPDATE=y\n")
        let file = try scratch.write("r.yaml", """
            source:
              debian: {package: linux-source-7.3, suite: sid}
            config:
              base: tinyconfig
              fragments: luo
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "config.fragments")
        #expect(error.message.contains("expected a list, found a string"))
    }

    @Test func sourceGivenAsAString() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            source: linux-source-7.3
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "source")
        #expect(error.message.contains("expected a mapping"))
        #expect(error.message.contains("found a string"))
    }

    @Test func invalidYAMLGivesALineNumber() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", """
            description: broken
            source:
              debian: package: linux-source-7.3
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.keyPath == "")
        #expect(error.message.hasPrefix("is not valid YAML"))
        #expect(error.line == 3)
        #expect(error.description.hasPrefix("\(file.path):3:"))
    }

    @Test func emptyFile() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        let file = try scratch.write("r.yaml", "")
        let error = try #require(loadFailure(file))
        #expect(error.file == file.path)
        #expect(error.message.contains("is empty"))
    }

    @Test func prebuiltWithAConfigSectionIsRejected() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("bzImage", "x")
        try scratch.write("config", "CONFIG_X=y\n")
        let file = try scratch.write("p.yaml", """
            source:
              prebuilt: {bzImage: bzImage, config: config}
            config:
              base: tinyconfig
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "config")
        #expect(error.message.contains("config does not apply"))
    }

    @Test func prebuiltWithMissingBzImage() throws {
        let scratch = try RecipeScratch()
        defer { scratch.remove() }
        try scratch.write("config", "CONFIG_X=y\n")
        let file = try scratch.write("p.yaml", """
            source:
              prebuilt: {bzImage: bzImage, config: config}
            """)
        let error = try #require(loadFailure(file))
        #expect(error.keyPath == "source.prebuilt.bzImage")
        #expect(error.message.contains("expected an existing bzImage"))
    }

    @Test func errorDescriptionNamesFileLineAndKeyPath() {
        let error = InputError(file: "Images/x.yaml", keyPath: "config.base", line: 4, message: "is wrong")
        #expect(error.description == "Images/x.yaml:4: config.base: is wrong")
        let noLine = InputError(file: "Images/x.yaml", keyPath: "", message: "is empty")
        #expect(noLine.description == "Images/x.yaml: is empty")
    }
}
