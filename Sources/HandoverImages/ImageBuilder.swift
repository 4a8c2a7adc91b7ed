import Foundation
import Synchronization
import HandoverSupport

/// Builds kernel images from recipes into the cache, or finds them there.
public struct ImageBuilder: Sendable {
    public let paths: CachePaths
    public let progress: ProgressReporter
    /// Where recipes' series are looked up (`HANDOVER_MAIL`).
    public var mail: MailFolders = .fromEnvironment()
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    public init(paths: CachePaths, progress: ProgressReporter) {
        self.paths = paths
        self.progress = progress
    }

    var archive: DebianArchive { DebianArchive(paths: paths, progress: progress) }

    /// The cache key of a recipe as it stands now, with the resolved source.
    func key(for recipe: Recipe, refresh: Bool) async throws -> (ImageKeyInputs, ResolvedSource) {
        let source = try await ResolvedSource.resolve(recipe, archive: archive, refresh: refresh)
        return (try await key(for: recipe, source: source), source)
    }

    /// The cache key of a recipe built from an already resolved source.
    package func key(for recipe: Recipe, source: ResolvedSource) async throws -> ImageKeyInputs {
        var base = recipe.base.label
        if case .file(let url) = recipe.base { base = "file:\(try Digest.sha256(file: url))" }
        if case .prebuilt = recipe.source { base = "prebuilt" }
        if case .package = recipe.source { base = "package" }
        let fragments = try recipe.fragments.map { "\($0.lastPathComponent):\(try Digest.sha256(file: $0))" }
        let compiler: String
        if recipe.source.isPrebuilt { compiler = "prebuilt" } else { compiler = try await Self.compilerVersion(recipe.arch) }
        let patches = try recipe.patches.map { "\($0.lastPathComponent):\(try Digest.sha256(file: $0))" }
        let series = try recipe.postedSeries(in: mail).flatMap(\.keyParts)
        return ImageKeyInputs(source: source.identity, baseConfig: base, fragments: fragments, compiler: compiler,
                              cmdline: recipe.cmdline, patches: patches.isEmpty ? nil : patches,
                              series: series.isEmpty ? nil : series, arch: recipe.arch, modules: recipe.modules?.keyText)
    }

    static func compilerVersion(_ arch: Architecture = .default) async throws -> String {
        guard let compiler = Lifeline.resolve(arch.compiler) else {
            throw HarnessError(.toolFailed, "\(arch.compiler) is not installed: building \(arch.rawValue) kernels needs it (scripts/setup.sh installs it)")
        }
        let output = try await Shell.check(compiler, ["--version"])
        return output.split(separator: "\n").first.map(String.init) ?? "unknown"
    }

