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

    static func makeArm64(config: VMConfig, name: String, kernelPath: String, initrdPath: String) -> String {
        let kvm = config.accelerator == .kvm
        return """
        <domain type='\(kvm ? "kvm" : "qemu")'>
          <name>\(escape(name))</name>
          <description>handover VM (\(config.accelerator.rawValue), aarch64)</description>
          <memory unit='MiB'>\(config.memoryMiB)</memory>
          <currentMemory unit='MiB'>\(config.memoryMiB)</currentMemory>
          <vcpu placement='static'>\(config.cpus)</vcpu>
          <os>
            <type arch='\(Architecture.arm64.libvirtArch)' machine='virt'>hvm</type>
            <kernel>\(escape(kernelPath))</kernel>
            <initrd>\(escape(initrdPath))</initrd>
            <cmdline>\(escape(config.cmdline))</cmdline>
          </os>
          <cpu mode='\(kvm ? "host-passthrough" : "maximum")' check='none'>
            <topology sockets='1' dies='1' cores='\(config.cpus)' threads='1'/>
          </cpu>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <controller type='usb' model='none'/>
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
            <memballoon model='none'/>
          </devices>
        </domain>

        """
    }
}
