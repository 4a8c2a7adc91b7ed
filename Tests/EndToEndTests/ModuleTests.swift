import Foundation
import Testing

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
        #expect(names.firstIndex(of: "kvm")! < names.firstIndex(of: "kvm_amd")!)
        #expect(modules.allSatisfy { $0["errno"] == nil }, "\(modules)")
    }
}
}
