import CLiveUpdate

import HandoverCore

/// What the iommufd and guest_memfd series promise in the new kernel, checked after the
/// contents were verified: FINISH refuses until the device state was reclaimed, and succeeds after.
/// Returns the checks and the sessions they finished.
struct DeviceChecks {
    let plan: AgentPlan
    let restored: Restored

    func run() -> (checks: [CheckResult], finished: Set<String>) {
        guard let devices = plan.devices else { return ([], []) }
        var results: [CheckResult] = []
        var finished = Set<String>()
        if let setup = devices.iommufd, let session = session(holding: .iommufd), let sessionFD = restored.sessions[session] {
            results += iommufd(setup, devices: devices, session: session, sessionFD: sessionFD)
            finished.insert(session)
        }
        if devices.kvm != nil, devices.vm == nil, let session = session(holding: .kvmVM), let sessionFD = restored.sessions[session] {
            results += kvm(session: session, sessionFD: sessionFD)
            finished.insert(session)
        }
        return (results, finished)
    }

    func session(holding handle: Handle) -> String? {
        plan.sessions.first { $0.members.contains { $0.handle == handle } }?.name
    }

    func member(_ handle: Handle) -> SessionSpec.Member? {
        plan.sessions.flatMap { $0.members }.first { $0.handle == handle }
    }

    static func outcome(_ rc: Int32) -> String { rc < 0 ? errnoName(-rc) : "success" }

    func iommufd(_ setup: IommufdSetup, devices: DevicePlan, session: String, sessionFD: Int32) -> [CheckResult] {
        var results: [CheckResult] = []
        let early = hv_luo_finish(sessionFD, 0)
        results.append(CheckResult(.finishRefusedBeforeHWPTReclaim, passed: early == -EBUSY,
                                   expected: "EBUSY (the preserved HWPT is not reclaimed yet)", observed: Self.outcome(early)))
        guard let iommufd = restored.handles[.iommufd], let cdev = restored.handles[.vfioDevice] else {
            results.append(CheckResult(.retrieveIommufdAndCdev, passed: false, expected: "both files retrieved", observed: "missing"))
            return results
        }
        var deviceID: UInt32 = 0
        let bind = hv_vfio_bind_iommufd(cdev, iommufd, &deviceID)
        results.append(CheckResult(.vfioCdevBindsRestoredIommufd, passed: bind == 0, expected: "success",
                                   observed: bind == 0 ? "device id \(deviceID)" : Self.outcome(bind)))
        // The 2026-02 revision adds only IOMMU_HWPT_LU_SET_PRESERVE; its restore ioctl is
        // announced for a later revision, so the HWPT cannot be reclaimed with it.
        results.append(CheckResult(.hwptRestore, passed: false, expected: "IOMMU_HWPT_LU_RESTORE of token \(setup.hwptToken)",
                                   observed: "the series revision \(devices.series.joined(separator: ", ")) defines no restore ioctl in handover's series header"))
        for mapping in setup.mappings {
            guard let fd = restored.objects[mapping.object], let spec = plan.object(named: mapping.object) else { continue }
            let refusal = sizeFreezeRefusal(fd: fd, spec: spec)
            results.append(CheckResult(.mappedMemfdSizeFrozen(mapping.object), passed: refusal != nil,
                                       expected: "ftruncate refused until FINISH", observed: refusal ?? "resized"))
        }
        let late = hv_luo_finish(sessionFD, 0)
        results.append(CheckResult(.finishAfterReclaim, passed: late == 0, expected: "success", observed: Self.outcome(late)))
        return results
    }

    func kvm(session: String, sessionFD: Int32) -> [CheckResult] {
        var results: [CheckResult] = []
        guard let vmMember = member(.kvmVM) else { return results }
        var vm: Int32 = -1
        let retrieved = hv_luo_retrieve_fd(sessionFD, vmMember.token, &vm)
        results.append(CheckResult(.retrieveKVMVM, passed: retrieved == 0, expected: "success", observed: Self.outcome(retrieved)))
        if retrieved == 0 {
            let capability = hv_kvm_check_extension(vm, Int(HV_KVM_CAP_GUEST_MEMFD))
            results.append(CheckResult(.restoredVMOffersGuestMemfd, passed: capability > 0, expected: "KVM_CAP_GUEST_MEMFD > 0",
                                       observed: capability < 0 ? errnoName(-capability) : String(capability)))
        }
        let late = hv_luo_finish(sessionFD, 0)
        results.append(CheckResult(.finishAfterVMRetrieved, passed: late == 0, expected: "success", observed: Self.outcome(late)))
        return results
    }
}