    /// The cached image of the recipe as it stands now (same key as a build), or nil when the
    /// cache has none. Builds nothing.
    public func cachedImage(for recipe: Recipe) async throws -> KernelImage? {
        let (inputs, _) = try await key(for: recipe, refresh: false)
        let folder = paths.images.appendingPathComponent(inputs.key)
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("image.json").path) else { return nil }
        return try KernelImage.load(from: folder)
    }

    /// Returns the cached image for the recipe, building it first when the cache has none.
    public func build(_ recipe: Recipe, refresh: Bool = false, force: Bool = false) async throws -> KernelImage {
        try await buildReportingCache(recipe, refresh: refresh, force: force).image
    }

    /// The image and whether it came from the cache.
    public func buildReportingCache(_ recipe: Recipe, refresh: Bool = false, force: Bool = false) async throws -> (image: KernelImage, cached: Bool) {
        let (inputs, source) = try await key(for: recipe, refresh: refresh)
        let folder = paths.images.appendingPathComponent(inputs.key)
        if !force, let cached = try? KernelImage.load(from: folder) {
            try recordRecipe(recipe.name, key: inputs.key)
            return (cached, true)
        }
        // One build per cache entry on this machine: a second handover building the same image
        // waits for the first and then takes its result.
        let lock = try await CacheLock.acquire(
            paths.images.appendingPathComponent(".lock-\(inputs.key)"),
            waiting: "\(recipe.name): another handover is building this image (key \(inputs.key)); waiting for it", progress: progress)
        defer { lock.release() }
        if !force {
            do {
                let cached = try KernelImage.load(from: folder)
                try recordRecipe(recipe.name, key: inputs.key)
                return (cached, true)
            } catch let damage as CacheDamage {
                progress.step("\(recipe.name): \(damage.description); rebuilding it")
            } catch {
                if FileManager.default.fileExists(atPath: folder.path) {
                    progress.step("\(recipe.name): the cached image in \(folder.path) is unreadable (\(error)); rebuilding it")
                }
            }
        }
        let started = Date()
        let fm = FileManager.default
        // Staging folders of this key left by a build that was killed (the lock says none runs).
        Self.removeLeftovers(in: paths.images, prefix: ".staging-\(inputs.key)-")
        let staging = paths.images.appendingPathComponent(".staging-\(inputs.key)-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }

        var image: KernelImage
        switch recipe.source {
        case .prebuilt(let bzImage, let config, let tree):
            progress.step("\(recipe.name): importing prebuilt \(bzImage.path)")
            try fm.copyItem(at: bzImage, to: staging.appendingPathComponent(recipe.arch.kernelFileName))
            try fm.copyItem(at: config, to: staging.appendingPathComponent("config"))
            let (release, loadable) = try Self.kernelHeader(bzImage, arch: recipe.arch)
            let resolved = KernelConfig(text: try String(contentsOf: config, encoding: .utf8))
            image = KernelImage(
                recipe: recipe.name, recipeFile: recipe.file.path, key: inputs.key,
                kernelRelease: release ?? "unknown", source: source.info, baseConfig: "prebuilt", fragments: [],
                compiler: "prebuilt", capabilities: Capabilities(config: resolved),
                abi: try tree.map { try ABIStrings.extract(fromTree: $0) }, kexecLoadable: loadable,
                cmdline: recipe.cmdline, builtAt: Date(), sourceTree: tree?.path)
        case .package(let deb):
            image = try await importPackage(recipe, deb: deb, inputs: inputs, source: source, staging: staging)
        case .debian, .tree:
            var tree: URL
            if let debian = source.debian {
                tree = try await unpackedTree(package: debian.package, version: debian.version, suite: debian.suite)
            } else if case .tree(let path) = recipe.source {
                tree = path
            } else { fatalError("unreachable") }
            var records: [KernelImage.PatchRecord] = []
            if !recipe.patches.isEmpty || !recipe.series.isEmpty {
                (tree, records) = try await patchedTree(recipe, base: tree, key: inputs.key)
            }
            image = try await compile(recipe, tree: tree, inputs: inputs, source: source, staging: staging)
            image.architecture = recipe.arch.rawValue
            if !records.isEmpty { image.patches = records }
        }
        image.architecture = recipe.arch.rawValue
        image.buildSeconds = Date().timeIntervalSince(started)
        let installed = try install(image, from: staging, into: folder)
        try recordRecipe(recipe.name, key: inputs.key)
        return (installed, false)
    }

    /// Records the image's digests and moves its staging folder into its cache folder.
    package func install(_ built: KernelImage, from staging: URL, into folder: URL) throws -> KernelImage {
        var image = built
        // The recipe's architecture (set by the caller); nil only from callers that predate it.
        if image.architecture == nil { image.architecture = Architecture.default.rawValue }
        image.configSHA256 = try Digest.sha256(file: staging.appendingPathComponent("config"))
        image.digests = try KernelImage.digests(in: staging, arch: image.arch)
        try AtomicFile.writeJSON(image, to: staging.appendingPathComponent("image.json"))
        try? FileManager.default.removeItem(at: folder)
        guard rename(staging.path, folder.path) == 0 else {
            throw HarnessError(.io, "cannot move the built image into \(folder.path): \(String(cString: strerror(errno)))")
        }
        return try KernelImage.load(from: folder)
    }

    /// Remembers which key a recipe name last built, for `image list` and `image show`.
    func recordRecipe(_ name: String, key: String) throws {
        try AtomicFile.write(key + "\n", to: paths.recipeIndex.appendingPathComponent(name))
    }

    /// The Debian source tree, unpacked once per package version.
    func unpackedTree(package: String, version: String, suite: String) async throws -> URL {
        let fm = FileManager.default
        let escaped = version.replacingOccurrences(of: ":", with: "%3a")
        let destination = paths.sources.appendingPathComponent("\(package)_\(escaped)")
        if let tree = Self.singleSubfolder(destination) { return tree }
        try FileManager.default.createDirectory(at: paths.sources, withIntermediateDirectories: true)
        let lock = try await CacheLock.acquire(
            paths.sources.appendingPathComponent(".lock-\(package)_\(escaped)"),
            waiting: "another handover is unpacking \(package) \(version); waiting for it", progress: progress)
        defer { lock.release() }
        if let tree = Self.singleSubfolder(destination) { return tree }
        Self.removeLeftovers(in: paths.sources, prefix: ".unpack-\(package)_\(escaped)-")
        let deb = try await archive.download(package: package, version: version, suite: suite)
        progress.step("unpacking \(deb.lastPathComponent)")
        let staging = paths.sources.appendingPathComponent(".unpack-\(package)_\(escaped)-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        let script = #"dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards './usr/src/linux-source-*.tar.*' | tar -xJ -C "$2""#
        try await Shell.check("bash", ["-o", "pipefail", "-c", script, "unpack", deb.path, staging.path])
        try? fm.removeItem(at: destination)
        guard rename(staging.path, destination.path) == 0, let tree = Self.singleSubfolder(destination) else {
            throw HarnessError(.io, "unpacking \(deb.lastPathComponent) did not give one source tree in \(destination.path)")
        }
        return tree
    }

    /// A copy of the tree with the recipe's patches applied in order, kept beside the sources.
    /// The original tree (shared with other recipes, or the user's checkout) is never touched.
    func patchedTree(_ recipe: Recipe, base: URL, key: String) async throws -> (URL, [KernelImage.PatchRecord]) {
        let fm = FileManager.default
        let destination = paths.sources.appendingPathComponent("patched-\(key)")
        let done = destination.appendingPathComponent(".handover-patches.json")
        if let records = try? JSONDecoder().decode([KernelImage.PatchRecord].self, from: Data(contentsOf: done)) {
            return (destination, records)
        }
        try? fm.removeItem(at: destination)
        try fm.createDirectory(at: destination, withIntermediateDirectories: true)
        progress.step("\(recipe.name): copying \(base.path) to apply \(recipe.series.count) series and \(recipe.patches.count) patch(es)")
        // Not the other images' object folders (.handover-build-KEY) built inside the shared tree.
        try await Shell.check("rsync", ["-a", "--exclude=.git", "--exclude=/.handover-build-*", base.path + "/", destination.path + "/"])
        var records: [KernelImage.PatchRecord] = []
        if !recipe.series.isEmpty {
            do {
                records = try await applySeries(recipe, series: try recipe.postedSeries(in: mail), to: destination, base: base)
            } catch {
                try? fm.removeItem(at: destination)
                throw error
            }
            try AtomicFile.write(try JSONEncoder().encode(records), to: done)
            return (destination, records)
        }
        for (index, patch) in recipe.patches.enumerated() {
            let output = try await Shell.capture("patch", ["-p1", "--forward", "--batch", "-d", destination.path, "-i", patch.path])
            let text = (output.stdout + output.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            guard output.succeeded else {
                try? fm.removeItem(at: destination)
                throw InputError(file: recipe.file.path, keyPath: "patches[\(index)]",
                                 message: "\(patch.lastPathComponent) does not apply to \(base.lastPathComponent): \(text)")
            }
            records.append(KernelImage.PatchRecord(file: patch.path, sha256: try Digest.sha256(file: patch), output: text))
        }
        try AtomicFile.write(try JSONEncoder().encode(records), to: done)
        return (destination, records)
    }

    /// Removes the entries of `folder` named with `prefix` (work folders of killed builds).
    package static func removeLeftovers(in folder: URL, prefix: String) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for entry in entries where entry.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(entry))
        }
    }

    static func singleSubfolder(_ folder: URL) -> URL? {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }
        guard entries.count == 1 else { return nil }
        let url = folder.appendingPathComponent(entries[0])
        return FileManager.default.isDirectory(url) ? url : nil
    }
}
