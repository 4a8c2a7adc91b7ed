import Foundation
import HandoverImages
import HandoverMachines

/// The aarch64 domain (issue 20), the counterpart of QemuCommand's arm64 arguments: the virt
/// machine, its PL011 as the console, and the agent's channel as a virtio console (hvc0 in the
/// guest) on a virtio-serial controller placed on virtio-mmio (handover's arm64 kernels have
/// no PCI; libvirt would put it on PCIe otherwise). No ACPI: the guest boots from the device
/// tree QEMU generates.
extension DomainXML {
    /// The device libvirt's console API opens for the agent's channel: x86_64's second serial
    /// port, arm64's second console (the virtio one).
    public static func agentChannelAlias(_ arch: Architecture) -> String {
        arch == .arm64 ? "console1" : "serial1"
    }

    /// The PL011 as the console, and the agent's channel as a virtio console (hvc0).
    static let arm64Channels = """
            <controller type='virtio-serial' index='0'>
              <address type='virtio-mmio'/>
            </controller>
            <serial type='pty'>
              <target type='system-serial' port='0'>
                <model name='pl011'/>
              </target>
            </serial>
            <console type='pty'>
              <target type='serial' port='0'/>
            </console>
            <console type='pty'>
              <target type='virtio' port='1'/>
            </console>

        """
}
