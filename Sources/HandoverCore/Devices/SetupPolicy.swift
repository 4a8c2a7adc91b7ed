/// Linux errno values (x86_64), for decisions made on both sides of the channel.
public enum LinuxErrno {
    public static let ENOENT: Int32 = 2
    public static let ENXIO: Int32 = 6
    public static let EBUSY: Int32 = 16
    public static let ENODEV: Int32 = 19
    public static let EINVAL: Int32 = 22
    public static let ENOTTY: Int32 = 25
    public static let ENOSYS: Int32 = 38
    public static let EOPNOTSUPP: Int32 = 95
}

/// The steps the device drivers take in the first kernel, in order, and what it means when one
/// cannot be done. A step that needs something this VM or kernel does not offer ends the run
/// unsupported with that reason; a step that should work and does not is a failure.
public enum SetupStep: String, Sendable, CaseIterable {
    case findDevice = "find-pci-device"
    case iommuGroup = "iommu-group"
    case bindVFIO = "bind-vfio-pci"
    case openIommufd = "open-iommufd"
    case openVFIOCdev = "open-vfio-cdev"
    case bindIommufd = "vfio-bind-iommufd"
    case allocIOAS = "ioas-alloc"
    case allocHWPT = "hwpt-alloc"
    case attachHWPT = "vfio-attach-hwpt"
    case mapMemfd = "ioas-map-file"
    case setPreserve = "hwpt-set-preserve"
    case cpuVirtualization = "cpu-virtualization"
    case openKVM = "open-kvm"
    case createVM = "kvm-create-vm"
    case guestMemfdCapability = "guest-memfd-capability"
    case createGuestMemfd = "create-guest-memfd"
    case fillGuestMemfd = "fill-guest-memfd"
    case vmMemorySlot = "vm-memory-slot"
    case vmCreateVCPU = "vm-create-vcpu"
    /// The guest program's first exit: the vCPU really runs it.
    case vmRun = "vm-run"
    /// The vCPU stopped and its state saved into the state memfd.
    case vmPause = "vm-pause"
}

public enum StepConsequence: Sendable, Equatable {
    /// The scenario cannot run here; nothing was promised.
    case unsupported(String)
    /// A step that should have worked did not.
    case fail(FailureClass)
    /// The VM the harness built lacks what it was supposed to have.
    case error
}

public enum SetupPolicy {
    /// What a refused setup step means. `detail` describes what was missing or refused.
    public static func consequence(of step: SetupStep, errno: Int32?, release: String, detail: String) -> StepConsequence {
        let unsupported = { (why: String) in StepConsequence.unsupported("kernel \(release): \(why)") }
        switch step {
        case .findDevice:
            return .error
        case .iommuGroup:
            return unsupported("the PCI device has no IOMMU group, so no IOMMU translates it (INTEL_IOMMU or the DMAR table missing): \(detail)")
        case .bindVFIO:
            return errno == LinuxErrno.ENOENT || errno == LinuxErrno.ENODEV
                ? unsupported("vfio-pci cannot take the device (VFIO_PCI not built in): \(detail)") : .fail(.preserveFailed)
        case .openIommufd:
            return errno == LinuxErrno.ENOENT || errno == LinuxErrno.ENXIO || errno == LinuxErrno.ENODEV
                ? unsupported("no /dev/iommu (IOMMUFD not built in): \(detail)") : .fail(.preserveFailed)
        case .openVFIOCdev:
            return errno == LinuxErrno.ENOENT || errno == LinuxErrno.ENXIO || errno == LinuxErrno.ENODEV
                ? unsupported("no VFIO device cdev (VFIO_DEVICE_CDEV not built in): \(detail)") : .fail(.preserveFailed)
        case .cpuVirtualization:
            return unsupported("this VM's CPU offers no hardware virtualization (no vmx or svm flag), so KVM cannot run inside it: \(detail)")
        case .openKVM:
            return unsupported("no usable /dev/kvm in this VM (KVM not built in, or its module refused this CPU): \(detail)")
        case .createVM:
            return unsupported("KVM in this VM cannot create a VM (nested virtualization unavailable): \(detail)")
        case .guestMemfdCapability:
            return unsupported("KVM in this VM offers no shared, mmap-able guest_memfd: \(detail)")
        case .vmMemorySlot:
            return unsupported("KVM in this VM refuses the guest's memory slot: \(detail)")
        case .vmCreateVCPU:
            return unsupported("KVM in this VM cannot create a vCPU: \(detail)")
        case .vmRun:
            return unsupported("a vCPU does not run the guest program in this VM: \(detail)")
        case .bindIommufd, .allocIOAS, .allocHWPT, .attachHWPT, .mapMemfd, .setPreserve, .createGuestMemfd, .fillGuestMemfd, .vmPause:
            return .fail(.preserveFailed)
        }
    }

    /// What PRESERVE_FD refusing a file means. In 7.3 a file no handler accepts gives ENOENT
    /// (luo_preserve_file finds no handler whose can_preserve says yes); EOPNOTSUPP is what a
    /// handler gives for a variant it does not support. Without the series that adds the
    /// handler either one is "unsupported"; a kernel carrying the series must take the file.
    public static func preserveRefused(fileType: String, errno: Int32, errnoName: String, release: String,
                                       seriesCarried: Bool) -> StepConsequence {
        let noHandler = errno == LinuxErrno.ENOENT || errno == LinuxErrno.EOPNOTSUPP
        guard noHandler, !seriesCarried else { return .fail(.preserveFailed) }
        return .unsupported("kernel \(release): SESSION_PRESERVE_FD refused the \(fileType) with \(errnoName) (no live update handler for this file type)")
    }
}
extension SetupStep: JSONRawEnum {}
