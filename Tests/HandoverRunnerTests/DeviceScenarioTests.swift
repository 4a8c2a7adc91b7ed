import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverMachines
@testable import HandoverRuns


private let scenarios = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scenarios")

private let iommufdScenario = """
    kind: iommufd
    objects:
      dma:
        size: 64KiB
        fill: {random: 1}
    iommufd:
      mappings:
        - {object: dma, iova: 0x100000}
    sessions:
      - name: s
        members:
          - {handle: iommufd, token: 1}
          - {handle: vfio-device, token: 2}
          - {object: dma, token: 3}
    """

private let guestMemfdScenario = """
    kind: guest-memfd
    objects:
      mem:
        size: 1MiB
        backing: guest-memfd
        fill: {random: 3}
    sessions:
      - name: vm
        members:
          - {handle: kvm-vm, token: 1}
          - {object: mem, token: 2}
    """

private func refused(_ text: String, at keyPath: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try Scenario.parse(text: text, file: "bad.yaml")
        Issue.record("parsed when it should not have", sourceLocation: sourceLocation)
    } catch {
        #expect(error.keyPath == keyPath, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite("Device scenarios")
struct DeviceScenarioTests {
    @Test func theRepositoryIommufdScenario() throws {
        let scenario = try Scenario.load(from: scenarios.appendingPathComponent("iommufd-basic.yaml"))
        #expect(scenario.kind == .iommufd)
        let setup = try #require(scenario.devices?.iommufd)
        #expect(setup.pciDevice == "1234:11e8")
        #expect(setup.mappings == [.init(object: "dma-buffer", iova: 0x100000)])
        #expect(scenario.sessions[0].members.map(\.handle) == [.iommufd, .vfioDevice, nil])
        #expect(scenario.topology == .iommu(.edu))
    }

    @Test func theRepositoryGuestMemfdScenario() throws {
        let scenario = try Scenario.load(from: scenarios.appendingPathComponent("guest-memfd-basic.yaml"))
        #expect(scenario.kind == .guestMemfd)
        #expect(scenario.devices?.kvm == KVMSetup(vmType: 0))
        #expect(scenario.objects.map(\.backing) == [.guestMemfd])
        #expect(scenario.topology == .plain)
    }

    @Test func thePlanCarriesTheSeriesOfTheFirstKernel() throws {
        let scenario = try Scenario.parse(text: iommufdScenario, file: "s.yaml")
        let plan = scenario.plan(hops: [], injections: [], series: [.iommufdLU202602])
        #expect(plan.devices?.series == ["iommufd-lu-2026-02"])
        #expect(scenario.plan(hops: [], injections: []).devices?.series == [])
    }

    @Test func memfdScenariosHaveNoDevices() throws {
        let scenario = try Scenario.load(from: scenarios.appendingPathComponent("memfd-basic.yaml"))
        #expect(scenario.devices == nil)
        #expect(scenario.plan(hops: [], injections: []).devices == nil)
    }

    @Test func anIommufdScenarioMustPreserveBothHandles() {
        refused(iommufdScenario.replacingOccurrences(of: "      - {handle: vfio-device, token: 2}\n", with: ""),
                at: "sessions", "add {handle: vfio-device, token: N}")
    }

    @Test func handlesBelongToTheirKind() {
        refused(iommufdScenario.replacingOccurrences(of: "{handle: vfio-device, token: 2}", with: "{handle: vfio-device, token: 2}\n      - {handle: kvm-vm, token: 4}"),
                at: "sessions", "handle 'kvm-vm' belongs to another kind")
        refused(guestMemfdScenario.replacingOccurrences(of: "kind: guest-memfd", with: "kind: memfd"), at: "sessions", "needs kind iommufd or guest-memfd")
    }

    @Test func aHandleIsPreservedOnce() {
        refused(iommufdScenario + "\n  - name: t\n    members:\n      - {handle: iommufd, token: 9}", at: "sessions", "handle 'iommufd' is in session 's' and 't'")
    }

    @Test func theIommufdSectionIsRequiredAndChecked() {
        refused(iommufdScenario.replacingOccurrences(of: "iommufd:\n  mappings:\n    - {object: dma, iova: 0x100000}\n", with: ""),
                at: "iommufd", "is missing")
        refused(iommufdScenario.replacingOccurrences(of: "iova: 0x100000", with: "iova: 0x100001"), at: "iommufd.mappings[0].iova", "page-aligned")
        refused(iommufdScenario.replacingOccurrences(of: "object: dma, iova", with: "object: nothing, iova"), at: "iommufd.mappings[0].object", "no object named 'nothing'")
        refused(iommufdScenario.replacingOccurrences(of: "iommufd:\n", with: "iommufd:\n  device: virtio\n"), at: "iommufd.device", "expected one of edu, e1000e")
        refused(iommufdScenario.replacingOccurrences(of: "    - {object: dma, iova: 0x100000}", with: "    - {object: dma, iova: 0x100000}\n    - {object: dma, iova: 0x108000}"),
                at: "iommufd.mappings[1].iova", "overlaps the mapping of 'dma'")
        refused(iommufdScenario.replacingOccurrences(of: "size: 64KiB", with: "size: 1000"), at: "iommufd.mappings[0].object", "multiple of 4096")
    }

    @Test func sectionsOnlyForTheirKind() {
        refused(iommufdScenario.replacingOccurrences(of: "kind: iommufd", with: "kind: memfd"), at: "iommufd", "only device scenarios (iommufd, guest-memfd, vm)")
        refused(guestMemfdScenario + "\niommufd:\n  mappings: []", at: "iommufd", "a guest-memfd scenario has no iommufd section")
    }

    @Test func guestMemfdObjectsAreChecked() {
        refused(guestMemfdScenario.replacingOccurrences(of: "backing: guest-memfd", with: "backing: memfd"), at: "objects", "at least one object with backing: guest-memfd")
        refused(guestMemfdScenario.replacingOccurrences(of: "size: 1MiB", with: "size: 1000"), at: "objects.mem.size", "multiple of 4096")
        refused(guestMemfdScenario.replacingOccurrences(of: "fill: {random: 3}", with: "fill: {random: 3}\n    seals: [write]"), at: "objects.mem.seals", "cannot be sealed")
        refused(guestMemfdScenario.replacingOccurrences(of: "backing: guest-memfd", with: "backing: tmpfs"), at: "objects.mem.backing", "expected one of memfd, guest-memfd")
        refused(iommufdScenario.replacingOccurrences(of: "fill: {random: 1}", with: "fill: {random: 1}\n    backing: guest-memfd"), at: "objects", "needs kind guest-memfd")
    }

    @Test func objectNamesCannotTakeAHandlesName() {
        refused(guestMemfdScenario.replacingOccurrences(of: "  mem:", with: "  iommufd:").replacingOccurrences(of: "object: mem", with: "object: iommufd"),
                at: "objects", "reserved for a handle")
    }
}

@Suite("VM topology")
struct TopologyTests {
    private func arguments(_ topology: Topology) -> [String] {
        var config = VMConfig(kernel: URL(fileURLWithPath: "/k"), initrd: URL(fileURLWithPath: "/i"), cmdline: "c", accelerator: .tcg)
        config.topology = topology
        return QemuCommand.arguments(config, consolePipe: URL(fileURLWithPath: "/c"), agentSocket: URL(fileURLWithPath: "/a"),
                                     qmpSocket: URL(fileURLWithPath: "/q"))
    }

    @Test func thePlainMachineHasNoIOMMU() {
        let args = arguments(.plain)
        #expect(args[args.firstIndex(of: "-machine")! + 1] == "pc")
        #expect(!args.joined(separator: " ").contains("iommu"))
        #expect(Topology.plain.kernelArguments.isEmpty)
    }

    @Test func theIOMMUMachineAddsTheIOMMUBeforeAnyOtherDevice() {
        let args = arguments(.iommu(.edu))
        #expect(args[args.firstIndex(of: "-machine")! + 1] == "q35")
        let iommu = try! #require(args.firstIndex(of: "intel-iommu,caching-mode=on"))
        let edu = try! #require(args.firstIndex(of: "edu,id=assigned0"))
        let serial = try! #require(args.firstIndex(of: "chardev:agent"))
        #expect(iommu < edu && edu < serial)
        #expect(Topology.iommu(.edu).kernelArguments.contains("intel_iommu=on"))
    }

    @Test func nestedVirtualizationUnderTCG() {
        #expect(NestedVirtualization.detect(.tcg).expected)
    }

    @Test func nestedVirtualizationUnderKVMReadsTheHostModule() throws {
        let sysfs = FileManager.default.temporaryDirectory.appendingPathComponent("nested-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: sysfs) }
        let missing = NestedVirtualization.detect(.kvm, sysfs: sysfs)
        #expect(!missing.expected)
        let parameters = sysfs.appendingPathComponent("kvm_intel/parameters")
        try FileManager.default.createDirectory(at: parameters, withIntermediateDirectories: true)
        try "N\n".write(to: parameters.appendingPathComponent("nested"), atomically: true, encoding: .utf8)
        #expect(NestedVirtualization.detect(.kvm, sysfs: sysfs) == NestedVirtualization(expected: false, reason: "host kvm_intel nested=N; the guest sees no vmx/svm"))
        try "Y\n".write(to: parameters.appendingPathComponent("nested"), atomically: true, encoding: .utf8)
        #expect(NestedVirtualization.detect(.kvm, sysfs: sysfs).expected)
    }
}
