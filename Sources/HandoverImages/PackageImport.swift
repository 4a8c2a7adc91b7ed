import Foundation
import HandoverSupport

extension ImageBuilder {
    /// An image from a Debian binary kernel package, taken as it is: the package is unpacked
    /// and its kernel (`boot/vmlinuz-RELEASE`), config, System.map and module tree
    /// (`lib/modules/RELEASE`) go into the image; nothing is built. The package's own
    /// maintainer scripts would run depmod on install; handover runs it on the unpacked tree.
    func importPackage(_ recipe: Recipe, deb: URL, inputs: ImageKeyInputs, source: ResolvedSource, staging: URL) async throws -> KernelImage {
        let fm = FileManager.default
        progress.step("\(recipe.name): unpacking \(deb.lastPathComponent)")
        let unpacked = staging.appendingPathComponent("package")
        try fm.createDirectory(at: unpacked, withIntermediateDirectories: true)
        try await Shell.check("dpkg-deb", ["-x", deb.path, unpacked.path])
        defer { try? fm.removeItem(at: unpacked) }

        let boot = unpacked.appendingPathComponent("boot")
        let kernels = ((try? fm.contentsOfDirectory(atPath: boot.path)) ?? []).filter { $0.hasPrefix("vmlinuz-") || $0.hasPrefix("vmlinux-") }
        guard kernels.count == 1, let kernelName = kernels.first else {
            throw InputError(file: recipe.file.path, keyPath: "source.package",
                             message: "\(deb.lastPathComponent) holds \(kernels.isEmpty ? "no" : "\(kernels.count)") kernels in /boot (\(kernels.joined(separator: ", "))); expected one vmlinuz-RELEASE")
        }
        let release = String(kernelName.dropFirst("vmlinuz-".count))
        let config = boot.appendingPathComponent("config-\(release)")
        guard fm.fileExists(atPath: config.path) else {
            throw InputError(file: recipe.file.path, keyPath: "source.package",
                             message: "\(deb.lastPathComponent) has /boot/\(kernelName) but no /boot/config-\(release); its capabilities cannot be read")
        }
        let kernelFile = staging.appendingPathComponent(recipe.arch.kernelFileName)
        try fm.copyItem(at: boot.appendingPathComponent(kernelName), to: kernelFile)
        try fm.copyItem(at: config, to: staging.appendingPathComponent("config"))
        try? fm.copyItem(at: boot.appendingPathComponent("System.map-\(release)"), to: staging.appendingPathComponent("System.map"))

        var moduleLoadOrder: [String]? = nil
        // Debian's merged /usr puts them in usr/lib/modules; older packages in lib/modules.
        let moduleTrees = ["lib/modules/\(release)", "usr/lib/modules/\(release)"].map { unpacked.appendingPathComponent($0) }
        if let selection = recipe.modules {
            guard let tree = moduleTrees.first(where: { fm.fileExists(atPath: $0.path) }) else {
                throw InputError(file: recipe.file.path, keyPath: "modules", message: "\(deb.lastPathComponent) carries no modules for \(release)")
            }
            let installed = staging.appendingPathComponent("\(KernelImage.modulesFolderName)/lib/modules")
            try fm.createDirectory(at: installed, withIntermediateDirectories: true)
            try fm.moveItem(at: tree, to: installed.appendingPathComponent(release))
            try await Shell.check("depmod", ["-b", staging.appendingPathComponent(KernelImage.modulesFolderName).path, release])
            moduleLoadOrder = try KernelModules.loadOrder(recipe, selection: selection, tree: installed.appendingPathComponent(release),
                                                          from: deb.lastPathComponent)
        }
        let (_, loadable) = try Self.kernelHeader(kernelFile, arch: recipe.arch)
        let resolved = KernelConfig(text: try String(contentsOf: config, encoding: .utf8))
        return KernelImage(
            recipe: recipe.name, recipeFile: recipe.file.path, key: inputs.key, kernelRelease: release, source: source.info,
            baseConfig: "package", fragments: [], compiler: "package", capabilities: Capabilities(config: resolved),
            abi: nil, kexecLoadable: loadable, cmdline: recipe.cmdline, builtAt: Date(), moduleLoadOrder: moduleLoadOrder)
    }
}
