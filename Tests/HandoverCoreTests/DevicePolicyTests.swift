import Foundation
@testable import HandoverCore
import Testing

@Suite("Device setup policy")
struct SetupPolicyTests {
    @Test("steps that need what the VM or kernel lacks end unsupported, naming the kernel", arguments: [
        (SetupStep.iommuGroup, LinuxErrno.ENOENT, "no IOMMU translates it"),
        (.openIommufd, LinuxErrno.ENOENT, "IOMMUFD not built in"),
        (.openVFIOCdev, LinuxErrno.ENOENT, "VFIO_DEVICE_CDEV"),
        (.bindVFIO, LinuxErrno.ENOENT, "VFIO_PCI"),
        (.cpuVirtualization, nil, "no vmx or svm"),
        (.openKVM, LinuxErrno.ENOENT, "no /dev/kvm"),
        (.createVM, LinuxErrno.EINVAL, "KVM_CAP_VM_TYPES"),
        (.guestMemfdCapability, nil, "mmap-able guest_memfd"),
    ] as [(SetupStep, Int32?, String)])
    func unsupportedSteps(step: SetupStep, errno: Int32?, fragment: String) {
        let consequence = SetupPolicy.consequence(of: step, errno: errno, release: "7.3.4", detail: "what was seen")
        guard case .unsupported(let reason) = consequence else {
            Issue.record("\(step) gave \(consequence)")
            return
        }
        #expect(reason.hasPrefix("kernel 7.3.4: "))
        #expect(reason.contains(fragment), "\(reason)")
        #expect(reason.hasSuffix("what was seen"))
    }

    @Test("steps that should work and fail are preserve failures", arguments: [
        SetupStep.bindIommufd, .allocIOAS, .allocHWPT, .attachHWPT, .mapMemfd, .setPreserve, .createGuestMemfd, .fillGuestMemfd,
    ])
    func failingSteps(step: SetupStep) {
        #expect(SetupPolicy.consequence(of: step, errno: LinuxErrno.EINVAL, release: "7.3.4", detail: "") == .fail(.preserveFailed))
    }

    @Test("a KVM that refuses what it offers fails; a host out of memory or a program that does not run is an error", arguments: [
        (SetupStep.vmMemorySlot, LinuxErrno.EINVAL, StepConsequence.fail(.preserveFailed)),
        (.vmMemorySlot, LinuxErrno.ENOMEM, .error),
        (.vmCreateVCPU, LinuxErrno.EEXIST, .fail(.preserveFailed)),
        (.vmCreateVCPU, LinuxErrno.ENOMEM, .error),
        (.vmRun, LinuxErrno.EFAULT, .fail(.preserveFailed)),
        (.vmRun, nil, .error),
        (.openKVM, LinuxErrno.EACCES, .fail(.preserveFailed)),
        (.createVM, LinuxErrno.EBUSY, .fail(.preserveFailed)),
    ] as [(SetupStep, Int32?, StepConsequence)])
    func vmStepsAreNeverUnsupportedForAnyErrno(step: SetupStep, errno: Int32?, expected: StepConsequence) {
        #expect(SetupPolicy.consequence(of: step, errno: errno, release: "7.3.4", detail: "seen") == expected)
    }

    @Test func openingWithAnUnexpectedErrnoIsAFailure() {
        #expect(SetupPolicy.consequence(of: .openIommufd, errno: LinuxErrno.EBUSY, release: "7.3.4", detail: "") == .fail(.preserveFailed))
        #expect(SetupPolicy.consequence(of: .bindVFIO, errno: LinuxErrno.EBUSY, release: "7.3.4", detail: "") == .fail(.preserveFailed))
    }

    @Test func aMissingDeviceIsTheHarnessFault() {
        #expect(SetupPolicy.consequence(of: .findDevice, errno: LinuxErrno.ENODEV, release: "7.3.4", detail: "") == .error)
    }

    @Test func preserveRefusedWithoutHandlerIsUnsupported() {
        for errno in [LinuxErrno.ENOENT, LinuxErrno.EOPNOTSUPP] {
            let consequence = SetupPolicy.preserveRefused(fileType: "iommufd", errno: errno, errnoName: "E\(errno)", release: "7.3.4", seriesCarried: false)
            guard case .unsupported(let reason) = consequence else {
                Issue.record("\(errno) gave \(consequence)")
                continue
            }
            #expect(reason.contains("kernel 7.3.4"))
            #expect(reason.contains("refused the iommufd with E\(errno)"))
        }
    }

