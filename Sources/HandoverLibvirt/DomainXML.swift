import Foundation
import HandoverSupport
import HandoverImages
import HandoverMachines

/// The libvirt domain of a handover VM, the counterpart of QemuCommand: direct kernel boot,
/// no disks and no network, the serial console and the agent's channel on two serial ports
/// (ptys, both read through libvirt streams), and every way out of the guest (power
/// off, reboot, crash) destroying the transient domain. A kexec inside the guest is not a
/// reboot for the hypervisor, so it carries on. The CPU is QEMU's for the accelerator (`max`
/// under TCG, the host's under KVM) with QEMU's own topology for `-smp N` on this machine type
/// (one socket of N cores), so the guest sees the same hardware under both backends.
public enum DomainXML {
    /// A fresh domain (and pool) name naming its owner: handover-PID-START-BOOT-<8 hex digits>
    /// (see RunOwner), so a later handover can tell a dead runner's leftovers from a live one's.
    public static func uniqueName(owner: RunOwner = .current) -> String {
        "handover-\(owner.tag)-" + String((0..<8).map { _ in "0123456789abcdef".randomElement()! })
    }

    /// The owner named in a domain or pool name made by `uniqueName`, or nil for any other name.
    public static func owner(ofName name: String) -> RunOwner? {
        guard name.hasPrefix("handover-") else { return nil }
        let parts = name.dropFirst("handover-".count).split(separator: "-")
        guard parts.count == 4, parts[3].count == 8 else { return nil }
        return RunOwner(tag: parts[0...2].joined(separator: "-"))
    }

    public static func make(config: VMConfig, name: String, kernelPath: String, initrdPath: String) -> String {
        let kvm = config.accelerator == .kvm
        let arm64 = config.arch == .arm64
        let namespace = arm64 ? "" : " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
        let machine = arm64 ? "<type arch='\(Architecture.arm64.libvirtArch)' machine='virt'>hvm</type>"
                            : "<type arch='x86_64' machine='\(escape(config.machine))'>hvm</type>"
        // x86_64 boots with ACPI; the arm64 guest from the device tree QEMU generates.
        let features = arm64 ? "" : "  <features>\n    <acpi/>\n  </features>\n"
        return """
        <domain type='\(kvm ? "kvm" : "qemu")'\(namespace)>
          <name>\(escape(name))</name>
          <description>handover VM (\(config.accelerator.rawValue)\(arm64 ? ", aarch64" : ""))</description>
          <memory unit='MiB'>\(config.memoryMiB)</memory>
          <currentMemory unit='MiB'>\(config.memoryMiB)</currentMemory>
          <vcpu placement='static'>\(config.cpus)</vcpu>
          <os>
            \(machine)
            <kernel>\(escape(kernelPath))</kernel>
            <initrd>\(escape(initrdPath))</initrd>
            <cmdline>\(escape(config.cmdline))</cmdline>
          </os>
        \(features)  <cpu mode='\(kvm ? "host-passthrough" : "maximum")' check='none'>
            <topology sockets='1' dies='1' cores='\(config.cpus)' threads='1'/>
          </cpu>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <controller type='usb' model='none'/>
        \(arm64 ? arm64Channels : x86Channels)    <memballoon model='none'/>
        \(iommuDevices(config.topology))  </devices>
        \(arm64 ? "" : passthroughArguments(config.topology))</domain>

        """
    }

    /// The console and the agent's channel: two serial ports (ttyS0, ttyS1).
    static let x86Channels = """
            <serial type='pty'>
              <target port='0'/>
            </serial>
            <console type='pty'>
              <target type='serial' port='0'/>
            </console>
            <serial type='pty'>
              <target port='1'/>
            </serial>

        """

    /// libvirt models the Intel IOMMU itself (caching mode as for QEMU directly).
    static func iommuDevices(_ topology: Topology) -> String {
        guard case .iommu = topology else { return "" }
        return """
            <iommu model='intel'>
              <driver caching_mode='on'/>
            </iommu>

        """
    }

    /// The device to assign has no libvirt element (QEMU's edu), so it goes on QEMU's command
    /// line through libvirt's qemu namespace, at a root-bus slot libvirt does not hand out (it
    /// fills pcie.0 from slot 1 with root ports).
    static func passthroughArguments(_ topology: Topology) -> String {
        guard case .iommu(let device) = topology else { return "" }
        return """
          <qemu:commandline>
            <qemu:arg value='-device'/>
            <qemu:arg value='\(escape(device.rawValue)),id=assigned0,bus=pcie.0,addr=0x10'/>
          </qemu:commandline>

        """
    }

    /// A transient directory pool holding one VM's kernel and initramfs on the libvirt host.
    public static func pool(name: String, path: String) -> String {
        """
        <pool type='dir'>
          <name>\(escape(name))</name>
          <target>
            <path>\(escape(path))</path>
            <permissions>
              <mode>0755</mode>
            </permissions>
          </target>
        </pool>

        """
    }

    /// A raw volume of exactly `bytes`, filled afterwards by a volume upload.
    public static func volume(name: String, bytes: Int) -> String {
        """
        <volume type='file'>
          <name>\(escape(name))</name>
          <capacity unit='bytes'>\(bytes)</capacity>
          <allocation unit='bytes'>0</allocation>
          <target>
            <format type='raw'/>
            <permissions>
              <mode>0644</mode>
            </permissions>
          </target>
        </volume>

        """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
