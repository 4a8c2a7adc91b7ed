import Foundation
import Testing
@testable import HandoverSupport

extension EndToEnd {
/// A kernel as it ships: KVM and VFIO built as modules (linux-7.3-modules), which the agent
/// loads from the initramfs before anything else.
@Suite("Kernels with modules")
struct ModuleTests {
    @Test("vm-basic passes from linux-7.2 to linux-7.3-modules: the new kernel's agent loads kvm_amd and vfio_pci with their dependencies first, and says so")
    func vmIntoModularKernel() throws {
        try E2E.requirePrerequisites(images: ["linux-7.2", "linux-7.3-modules"])
        let show = try E2E.run(["image", "show", "linux-7.3-modules"])
        #expect(show.stdout.contains("modules:") && show.stdout.contains("kvm_amd") && show.stdout.contains("vfio_pci"), "\(show.stdout)")
        let (output, result, out) = try E2E.runScenario(["Scenarios/vm-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3-modules"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        let hellos = try #require(result["hellos"] as? [[String: Any]])
        let first = try #require(hellos.first { $0["stage"] as? Int == 1 })
        #expect(first["modules"] == nil, "linux-7.2 has KVM built in: nothing to load")
        let second = try #require(hellos.first { $0["stage"] as? Int == 2 })
        let modules = try #require(second["modules"] as? [[String: Any]])
        let names = modules.compactMap { $0["name"] as? String }
        for name in ["kvm", "kvm_amd", "vfio", "vfio_pci"] { #expect(names.contains(name), "\(names)") }
        if let kvm = names.firstIndex(of: "kvm"), let amd = names.firstIndex(of: "kvm_amd") { #expect(kvm < amd, "\(names)") }
        #expect(modules.allSatisfy { $0["errno"] == nil }, "\(modules)")
    }
}
}

extension EndToEnd.ModuleTests {
    @Test("a package: recipe from a .deb made with make bindeb-pkg (linux-7.3-modules' tree and config) passes memfd-basic from linux-7.3, its modules loaded from the package")
    func packageRecipe() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3", "linux-7.3-modules"])
        let shown = try E2E.run(["image", "show", "linux-7.3-modules", "--json"])
        let image = try E2E.json(shown.stdout)
        let tree = try #require(image["sourceTree"] as? String)
        let paths = CachePaths.fromEnvironment()
        let folder = paths.images.appendingPathComponent(try #require(image["key"] as? String))
        let fixtures = paths.root.appendingPathComponent("fixtures/deb")
        // The script logs the build on stderr and prints the package's path as its last line.
        let made = try ToolingTests.run("/bin/bash", ["scripts/deb-fixture.sh", tree, folder.appendingPathComponent("config").path, fixtures.path])
        #expect(made.status == 0, "\(made.output.suffix(2000))")
        let deb = made.output.split(separator: "\n").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        try #require(deb.hasSuffix(".deb"), "\(made.output.suffix(2000))")

        let recipes = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: recipes) }
        let recipe = recipes.appendingPathComponent("linux-7.3-package.yaml")
        try """
            description: linux-7.3-modules as make bindeb-pkg packaged it.
            source: {package: \(deb)}
            modules: [kvm_amd]
            """.write(to: recipe, atomically: true, encoding: .utf8)
        let built = try E2E.run(["image", "build", recipe.path], timeout: 600)
        #expect(built.status == 0, "\(built.stderr)")
        let show = try E2E.run(["image", "show", recipe.path])
        #expect(show.stdout.contains("source:         package"), "\(show.stdout)")
        #expect(show.stdout.contains("kvm_amd"), "\(show.stdout)")

        let (output, result, out) = try E2E.runScenario(["Scenarios/memfd-basic.yaml", "--from", "linux-7.3", "--to", recipe.path])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        let hellos = try #require(result["hellos"] as? [[String: Any]])
        let second = try #require(hellos.first { $0["stage"] as? Int == 2 })
        let names = (second["modules"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names.contains("kvm_amd") && names.contains("kvm"), "\(names)")
    }
}
