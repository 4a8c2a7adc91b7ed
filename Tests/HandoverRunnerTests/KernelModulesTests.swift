import Foundation
import Testing
@testable import HandoverImages
@testable import HandoverSupport

@Suite("Kernel modules in images")
struct KernelModulesTests {
    let dep = """
        kernel/arch/x86/kvm/kvm-amd.ko: kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko
        kernel/arch/x86/kvm/kvm-intel.ko: kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko
        kernel/arch/x86/kvm/kvm.ko: kernel/virt/lib/irqbypass.ko
        kernel/virt/lib/irqbypass.ko:
        kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/pci/vfio-pci-core.ko kernel/drivers/vfio/vfio.ko
        kernel/drivers/vfio/pci/vfio-pci-core.ko: kernel/drivers/vfio/vfio.ko kernel/virt/lib/irqbypass.ko
        kernel/drivers/vfio/vfio.ko:
        """

    @Test("named modules load after everything they depend on, each once, dashes or underscores alike")
    func namedOrder() throws {
        let order = try KernelModules.loadOrder(.named(["kvm_amd", "vfio_pci"]), modulesDep: dep)
        #expect(order == ["kernel/virt/lib/irqbypass.ko", "kernel/arch/x86/kvm/kvm.ko", "kernel/arch/x86/kvm/kvm-amd.ko",
                          "kernel/drivers/vfio/vfio.ko", "kernel/drivers/vfio/pci/vfio-pci-core.ko", "kernel/drivers/vfio/pci/vfio-pci.ko"])
        for (index, path) in order.enumerated() {
            let line = dep.split(separator: "\n").first { $0.hasPrefix(path + ":") }
            let needs = line.map { $0.split(separator: ":")[1...].joined().split(separator: " ").map(String.init) } ?? []
            for dependency in needs { #expect((order.firstIndex(of: dependency) ?? Int.max) < index, "\(path) loads before \(dependency)") }
        }
    }

    @Test("all takes every module the configuration built")
    func all() throws {
        let order = try KernelModules.loadOrder(.all, modulesDep: dep)
        #expect(order.count == 7 && Set(order).count == 7)
        #expect((order.firstIndex(of: "kernel/virt/lib/irqbypass.ko") ?? Int.max) < (order.firstIndex(of: "kernel/arch/x86/kvm/kvm.ko") ?? -1))
    }

    @Test("a module the configuration does not build is named, with what it does build")
    func missing() {
        #expect(throws: KernelModules.MissingModules.self) { try KernelModules.loadOrder(.named(["kvm_amd", "vhost_net"]), modulesDep: dep) }
        do {
            _ = try KernelModules.loadOrder(.named(["vhost_net"]), modulesDep: dep)
        } catch {
            #expect(error.names == ["vhost_net"])
            #expect(error.available.contains("vfio_pci_core"))
        }
    }

    func recipe(_ modules: String) throws -> Recipe {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("fragments"), withIntermediateDirectories: true)
        try "CONFIG_MODULES=y\n".write(to: folder.appendingPathComponent("fragments/m.config"), atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("r.yaml")
        try """
            source: {debian: {package: linux-source-7.3, version: "7.3.*", suite: trixie}}
            config: {base: tinyconfig, fragments: [m]}
            modules: \(modules)
            """.write(to: file, atomically: true, encoding: .utf8)
        return try Recipe.load(from: file)
    }

    @Test("modules: takes all or a list of names, and refuses anything else naming the key")
    func recipeKey() throws {
        #expect(try recipe("all").modules == .all)
        #expect(try recipe("[kvm-amd, vfio_pci]").modules == .named(["kvm_amd", "vfio_pci"]))
        for bad in ["some", "[]", "[\"kvm amd\"]", "{a: b}"] {
            do {
                _ = try recipe(bad)
                Issue.record("modules: \(bad) was accepted")
            } catch let error as InputError {
                #expect(error.keyPath.hasPrefix("modules"), "\(bad): \(error)")
            }
        }
    }

    @Test("a recipe's module selection enters the cache key; without one the key is what it was")
    func cacheKey() {
        let plain = ImageKeyInputs(source: "s", baseConfig: "tinyconfig", fragments: [], compiler: "gcc", cmdline: [])
        let withModules = ImageKeyInputs(source: "s", baseConfig: "tinyconfig", fragments: [], compiler: "gcc", cmdline: [], modules: "kvm_amd")
        #expect(plain.key != withModules.key)
        #expect(!String(decoding: try! JSONEncoder().encode(plain), as: UTF8.self).contains("modules"))
    }

    @Test("source: package takes an existing .deb; config and patches are refused for it, modules are not")
    func packageSource() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("package-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("!<arch>\n".utf8).write(to: folder.appendingPathComponent("linux-image-7.3.4_1_amd64.deb"))
        func load(_ text: String) throws -> Recipe {
            let file = folder.appendingPathComponent("r.yaml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            return try Recipe.load(from: file)
        }
        let recipe = try load("source: {package: linux-image-7.3.4_1_amd64.deb}\nmodules: all\n")
        #expect(recipe.source == .package(deb: folder.appendingPathComponent("linux-image-7.3.4_1_amd64.deb")))
        #expect(recipe.modules == .all)
        for (text, key) in [("source: {package: missing.deb}\n", "source.package"),
                            ("source: {package: r.yaml}\n", "source.package"),
                            ("source: {package: linux-image-7.3.4_1_amd64.deb}\nconfig: {base: tinyconfig}\n", "config"),
                            ("source: {package: linux-image-7.3.4_1_amd64.deb}\npatches: [x.patch]\n", "patches")] {
            do {
                _ = try load(text)
                Issue.record("accepted: \(text)")
            } catch let error as InputError {
                #expect(error.keyPath.hasPrefix(key), "\(text): \(error)")
            }
        }
    }
}
