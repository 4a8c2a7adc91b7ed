/// Linux errno values (x86_64), for decisions made on both sides of the channel.
public enum LinuxErrno {
    public static let ENOENT: Int32 = 2
    public static let ENXIO: Int32 = 6
    public static let ENOMEM: Int32 = 12
    public static let EACCES: Int32 = 13
    public static let EFAULT: Int32 = 14
    public static let EBUSY: Int32 = 16
    public static let EEXIST: Int32 = 17
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
    /// The scenario cannot run here, and the step proved it: a documented capability is absent.
    case unsupported(String)
    /// A step that should have worked did not: the kernel refused what it offers.
    case fail(FailureClass)
    /// The harness or the host broke (the VM lacks what it was built with, memory ran out).
    case error

    public var isUnsupported: Bool { if case .unsupported = self { true } else { false } }
}

/// Unsupported means "this kernel or this VM cannot", proven by a documented capability absence:
/// no vmx/svm flag, no /dev/kvm (or /dev/iommu, a VFIO cdev, vfio-pci), a VM type or
/// KVM_CAP_GUEST_MEMFD missing, no IOMMU group. Every other refusal is a failure of the kernel that offered the
/// capability, or an error of the harness or host; it carries its step and errno either way.
public enum SetupPolicy {
    /// What a refused setup step means. `detail` describes what was missing or refused.
    public static func consequence(of step: SetupStep, errno: Int32?, release: String, detail: String) -> StepConsequence {
        let unsupported = { (why: String) in StepConsequence.unsupported("kernel \(release): \(why)") }
        let absent = errno == LinuxErrno.ENOENT || errno == LinuxErrno.ENXIO || errno == LinuxErrno.ENODEV
        switch step {
        case .findDevice:
            return .error
        case .iommuGroup:
            return unsupported("the PCI device has no IOMMU group, so no IOMMU translates it (INTEL_IOMMU or the DMAR table missing): \(detail)")
        case .bindVFIO:
            return errno == LinuxErrno.ENOENT || errno == LinuxErrno.ENODEV
                ? unsupported("vfio-pci cannot take the device (VFIO_PCI not built in): \(detail)") : .fail(.preserveFailed)
        case .openIommufd:
            return absent ? unsupported("no /dev/iommu (IOMMUFD not built in): \(detail)") : .fail(.preserveFailed)
        case .openVFIOCdev:
            return absent ? unsupported("no VFIO device cdev (VFIO_DEVICE_CDEV not built in): \(detail)") : .fail(.preserveFailed)
        case .cpuVirtualization:
            return unsupported("this VM's CPU offers no hardware virtualization (no vmx or svm flag), so KVM cannot run inside it: \(detail)")
        case .openKVM:
            return absent ? unsupported("no /dev/kvm in this VM (KVM not built in, or its module refused this CPU): \(detail)") : .fail(.preserveFailed)
        case .guestMemfdCapability:
            return unsupported("KVM in this VM offers no shared, mmap-able guest_memfd: \(detail)")
        case .vmMemorySlot, .vmCreateVCPU, .fillGuestMemfd:
            return errno == LinuxErrno.ENOMEM ? .error : .fail(.preserveFailed)
        case .vmRun:
            // KVM_RUN itself refused: the kernel's KVM. An exit that is not the program's report
            // (a triple fault, a wrong port): the program the harness built does not run here.
            return errno == nil ? .error : .fail(.preserveFailed)
        case .createVM:
            // kvm_arch_init_vm refuses a type outside KVM_CAP_VM_TYPES with EINVAL.
            return errno == LinuxErrno.EINVAL || errno == LinuxErrno.EOPNOTSUPP
                ? unsupported("KVM in this VM offers no VM of the requested type (not in KVM_CAP_VM_TYPES): \(detail)") : .fail(.preserveFailed)
        case .bindIommufd, .allocIOAS, .allocHWPT, .attachHWPT, .mapMemfd, .setPreserve, .createGuestMemfd, .vmPause:
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
