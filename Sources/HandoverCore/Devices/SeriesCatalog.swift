/// Patch series whose uAPI handover drives before it is merged. The ioctl numbers and layouts
/// of each revision live in one C header (Agent/CLiveUpdate/include/series_*.h); here is how
/// the runner tells that a kernel carries one: the KHO ABI "compatible" string the series adds.
public enum SeriesRevision: String, Sendable, CaseIterable {
    /// The IOMMU preservation series posted 2026-02-03 ([PATCH 00/14], iommufd-lu):
    /// IOMMU_HWPT_LU_SET_PRESERVE, and a LUO file handler for iommufd and VFIO cdevs.
    case iommufdLU202602 = "iommufd-lu-2026-02"
    /// The guest_memfd preservation RFC posted 2026-06-05 ([RFC PATCH v1 0/10]): LUO handlers for
    /// KVM VM files and guest_memfd; no new ioctl.
    case guestMemfdRFC1 = "guest-memfd-rfc-v1"
    /// The PCI core (v7, 2026-07-10) and VFIO (v5, 2026-07-14) live update series: a LUO file
    /// handler for VFIO device cdevs and a PCI FLB; no iommufd handler and no new ioctl.
    case vfioPCI202607 = "vfio-pci-2026-07"

    /// Prefixes of the KHO compatible strings the series' handlers register, as the posted
    /// series spell them: `iommufd-v1` and `iommu-liveupdate` (the IOMMU FLB), `vfio-pci-v1`
    /// (VFIO cdevs), `pci-v2` (the PCI FLB); `kvm_vm_luo_v1`, `guest_memfd_luo_v1` and, in the
    /// design document, `kvm_vcpu_luo_v1` (with underscores).
    public var abiPrefixes: [String] {
        switch self {
        case .iommufdLU202602: ["iommufd-", "iommu-liveupdate"]
        case .guestMemfdRFC1: ["kvm_vm_luo_", "kvm_vcpu_luo_", "guest_memfd_luo_"]
        case .vfioPCI202607: ["vfio-pci-", "pci-v"]
        }
    }

    public var summary: String {
        switch self {
        case .iommufdLU202602: "IOMMU preservation series (2026-02)"
        case .guestMemfdRFC1: "guest_memfd preservation RFC v1 (2026-06)"
        case .vfioPCI202607: "PCI v7 and VFIO v5 live update series (2026-07)"
        }
    }

    /// The series whose LUO handler takes this kind of file.
    public static func handling(_ handle: Handle) -> SeriesRevision {
        switch handle {
        case .iommufd: .iommufdLU202602
        case .vfioDevice: .vfioPCI202607
        case .kvmVM: .guestMemfdRFC1
        }
    }

    public static func handling(_ backing: Backing) -> SeriesRevision? {
        backing == .guestMemfd ? .guestMemfdRFC1 : nil
    }

    /// The revisions whose ABI strings a kernel build declares. A string may be composite
    /// (`memfd-v2;vmalloc-v1`, as an RFC proposes): each part counts on its own.
    public static func carried(byABIStrings strings: [String]) -> [SeriesRevision] {
        let parts = strings.flatMap { $0.split(separator: ";").map { String($0).trimmed } }
        return allCases.filter { series in parts.contains { part in series.abiPrefixes.contains { part.hasPrefix($0) } } }
    }
}
extension SeriesRevision: JSONRawEnum {}
