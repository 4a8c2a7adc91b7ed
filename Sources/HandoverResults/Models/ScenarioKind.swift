/// What a scenario exercises; it decides which parts of a run and its result apply.
public enum ScenarioKind: String, Codable, Sendable, CaseIterable {
    case memfd, selftest
    /// A memfd mapped for DMA through an iommufd with a VFIO device, preserved with both.
    case iommufd
    /// A KVM VM with guest_memfd memory, preserved together.
    case guestMemfd = "guest-memfd"
    /// A KVM VM running a guest program from memfd or guest_memfd RAM, paused before the
    /// kexec and resumed after it.
    case vm
}
