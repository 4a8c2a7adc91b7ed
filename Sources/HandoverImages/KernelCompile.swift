import Foundation
import Synchronization
import HandoverSupport

extension ImageBuilder {
    /// Configures, verifies and builds a tree out of tree into a build folder in the cache,
    /// then collects bzImage, .config, headers and ABI strings into `staging`.
    /// With `reuse`, the build folder is the one given and is kept: what an earlier build there
    /// compiled is reused when its sources did not change (see `IncrementalBuild`).
    package func compile(_ recipe: Recipe, tree: URL, inputs: ImageKeyInputs, source: ResolvedSource, staging: URL,
                 reuse: IncrementalBuild? = nil) async throws -> KernelImage {
        let fm = FileManager.default
        // A tree handover unpacked or patched gets its object folder inside (the compiler cache
        // then serves its twins); a user's tree is never written to.
        let owned = tree.standardizedFileURL.path.hasPrefix(paths.root.standardizedFileURL.path + "/")
        let build = reuse?.folder
            ?? (owned ? CompilerCache.objectFolder(in: tree, key: inputs.key) : paths.builds.appendingPathComponent(inputs.key))
        if reuse == nil { try? fm.removeItem(at: build) }
        try fm.createDirectory(at: build, withIntermediateDirectories: true)
        let logURL = staging.appendingPathComponent("build.log")
        fm.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let arch = recipe.arch
        var make = ["-C", tree.path, "O=\(build.path)", "ARCH=\(arch.makeArch)"]
        if let cross = arch.crossCompile { make.append("CROSS_COMPILE=\(cross)") }
        var environment = ["KBUILD_BUILD_USER": "handover", "KBUILD_BUILD_HOST": "handover"]
        let ccache = (reuse == nil ? CompilerCache.make(paths: paths) : reuse?.ccache)?
            .logging(to: staging.appendingPathComponent("ccache.log"))
        if let ccache {
            make += ccache.makeArguments(arch)
            environment.merge(ccache.environment) { $1 }
        }
        let previousConfig = reuse == nil ? nil : IncrementalBuild.ConfigSnapshot(build.appendingPathComponent(".config"))

        func run(_ what: String, _ arguments: [String]) async throws {
            progress.detail("make \(arguments.joined(separator: " "))")
            let (status, tail) = try await Shell.stream("make", make + arguments, environment: environment, log: log) { [progress] line in
                progress.detail(line)
            }
            guard status.isSuccess else {
                throw HarnessError(.buildFailed, "\(recipe.name): \(what) failed (\(status)); full log: \(logURL.path)", tail: tail)
            }
        }

        progress.step("\(recipe.name): configuring \(tree.path) (\(recipe.base.label) + \(recipe.fragments.map { $0.deletingPathExtension().lastPathComponent }.joined(separator: ", ")))")
        switch recipe.base {
        case .tinyconfig: try await run("make tinyconfig", ["tinyconfig"])
        case .defconfig: try await run("make defconfig", ["defconfig"])
        case .file(let url):
            try fm.copyItem(at: url, to: build.appendingPathComponent(".config"))
            try await run("make olddefconfig", ["olddefconfig"])
        }
        let configURL = build.appendingPathComponent(".config")
        var config = KernelConfig(text: try String(contentsOf: configURL, encoding: .utf8))
        var fragments: [(name: String, config: KernelConfig)] = []
        for url in recipe.fragments {
            let fragment = KernelConfig(text: try String(contentsOf: url, encoding: .utf8))
            fragments.append((url.path, fragment))
            config.merge(fragment)
        }
        try AtomicFile.write(config.text, to: configURL)
        try await run("make olddefconfig", ["olddefconfig"])
        // The same configuration as last time keeps its old timestamp, so make sees no change.
        previousConfig?.restoreIfUnchanged()
        let resolved = KernelConfig(text: try String(contentsOf: configURL, encoding: .utf8))
        var mismatches = KernelConfig.verify(fragments: fragments, resolved: resolved, knownOptions: nil)
        if !mismatches.isEmpty {
            let known = KernelConfig.knownOptions(inTree: tree)
            mismatches = KernelConfig.verify(fragments: fragments, resolved: resolved, knownOptions: known)
            throw InputError(file: recipe.file.path, keyPath: "config.fragments",
                             message: "options the fragments set are missing from the final .config:\n  "
                                + mismatches.map(\.description).joined(separator: "\n  "))
        }

        let previousUnits = reuse == nil ? previousCompiledUnits(recipe.name) : nil
        let units = Mutex(0)
        let makeStarted = Date()
        let name = recipe.name
        progress.step("\(recipe.name): building \(arch.kernelTarget)\(arch == .default ? "" : " for \(arch.rawValue)") with \(jobs) jobs (log: \(logURL.path))")
        let (status, tail) = try await Shell.stream("make", make + ["-j\(jobs)", arch.kernelTarget], environment: environment, log: log) { [progress] line in
            progress.detail(line)
            guard line.hasPrefix("  "), line.count > 10 else { return }
            let done = units.withLock { $0 += 1; return $0 }
            var elapsed = formatDuration(Date().timeIntervalSince(makeStarted))
            if done % 20 == 0, let hits = ccache?.counts().summary { elapsed += ", \(hits)" }
            if let previousUnits, previousUnits > 0 {
                progress.status("\(name): \(done)/~\(previousUnits) steps (\(min(99, done * 100 / previousUnits))%), \(elapsed)")
            } else {
                progress.status("\(name): \(done) steps, \(elapsed)")
            }
        }
        progress.clear()
        guard status.isSuccess else {
            throw HarnessError(.buildFailed, "\(recipe.name): make \(arch.kernelTarget) failed (\(status)); full log: \(logURL.path)", tail: tail)
        }
        let makeSeconds = Date().timeIntervalSince(makeStarted)
        let cacheCounts = ccache?.counts()
        if let summary = cacheCounts?.summary {
            progress.step("\(recipe.name): built in \(formatDuration(makeSeconds)), \(summary) compilations served from the cache")
        }
        try? fm.removeItem(at: staging.appendingPathComponent("ccache.log"))
        try await run("make headers_install", ["headers_install", "INSTALL_HDR_PATH=\(staging.appendingPathComponent("headers").path)"])
        let release = try await Shell.check("make", ["-s"] + make + ["kernelrelease"], environment: environment)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var moduleLoadOrder: [String]? = nil
        if let selection = recipe.modules {
            guard resolved.isEnabled("MODULES") else {
                throw InputError(file: recipe.file.path, keyPath: "modules",
                                 message: "the configuration builds no modules (CONFIG_MODULES is not set); set it, and the wanted drivers to =m, in a fragment")
            }
            progress.step("\(recipe.name): building and installing modules")
            try await run("make modules", ["-j\(jobs)", "modules"])
            let installRoot = staging.appendingPathComponent(KernelImage.modulesFolderName)
            try await run("make modules_install", ["modules_install", "INSTALL_MOD_PATH=\(installRoot.path)", "INSTALL_MOD_STRIP=1"])
            let tree = installRoot.appendingPathComponent("lib/modules/\(release)")
            // Links back into the build folder, which is removed below.
            for link in ["build", "source"] { try? fm.removeItem(at: tree.appendingPathComponent(link)) }
            moduleLoadOrder = try KernelModules.loadOrder(recipe, selection: selection, tree: tree,
                                                          from: "this configuration (set the wanted drivers to =m)")
        }

        let kernelFile = staging.appendingPathComponent(arch.kernelFileName)
        try fm.copyItem(at: build.appendingPathComponent(arch == .x86_64 ? "arch/x86/boot/bzImage" : arch.kernelBuildPath), to: kernelFile)
        try fm.copyItem(at: configURL, to: staging.appendingPathComponent("config"))
        // Names initcalls printed as addresses (see InitcallNames); not part of the key.
        try? fm.copyItem(at: build.appendingPathComponent("System.map"), to: staging.appendingPathComponent("System.map"))
        let (_, loadable) = try Self.kernelHeader(kernelFile, arch: arch)
        if reuse == nil { try? fm.removeItem(at: build) }
        return KernelImage(
            recipe: recipe.name, recipeFile: recipe.file.path, key: inputs.key, kernelRelease: release,
            source: source.info, baseConfig: recipe.base.label, fragments: recipe.fragments.map(\.lastPathComponent),
            compiler: inputs.compiler, capabilities: Capabilities(config: resolved),
            abi: try ABIStrings.extract(fromTree: tree), kexecLoadable: loadable,
            cmdline: recipe.cmdline, builtAt: Date(), makeSeconds: makeSeconds, compiledUnits: units.withLock { $0 },
            compilerCache: cacheCounts, sourceTree: tree.path, moduleLoadOrder: moduleLoadOrder)
    }

    /// The release the kernel file names (x86 bzImages carry it) and whether kexec_file_load
    /// takes it: a bzImage with XLF_CAN_BE_LOADED_ABOVE_4G, or an arm64 little-endian Image.
    static func kernelHeader(_ file: URL, arch: Architecture) throws -> (release: String?, kexecLoadable: Bool) {
        switch arch {
        case .x86_64:
            let header = try BzImageHeader(contentsOf: file)
            return (header.release, header.canBeLoadedAbove4G)
        case .arm64:
            let header = try Arm64ImageHeader(contentsOf: file)
            return (nil, header.littleEndian)
        }
    }

    func previousCompiledUnits(_ recipe: String) -> Int? {
        guard let key = try? String(contentsOf: paths.recipeIndex.appendingPathComponent(recipe), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        return (try? KernelImage.load(from: paths.images.appendingPathComponent(key)))?.compiledUnits
    }
}
