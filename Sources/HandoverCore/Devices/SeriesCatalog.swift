/// Patch series whose uAPI handover drives before it is merged. The ioctl numbers and layouts
/// of each revision live in one C header (Sources/CLiveUpdate/include/series_*.h); here is how
/// the runner tells that a kernel carries one: the KHO ABI "compatible" string the series adds.
public enum SeriesRevision: String, Codable, Sendable, CaseIterable {
    /// The IOMMU preservation series posted 2026-02-03 ([PATCH 00/14], iommufd-lu):
    /// IOMMU_HWPT_LU_SET_PRESERVE, and a LUO file handler for iommufd and VFIO cdevs.
    case iommufdLU202602 = "iommufd-lu-2026-02"
    /// The guest_memfd preservation RFC posted 2026-06-05 ([RFC PATCH v1 0/10]): LUO handlers for
    /// KVM VM files and guest_memfd; no new ioctl.
    case guestMemfdRFC1 = "guest-memfd-rfc-v1"

    /// Prefixes of the ABI strings (include/linux/kho/abi/*.h) the series introduces.
    public var abiPrefixes: [String] {
        switch self {
        case .iommufdLU202602: ["iommufd-", "iommu-"]
        case .guestMemfdRFC1: ["kvm-", "guest-memfd-", "gmem-"]
        }
    }

    public var summary: String {
        switch self {
        case .iommufdLU202602: "IOMMU preservation series (2026-02)"
        case .guestMemfdRFC1: "guest_memfd preservation RFC v1 (2026-06)"
        }
    }

    /// The series whose LUO handler takes this kind of file.
    public static func handling(_ handle: Handle) -> SeriesRevision {
        switch handle {
        case .iommufd, .vfioDevice: .iommufdLU202602
        case .kvmVM: .guestMemfdRFC1
        }
    }

    public static func handling(_ backing: Backing) -> SeriesRevision? {
        backing == .guestMemfd ? .guestMemfdRFC1 : nil
    }

    /// The revisions whose ABI strings a kernel build declares.
    public static func carried(byABIStrings strings: [String]) -> [SeriesRevision] {
        allCases.filter { series in strings.contains { string in series.abiPrefixes.contains { string.hasPrefix($0) } } }
    }
}