    @Test func preserveRefusedForAnotherReasonIsAFailure() {
        #expect(SetupPolicy.preserveRefused(fileType: "KVM VM", errno: LinuxErrno.EINVAL, errnoName: "EINVAL", release: "7.3.4", seriesCarried: false)
            == .fail(.preserveFailed))
    }

    @Test func aKernelCarryingTheSeriesMustTakeTheFile() {
        #expect(SetupPolicy.preserveRefused(fileType: "iommufd", errno: LinuxErrno.ENOENT, errnoName: "ENOENT", release: "7.3.4", seriesCarried: true)
            == .fail(.preserveFailed))
    }
}

@Suite("Series catalog")
struct SeriesCatalogTests {
    @Test func mainlineABIStringsCarryNoSeries() {
        #expect(SeriesRevision.carried(byABIStrings: ["kho-v4", "luo-v5", "memfd-v2", "memblock-v1", "reserve-mem-v1"]).isEmpty)
    }

    @Test func seriesAreToldByTheirABIStrings() {
        #expect(SeriesRevision.carried(byABIStrings: ["luo-v5", "iommufd-v1"]) == [.iommufdLU202602])
        #expect(SeriesRevision.carried(byABIStrings: ["kvm_vm_luo_v1", "guest_memfd_luo_v1"]) == [.guestMemfdRFC1])
        #expect(SeriesRevision.carried(byABIStrings: ["luo-v5", "memfd-v2;guest_memfd_luo_v1"]) == [.guestMemfdRFC1])
        // The PCI and VFIO series carry no iommufd handler: a kernel with them alone must not be
        // sent the IOMMU series' ioctls.
        #expect(SeriesRevision.carried(byABIStrings: ["vfio-pci-v1", "pci-v2"]) == [.vfioPCI202607])
        #expect(SeriesRevision.carried(byABIStrings: ["iommufd-v1", "vfio-pci-v1", "pci-v2"]) == [.iommufdLU202602, .vfioPCI202607])
        // Guesses an earlier version made, which no posted series uses.
        #expect(SeriesRevision.carried(byABIStrings: ["kvm-v1", "guest-memfd-v1", "gmem-v1"]).isEmpty)
    }

    @Test func eachDeviceFileHasTheSeriesThatHandlesIt() {
        #expect(SeriesRevision.handling(Handle.iommufd) == .iommufdLU202602)
        #expect(SeriesRevision.handling(Handle.vfioDevice) == .vfioPCI202607)
        #expect(SeriesRevision.handling(Handle.kvmVM) == .guestMemfdRFC1)
        #expect(SeriesRevision.handling(Backing.guestMemfd) == .guestMemfdRFC1)
        #expect(SeriesRevision.handling(Backing.memfd) == nil)
    }

    @Test func thePlanSaysWhichSeriesItMayUse() {
        let plan = DevicePlan(iommufd: nil, kvm: KVMSetup(), series: [SeriesRevision.guestMemfdRFC1.rawValue])
        #expect(plan.carries(.guestMemfdRFC1))
        #expect(!plan.carries(.iommufdLU202602))
    }
}

@Suite("Device plans")
struct DevicePlanCodingTests {
    @Test func aDevicePlanSurvivesJSON() throws {
        let plan = AgentPlan(
            scenario: "iommufd-basic", scenarioDigest: "d",
            objects: [ObjectSpec(name: "dma", size: 8192, fill: .random(seed: 1)),
                      ObjectSpec(name: "gmem", size: 4096, fill: .constant(byte: 7), backing: .guestMemfd)],
            sessions: [SessionSpec(name: "s", members: [.init(handle: .iommufd, token: 1), .init(handle: .vfioDevice, token: 2),
                                                        .init(object: "dma", token: 3)])],
            chunkSize: 4096, hops: [], checks: true, injections: [],
            devices: DevicePlan(iommufd: IommufdSetup(pciDevice: "1234:11e8", mappings: [.init(object: "dma", iova: 0x100000)], hwptToken: 7),
                                kvm: KVMSetup(vmType: 0), series: ["iommufd-lu-2026-02"]))
        let decoded = try JSONDecoder().decode(AgentPlan.self, from: try JSONEncoder().encode(plan))
        #expect(decoded == plan)
        #expect(decoded.sessions[0].members[0].handle == .iommufd)
        #expect(decoded.sessions[0].members[0].object == "iommufd")
        #expect(decoded.objects[0].backing == nil)
        #expect(decoded.objects[1].backing == .guestMemfd)
    }

    @Test func aMemfdBackingIsStoredAsAbsent() {
        #expect(ObjectSpec(name: "m", size: 1, fill: .zero, backing: .memfd).backing == nil)
    }

    @Test func aSkippedStepSurvivesTheProtocol() throws {
        let message = AgentMessage.step(StepReport(stage: 1, step: .setup(.setPreserve), ok: false, detail: "not issued", skipped: true))
        let line = ProtocolLine.encode(message)
        #expect(try ProtocolLine.decode(AgentMessage.self, from: line) == message)
    }
}
