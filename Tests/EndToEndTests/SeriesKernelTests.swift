import Foundation
import Testing

extension EndToEnd {
/// vm-guest-memfd on linux-7.3-gmem, the kernel built from 7.3 and the posted guest_memfd
/// preservation series (read from HANDOVER_MAIL), against itself and against mainline 7.3.
@Suite("guest_memfd preservation on a kernel built from the posted series")
struct SeriesKernelTests {
    static let images = ["linux-7.3", "linux-7.3-gmem"]

    func run(_ arguments: [String]) throws -> (E2E.Output, [String: Any], URL) {
        try E2E.runScenario(arguments, images: Self.images)
    }

    @Test("the series kernel carries its handlers and every series patch with how it applied")
    func imageShowsTheSeries() throws {
        try E2E.requirePrerequisites(images: Self.images)
        let show = try E2E.run(["image", "show", "linux-7.3-gmem"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("guest_memfd_luo_v1") && show.stdout.contains("kvm_vm_luo_v1"), "\(show.stdout)")
        #expect(show.stdout.contains("series:         <cover.1780676742.git.tarunsahu@google.com> (10 patches)"), "\(show.stdout)")
        let image = try E2E.json(try E2E.run(["image", "show", "linux-7.3-gmem", "--json"]).stdout)
        let patches = try #require(image["patches"] as? [[String: Any]])
        let series = patches.filter { $0["messageID"] != nil }
        #expect(series.count == 10)
        #expect(series.compactMap { $0["applied"] as? String }.filter { $0 == "ported" }.count == 4)
        #expect(patches.count == 14, "ten series patches and four port fixups")
    }

    @Test("vm-guest-memfd passes across linux-7.3-gmem -> linux-7.3-gmem: the VM rebuilt from the retrieved VM file and guest_memfd")
    func passesOnTheSeriesKernel() throws {
        let (output, result, out) = try run(["Scenarios/vm-guest-memfd.yaml", "--from", "linux-7.3-gmem", "--to", "linux-7.3-gmem"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        try VMTests().expectContinued(result, hops: 1)
        let steps = E2E.steps(result)
        for name in ["create-guest-memfd", "fill-guest-memfd", "vm-memory-slot", "vm-run", "vm-pause", "preserve", "vm-verify-ram"] {
            #expect(steps[name]?["ok"] as? Bool == true, "step \(name): \(steps[name] ?? [:])")
        }
        // The second stage ran the guest from guest_memfd again: the agent takes the VM from the
        // retrieved VM file and the RAM from the retrieved guest_memfd (it has no other VM).
        let stages = try #require((result["vm"] as? [String: Any])?["stages"] as? [[String: Any]])
        #expect(stages.count == 2 && stages.allSatisfy { $0["backing"] as? String == "guest-memfd" })
        #expect(stages.last?["rebuildMicros"] is Int)
        #expect((result["checks"] as? [[String: Any]] ?? []).allSatisfy { $0["passed"] as? Bool == true })
        let diff = try E2E.run(["image", "diff", "linux-7.3-gmem", "linux-7.3-gmem", "--scenario", "vm-guest-memfd"])
        #expect(diff.status == 0 && diff.stdout.contains("handover possible"), "\(diff.stdout)")
    }

    @Test("the series' own guest_memfd_preservation_test passes across linux-7.3-gmem -> linux-7.3-gmem under the selftest kind")
    func seriesSelftestPasses() throws {
        let (output, result, out) = try run(["Scenarios/guest-memfd-selftest.yaml", "--from", "linux-7.3-gmem", "--to", "linux-7.3-gmem"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        let outcome = try #require((result["selftests"] as? [[String: Any]])?.first)
        #expect(outcome["test"] as? String == "kvm/guest_memfd_preservation_test")
        let stages = try #require(outcome["stages"] as? [[String: Any]])
        #expect(stages.map { $0["arguments"] as? [String] ?? ["?"] } == [[], ["--phase2"]])
        #expect(stages.allSatisfy { $0["exitCode"] as? Int == 0 })
        #expect((stages.last?["outputTail"] as? [String] ?? []).contains { $0.contains("All 5MB complex data verified intact") })
    }

    @Test("vm-guest-memfd from linux-7.3 to the series kernel is unsupported, as image diff predicts")
    func unsupportedFromMainline() throws {
        let diff = try E2E.run(["image", "diff", "linux-7.3", "linux-7.3-gmem", "--scenario", "vm-guest-memfd"])
        #expect(diff.status == 1 && diff.stdout.contains("unsupported"), "\(diff.stdout)")
        let (output, result, out) = try run(["Scenarios/vm-guest-memfd.yaml", "--from", "linux-7.3", "--to", "linux-7.3-gmem"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["errno"] as? Int == 2)
        #expect(E2E.steps(result)["preserve-fd"]?["errnoName"] as? String == "ENOENT")
        #expect((result["prediction"] as? [String: Any])?["outcome"] as? String == "unsupported")
    }

    @Test("vm-guest-memfd from the series kernel back to linux-7.3 fails abi-incompatible, as image diff predicts")
    func abiIncompatibleBackToMainline() throws {
        let diff = try E2E.run(["image", "diff", "linux-7.3-gmem", "linux-7.3", "--scenario", "vm-guest-memfd"])
        #expect(diff.status == 1 && diff.stdout.contains("handover impossible"), "\(diff.stdout)")
        #expect(diff.stdout.contains("no handler for guest_memfd_luo_v1"), "\(diff.stdout)")
        let (output, result, out) = try run(["Scenarios/vm-guest-memfd.yaml", "--from", "linux-7.3-gmem", "--to", "linux-7.3",
                                             "--kexec-timeout", "120"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "fail")
        #expect(result["failureClass"] as? String == "abi-incompatible", "\(result["reason"] ?? "")")
        #expect((result["prediction"] as? [String: Any])?["outcome"] as? String == "incompatible")
    }

    @Test("a one-line bug in the guest_memfd restore (linux-7.3-gmem-buggy loses the last folio) fails at the lost page's guest-physical address")
    func buggyRestoreFailsAtTheLostPage() throws {
        let (output, result, out) = try E2E.runScenario(["Scenarios/vm-guest-memfd.yaml", "--from", "linux-7.3-gmem-buggy",
                                                         "--to", "linux-7.3-gmem-buggy"], images: ["linux-7.3-gmem-buggy"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "fail")
        #expect(result["failureClass"] as? String == "state-mismatch")
        // 32 MiB of guest RAM at guest-physical 0: the last page starts at 0x1fff000.
        let reason = result["reason"] as? String ?? ""
        #expect(reason.contains("guest-physical 0x1fff"), "\(reason)")
    }

    @Test("iommufd-basic on linux-7.3-vfio: the PCI/VFIO series carries no iommufd handler, so unsupported at PRESERVE_FD, as predicted")
    func iommufdOnTheVFIOKernelIsUnsupported() throws {
        let diff = try E2E.run(["image", "diff", "linux-7.3-vfio", "linux-7.3-vfio", "--scenario", "iommufd-basic"])
        #expect(diff.status == 1 && diff.stdout.contains("no handler for iommufd"), "\(diff.stdout)")
        let show = try E2E.run(["image", "show", "linux-7.3-vfio"])
        #expect(show.stdout.contains("pci-v2") && show.stdout.contains("vfio-pci-v1"), "\(show.stdout)")
        let (output, result, out) = try E2E.runScenario(["Scenarios/iommufd-basic.yaml", "--from", "linux-7.3-vfio", "--to", "linux-7.3-vfio"],
                                                        images: ["linux-7.3-vfio"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["errno"] as? Int == 2)
        let steps = E2E.steps(result)
        #expect(steps["bind-vfio-pci"]?["ok"] as? Bool == true)
        #expect(steps["hwpt-set-preserve"]?["skipped"] as? Bool == true)
        #expect(steps["preserve-fd"]?["errnoName"] as? String == "ENOENT")
    }

    @Test("the VFIO series' own vfio_pci_liveupdate_kexec_test passes across linux-7.3-vfio with edu behind intel-iommu")
    func vfioSeriesSelftestPasses() throws {
        let (output, result, out) = try E2E.runScenario(["Scenarios/vfio-selftest.yaml", "--from", "linux-7.3-vfio", "--to", "linux-7.3-vfio"],
                                                        images: ["linux-7.3-vfio"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        #expect((result["machine"] as? String)?.contains("intel-iommu") == true, "\(result["machine"] ?? "")")
        let outcome = try #require((result["selftests"] as? [[String: Any]])?.first)
        let stages = try #require(outcome["stages"] as? [[String: Any]])
        #expect(stages.count == 2 && stages.allSatisfy { $0["exitCode"] as? Int == 0 })
        let second = stages.last?["outputTail"] as? [String] ?? []
        for line in ["Checking open(/dev/vfio/devices/vfio0) fails", "Finishing the session before retrieving the device (should fail)",
                     "Retrieving the device FD from LUO", "Binding the device to an iommufd and setting it up", "Finishing the session"] {
            #expect(second.contains(line), "\(line) not in \(second)")
        }
    }
}
}
