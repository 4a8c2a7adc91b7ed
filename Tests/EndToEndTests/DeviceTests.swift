import Foundation
import Testing

extension EndToEnd {
@Suite("iommufd and guest_memfd scenarios on mainline kernels")
struct DeviceTests {
    func run(_ arguments: [String]) throws -> (E2E.Output, [String: Any], URL) { try E2E.runScenario(arguments) }

    @Test("iommufd-basic on linux-7.3: every setup step runs, then PRESERVE_FD refuses the iommufd with ENOENT")
    func iommufdUnsupportedAtPreserve() throws {
        let (output, result, out) = try run(["Scenarios/iommufd-basic.yaml", "--from", "linux-7.3", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["errno"] as? Int == 2)
        let reason = result["reason"] as? String ?? ""
        #expect(reason.contains("SESSION_PRESERVE_FD refused the iommufd with ENOENT") && reason.contains("7.3.4"), "\(reason)")
        #expect((result["machine"] as? String)?.contains("intel-iommu") == true)
        let steps = E2E.steps(result)
        for name in ["find-pci-device", "iommu-group", "bind-vfio-pci", "open-iommufd", "open-vfio-cdev", "vfio-bind-iommufd",
                     "ioas-alloc", "hwpt-alloc", "vfio-attach-hwpt", "ioas-map-file", "fingerprint"] {
            #expect(steps[name]?["ok"] as? Bool == true, "step \(name): \(steps[name] ?? [:])")
        }
        #expect(steps["hwpt-set-preserve"]?["skipped"] as? Bool == true)
        #expect(steps["preserve-fd"]?["ok"] as? Bool == false)
        #expect(steps["preserve-fd"]?["errnoName"] as? String == "ENOENT")
    }

    @Test("guest-memfd-basic on linux-7.3: unsupported with PRESERVE_FD's errno, or with the reason KVM cannot run in the VM")
    func guestMemfdUnsupported() throws {
        let (output, result, out) = try run(["Scenarios/guest-memfd-basic.yaml", "--from", "linux-7.3", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["nestedVirtualization"] is [String: Any])
        let steps = E2E.steps(result)
        let reason = result["reason"] as? String ?? ""
        if steps["kvm-create-vm"]?["ok"] as? Bool == true {
            for name in ["cpu-virtualization", "open-kvm", "guest-memfd-capability", "create-guest-memfd", "fill-guest-memfd", "fingerprint"] {
                #expect(steps[name]?["ok"] as? Bool == true, "step \(name): \(steps[name] ?? [:])")
            }
            #expect(result["errno"] as? Int == 2)
            #expect(reason.contains("SESSION_PRESERVE_FD refused the KVM VM with ENOENT"), "\(reason)")
        } else {
            let failed = steps.values.first { $0["ok"] as? Bool == false }
            #expect(failed != nil, "no step says why KVM is unusable: \(steps.keys.sorted())")
            #expect(reason.contains("KVM") || reason.contains("vmx"), "\(reason)")
        }
    }

    @Test("iommufd-basic from a kernel without an IOMMU driver ends unsupported at the IOMMU group step")
    func iommufdWithoutIOMMU() throws {
        let (output, result, out) = try run(["Scenarios/iommufd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect((result["reason"] as? String)?.contains("no IOMMU translates it") == true, "\(result["reason"] ?? "")")
        let steps = E2E.steps(result)
        #expect(steps["find-pci-device"]?["ok"] as? Bool == true)
        #expect(steps["iommu-group"]?["ok"] as? Bool == false)
        #expect(steps["preserve-fd"] == nil)
    }

    @Test("a recipe's local patches reach the kernel that boots: the patched printk is on the console")
    func recipePatchesShowOnTheConsole() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-7.3-luo-v6", "--to", "linux-7.3-luo-v6"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        let console = try String(contentsOf: out.appendingPathComponent("console.log"), encoding: .utf8)
        #expect(console.components(separatedBy: "handover recipe patch applied").count - 1 == 2, "one banner per kernel of the pair")
        let show = try E2E.run(["image", "show", "linux-7.3-luo-v6", "--json"])
        let image = try E2E.json(show.stdout)
        let patches = try #require(image["patches"] as? [[String: Any]])
        #expect(patches.compactMap { ($0["file"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } } == ["luo-abi-v6.patch", "boot-banner.patch"])
    }
}
}
