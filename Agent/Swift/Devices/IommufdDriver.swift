import CLiveUpdate

import HandoverCore

/// Stage 1 of an iommufd scenario: hand the PCI device to vfio-pci, bind its cdev to an
/// iommufd, give it an IOAS and a HWPT, mark the HWPT preserved (with the series), and map the
/// plan's memfds into the IOAS at fixed IOVAs.
struct IommufdDriver {
    let agent: Agent

    func setUp(_ setup: IommufdSetup, devices: DevicePlan, objects: [String: Int32], handles: inout [Handle: Int32]) throws(SetupRefusal) {
        let address = try agent.setupStep(.findDevice) { () throws(SetupRefusal) in
            let address = try findDevice(setup.pciDevice)
            return (address, "\(setup.pciDevice) at \(address)")
        }
        let device = "/sys/bus/pci/devices/\(address)"
        try agent.setupStep(.iommuGroup) { () throws(SetupRefusal) in
            guard let group = Files.link("\(device)/iommu_group") else {
                throw SetupRefusal(step: .iommuGroup, errno: ENOENT, detail: "\(device)/iommu_group does not exist")
            }
            return ((), "group \(group.split(separator: "/").last ?? "?")")
        }
        let cdevName = try agent.setupStep(.bindVFIO) { () throws(SetupRefusal) in
            let name = try bindToVFIO(address: address, device: device)
            return (name, "\(address) bound to vfio-pci, cdev /dev/vfio/devices/\(name)")
        }
        let cdevPath = "/dev/vfio/devices/\(cdevName)"

        let iommufd = try agent.setupStep(.openIommufd) { () throws(SetupRefusal) in
            let fd = hv_open("/dev/iommu", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw SetupRefusal(step: .openIommufd, errno: errno, detail: "open /dev/iommu: \(errnoName(errno))") }
            return (fd, "/dev/iommu")
        }
        handles[.iommufd] = iommufd
        let cdev = try agent.setupStep(.openVFIOCdev) { () throws(SetupRefusal) in
            let fd = hv_open(cdevPath, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw SetupRefusal(step: .openVFIOCdev, errno: errno, detail: "open \(cdevPath): \(errnoName(errno))") }
            return (fd, cdevPath)
        }
        handles[.vfioDevice] = cdev

        var deviceID: UInt32 = 0
        try agent.setupStep(.bindIommufd) { () throws(SetupRefusal) in
            try require(.bindIommufd, "VFIO_DEVICE_BIND_IOMMUFD", hv_vfio_bind_iommufd(cdev, iommufd, &deviceID))
            return ((), "device id \(deviceID)")
        }
        var ioas: UInt32 = 0
        try agent.setupStep(.allocIOAS) { () throws(SetupRefusal) in
            try require(.allocIOAS, "IOMMU_IOAS_ALLOC", hv_iommufd_ioas_alloc(iommufd, &ioas))
            return ((), "IOAS \(ioas)")
        }
        var hwpt: UInt32 = 0
        try agent.setupStep(.allocHWPT) { () throws(SetupRefusal) in
            try require(.allocHWPT, "IOMMU_HWPT_ALLOC", hv_iommufd_hwpt_alloc(iommufd, deviceID, ioas, &hwpt))
            return ((), "HWPT \(hwpt) on IOAS \(ioas)")
        }
        try agent.setupStep(.attachHWPT) { () throws(SetupRefusal) in
            try require(.attachHWPT, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", hv_vfio_attach_pt(cdev, hwpt))
            return ((), "device \(deviceID) attached to HWPT \(hwpt)")
        }

        if devices.carries(.iommufdLU202602) {
            try agent.setupStep(.setPreserve) { () throws(SetupRefusal) in
                try require(.setPreserve, "IOMMU_HWPT_LU_SET_PRESERVE (iommufd-lu-2026-02)", hv_iommufd_lu_2026_02_set_preserve(iommufd, hwpt, setup.hwptToken))
                return ((), "HWPT \(hwpt) preserved under token \(setup.hwptToken)")
            }
        } else {
            agent.skippedStep(.setPreserve, "kernel \(Machine.release) carries no iommufd live update series (no iommufd ABI string), so IOMMU_HWPT_LU_SET_PRESERVE was not issued; its number is another ioctl in mainline")
        }

        for mapping in setup.mappings {
            guard let fd = objects[mapping.object], let spec = agent.plan?.object(named: mapping.object) else {
                throw SetupRefusal(step: .mapMemfd, errno: nil, detail: "no memfd '\(mapping.object)' to map")
            }
            try agent.setupStep(.mapMemfd) { () throws(SetupRefusal) in
                try require(.mapMemfd, "IOMMU_IOAS_MAP_FILE \(mapping.object)",
                            hv_iommufd_map_file(iommufd, ioas, fd, 0, UInt64(spec.size), mapping.iova))
                return ((), "\(mapping.object) (\(spec.size) bytes) at IOVA \(hexString(mapping.iova)) in IOAS \(ioas)")
            }
        }
    }

    /// The PCI address (0000:00:03.0) of the first device with this vendor:device.
    func findDevice(_ id: String) throws(SetupRefusal) -> String {
        let parts = id.split(separator: ":").map { "0x" + $0 }
        var seen: [String] = []
        for address in Files.list("/sys/bus/pci/devices") {
            let vendor = Files.read("/sys/bus/pci/devices/\(address)/vendor")?.trimmed ?? ""
            let device = Files.read("/sys/bus/pci/devices/\(address)/device")?.trimmed ?? ""
            if parts.count == 2, vendor == parts[0], device == parts[1] { return address }
            seen.append("\(address) \(vendor.dropFirst(2)):\(device.dropFirst(2))")
        }
        throw SetupRefusal(step: .findDevice, errno: ENODEV,
                           detail: "no PCI device \(id) in this VM (devices: \(seen.isEmpty ? "none" : seen.joined(separator: ", ")))")
    }

    /// Unbinds the device from its driver if it has one and hands it to vfio-pci with
    /// driver_override; returns the name of its VFIO cdev (vfio0).
    func bindToVFIO(address: String, device: String) throws(SetupRefusal) -> String {
        guard Files.exists("/sys/bus/pci/drivers/vfio-pci") else {
            throw SetupRefusal(step: .bindVFIO, errno: ENOENT, detail: "/sys/bus/pci/drivers/vfio-pci does not exist")
        }
        if let driver = Files.link("\(device)/driver"), !driver.hasSuffix("/vfio-pci") {
            let rc = Files.write("\(device)/driver/unbind", address)
            if rc != 0 { throw SetupRefusal(step: .bindVFIO, errno: rc, detail: "unbind \(address) from \(driver): \(errnoName(rc))") }
        }
        if Files.link("\(device)/driver")?.hasSuffix("/vfio-pci") != true {
            var rc = Files.write("\(device)/driver_override", "vfio-pci")
            if rc != 0 { throw SetupRefusal(step: .bindVFIO, errno: rc, detail: "driver_override of \(address): \(errnoName(rc))") }
            rc = Files.write("/sys/bus/pci/drivers/vfio-pci/bind", address)
            if rc != 0 { throw SetupRefusal(step: .bindVFIO, errno: rc, detail: "bind \(address) to vfio-pci: \(errnoName(rc))") }
        }
        guard let cdev = Files.list("\(device)/vfio-dev").first(where: { $0.hasPrefix("vfio") }) else {
            throw SetupRefusal(step: .bindVFIO, errno: ENOENT, detail: "\(address) is bound to vfio-pci but has no \(device)/vfio-dev/vfioN (VFIO_DEVICE_CDEV)")
        }
        return cdev
    }
}

extension Agent {
    /// Commands mode: find the plan's device and bind it to vfio-pci, reported as setup steps; a
    /// refusal is reported and left to the tests, which then fail or skip on their own.
    func bindForCommands(_ setup: IommufdSetup) {
        let driver = IommufdDriver(agent: self)
        do throws(SetupRefusal) {
            let address = try setupStep(.findDevice) { () throws(SetupRefusal) in
                let address = try driver.findDevice(setup.pciDevice)
                return (address, "\(setup.pciDevice) at \(address)")
            }
            try setupStep(.bindVFIO) { () throws(SetupRefusal) in
                let name = try driver.bindToVFIO(address: address, device: "/sys/bus/pci/devices/\(address)")
                return ((), "\(address) bound to vfio-pci, cdev /dev/vfio/devices/\(name)")
            }
        } catch {
            port.send(.log("selftest device setup: \(error.detail)"))
        }
    }
}
