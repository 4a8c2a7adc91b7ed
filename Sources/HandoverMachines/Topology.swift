import Foundation

/// Emulated PCI devices a guest can hand to vfio-pci: no driver of a handover kernel claims them.
public enum AssignableDevice: String, Sendable, CaseIterable, Codable {
    /// QEMU's educational device (DMA engine, MSI); always built into qemu-system-x86.
    case edu
    case e1000e

    public var pciID: String {
        switch self {
        case .edu: "1234:11e8"
        case .e1000e: "8086:10d3"
        }
    }
}

/// The shape of a VM beyond CPU and memory: what a scenario needs from the machine.
public enum Topology: Sendable, Equatable {
    /// Machine pc, only the serial console and the agent's serial port (ttyS1).
    case plain
    /// Machine q35 with QEMU's Intel IOMMU (caching mode, so assigned devices' mappings reach
    /// QEMU) and a PCI device behind it for the guest to bind to vfio-pci.
    case iommu(AssignableDevice)

    public var description: String {
        switch self {
        case .plain: "pc"
        case .iommu(let device): "q35 with intel-iommu (caching-mode) and \(device.rawValue) (\(device.pciID)) for vfio-pci"
        }
    }

    var machine: String {
        switch self {
        case .plain: "pc"
        case .iommu: "q35"
        }
    }

    /// QEMU arguments placed before the other devices (the IOMMU must exist before PCI devices are added).
    var qemuArguments: [String] {
        switch self {
        case .plain: []
        case .iommu(let device): ["-device", "intel-iommu,caching-mode=on", "-device", "\(device.rawValue),id=assigned0"]
        }
    }

    /// Kernel command line words the guest needs for this topology.
    public var kernelArguments: [String] {
        switch self {
        case .plain: []
        // The emulated IOMMU has no interrupt remapping here (a tiny guest has no IRQ_REMAP), and
        // without isolated MSI iommufd refuses to bind a device (EPERM) unless told otherwise.
        case .iommu: ["intel_iommu=on", "iommufd.allow_unsafe_interrupts=1"]
        }
    }
}

/// Whether a VM started with this accelerator can run KVM inside it, as far as the host can tell
/// before booting anything; the guest agent then reports what it actually found.
public struct NestedVirtualization: Codable, Sendable, Equatable {
    public var expected: Bool
    public var reason: String

    public static func detect(_ accelerator: Accelerator, sysfs: URL = URL(fileURLWithPath: "/sys/module")) -> NestedVirtualization {
        switch accelerator {
        case .tcg:
            return NestedVirtualization(expected: true, reason: "TCG's -cpu max emulates AMD-V (svm); whether KVM runs on it inside the guest is up to the guest's kvm_amd")
        case .kvm:
            for module in ["kvm_intel", "kvm_amd"] {
                let file = sysfs.appendingPathComponent("\(module)/parameters/nested")
                guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
                let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
                let on = value == "Y" || value == "1"
                return NestedVirtualization(expected: on, reason: "host \(module) nested=\(value)" + (on ? "" : "; the guest sees no vmx/svm"))
            }
            return NestedVirtualization(expected: false, reason: "host has neither kvm_intel nor kvm_amd loaded with a nested parameter")
        }
    }
}
