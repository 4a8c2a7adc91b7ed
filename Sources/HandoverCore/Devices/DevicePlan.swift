/// What a scenario sets up besides memfds: an iommufd with a VFIO device (a DMA mapping of a
/// memfd through an emulated IOMMU), or a KVM VM with guest_memfd objects.
public struct DevicePlan: Sendable, Equatable {
    public var iommufd: IommufdSetup?
    public var kvm: KVMSetup?
    /// A vm scenario's guest, run on the KVM setup's VM.
    public var vm: GuestVMSetup?
    /// Revisions of not-yet-merged series the first kernel carries (see SeriesCatalog); only
    /// their ioctls are issued.
    public var series: [String]

    public init(iommufd: IommufdSetup? = nil, kvm: KVMSetup? = nil, vm: GuestVMSetup? = nil, series: [String] = []) {
        self.iommufd = iommufd
        self.kvm = kvm
        self.vm = vm
        self.series = series
    }

    public func carries(_ revision: SeriesRevision) -> Bool { series.contains(revision.rawValue) }
}

/// Kernel files a session can hold besides the plan's objects, created by the device drivers.
public enum Handle: String, Sendable, CaseIterable {
    case iommufd
    case vfioDevice = "vfio-device"
    case kvmVM = "kvm-vm"

    /// How the file type is named in reports.
    public var fileType: String {
        switch self {
        case .iommufd: "iommufd"
        case .vfioDevice: "VFIO device cdev"
        case .kvmVM: "KVM VM"
        }
    }
}

/// Where an object's bytes live.
public enum Backing: String, Sendable, CaseIterable {
    case memfd
    /// A guest_memfd of the plan's KVM VM, created shared and mmap-able, read and written through a mapping.
    case guestMemfd = "guest-memfd"
}

public struct IommufdSetup: Sendable, Equatable {
    /// PCI vendor:device of the device the agent binds to vfio-pci (QEMU's edu device is 1234:11e8).
    public var pciDevice: String
    public var mappings: [Mapping]
    /// The token the HWPT is preserved under, with a series that can preserve it.
    public var hwptToken: UInt32

    public struct Mapping: Sendable, Equatable {
        /// A memfd object of the plan, mapped whole.
        public var object: String
        public var iova: UInt64

        public init(object: String, iova: UInt64) {
            self.object = object
            self.iova = iova
        }
    }

    public init(pciDevice: String, mappings: [Mapping], hwptToken: UInt32) {
        self.pciDevice = pciDevice
        self.mappings = mappings
        self.hwptToken = hwptToken
    }
}

public struct KVMSetup: Sendable, Equatable {
    /// KVM_CREATE_VM's type (0: the default VM type).
    public var vmType: UInt64

    public init(vmType: UInt64 = 0) { self.vmType = vmType }
}

extension Handle: JSONRawEnum {}
extension Backing: JSONRawEnum {}

extension DevicePlan: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("iommufd", iommufd)
            $0.add("kvm", kvm)
            $0.add("vm", vm)
            $0.add("series", series)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        iommufd = try o.optional("iommufd")
        kvm = try o.optional("kvm")
        vm = try o.optional("vm")
        series = try o.required("series")
    }
}

extension IommufdSetup: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("pciDevice", pciDevice)
            $0.add("mappings", mappings)
            $0.add("hwptToken", hwptToken)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        pciDevice = try o.required("pciDevice")
        mappings = try o.required("mappings")
        hwptToken = try o.required("hwptToken")
    }
}

extension IommufdSetup.Mapping: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("object", object)
            $0.add("iova", iova)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        object = try o.required("object")
        iova = try o.required("iova")
    }
}

extension KVMSetup: JSONConvertible {
    public var json: JSON { .build { $0.add("vmType", vmType) } }

    public init(json: JSON) throws(JSONError) {
        vmType = try JSONObject(json).required("vmType")
    }
}
