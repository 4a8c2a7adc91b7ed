import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import HandoverLibvirt
@testable import HandoverSupport
@testable import HandoverMachines

@Suite("libvirt domain XML")
struct DomainXMLTests {
    func config(_ accelerator: Accelerator, cmdline: String = "console=ttyS0 kho=on liveupdate=on handover.stage=1") -> VMConfig {
        var config = VMConfig(kernel: URL(fileURLWithPath: "/cache/bzImage"), initrd: URL(fileURLWithPath: "/run/initrd-1.cpio"),
                              cmdline: cmdline, accelerator: accelerator)
        config.memoryMiB = 768
        config.cpus = 3
        return config
    }

    func parse(_ xml: String) throws -> XMLElement {
        try #require(try XMLDocument(xmlString: xml, options: []).rootElement())
    }

    func text(_ root: XMLElement, _ path: String) throws -> String? {
        try root.nodes(forXPath: path).first?.stringValue
    }

    @Test("a TCG domain: type qemu, memory, vcpus, direct kernel boot from the given paths")
    func tcgDomain() throws {
        let root = try parse(DomainXML.make(config: config(.tcg), name: "handover-abc", kernelPath: "/pool/kernel", initrdPath: "/pool/initrd"))
        #expect(root.name == "domain")
        #expect(root.attribute(forName: "type")?.stringValue == "qemu")
        #expect(try text(root, "name") == "handover-abc")
        #expect(try text(root, "memory") == "768")
        #expect((try root.nodes(forXPath: "memory").first as? XMLElement)?.attribute(forName: "unit")?.stringValue == "MiB")
        #expect(try text(root, "vcpu") == "3")
        let type = try #require(try root.nodes(forXPath: "os/type").first as? XMLElement)
        #expect(type.stringValue == "hvm")
        #expect(type.attribute(forName: "arch")?.stringValue == "x86_64")
        #expect(type.attribute(forName: "machine")?.stringValue == "pc")
        #expect(try text(root, "os/kernel") == "/pool/kernel")
        #expect(try text(root, "os/initrd") == "/pool/initrd")
        #expect(try text(root, "os/cmdline") == "console=ttyS0 kho=on liveupdate=on handover.stage=1")
        #expect((try root.nodes(forXPath: "cpu").first as? XMLElement)?.attribute(forName: "mode")?.stringValue == "maximum")
        let topology = try #require(try root.nodes(forXPath: "cpu/topology").first as? XMLElement)
        #expect(topology.attribute(forName: "sockets")?.stringValue == "1")
        #expect(topology.attribute(forName: "cores")?.stringValue == "3")
    }

    @Test("the IOMMU topology: q35, libvirt's intel IOMMU in caching mode, the device on QEMU's command line")
    func iommuDomain() throws {
        var iommu = config(.tcg)
        iommu.topology = .iommu(.edu)
        let root = try parse(DomainXML.make(config: iommu, name: "handover-iommu", kernelPath: "/k", initrdPath: "/i"))
        #expect((try root.nodes(forXPath: "os/type").first as? XMLElement)?.attribute(forName: "machine")?.stringValue == "q35")
        let model = try #require(try root.nodes(forXPath: "devices/iommu").first as? XMLElement)
        #expect(model.attribute(forName: "model")?.stringValue == "intel")
        let driver = try #require(try root.nodes(forXPath: "devices/iommu/driver").first as? XMLElement)
        #expect(driver.attribute(forName: "caching_mode")?.stringValue == "on")
        let xml = DomainXML.make(config: iommu, name: "handover-iommu", kernelPath: "/k", initrdPath: "/i")
        #expect(xml.contains("<qemu:arg value='-device'/>"))
        #expect(xml.contains("<qemu:arg value='edu,id=assigned0,bus=pcie.0,addr=0x10'/>"))
        let plain = DomainXML.make(config: config(.tcg), name: "handover-plain", kernelPath: "/k", initrdPath: "/i")
        #expect(!plain.contains("iommu") && !plain.contains("qemu:commandline"))
    }

    @Test("a KVM domain has type kvm and the host's CPU")
    func kvmDomain() throws {
        let root = try parse(DomainXML.make(config: config(.kvm), name: "handover-kvm", kernelPath: "/k", initrdPath: "/i"))
        #expect(root.attribute(forName: "type")?.stringValue == "kvm")
        #expect((try root.nodes(forXPath: "cpu").first as? XMLElement)?.attribute(forName: "mode")?.stringValue == "host-passthrough")
    }

    @Test("every way out of the guest destroys the transient domain")
    func lifecycleActions() throws {
        let root = try parse(DomainXML.make(config: config(.tcg), name: "handover-x", kernelPath: "/k", initrdPath: "/i"))
        #expect(try text(root, "on_reboot") == "destroy")
        #expect(try text(root, "on_crash") == "destroy")
        #expect(try text(root, "on_poweroff") == "destroy")
    }

    @Test("a pty serial console and the agent's serial port, no disks and no network")
    func devices() throws {
        let root = try parse(DomainXML.make(config: config(.tcg), name: "handover-x", kernelPath: "/k", initrdPath: "/i"))
        let serials = try root.nodes(forXPath: "devices/serial").compactMap { $0 as? XMLElement }
        #expect(serials.map { $0.attribute(forName: "type")?.stringValue } == ["pty", "pty"])
        #expect(try serials.map { try ($0.nodes(forXPath: "target/@port").first?.stringValue) } == ["0", "1"])
        #expect((try root.nodes(forXPath: "devices/console").first as? XMLElement)?.attribute(forName: "type")?.stringValue == "pty")
        #expect(try root.nodes(forXPath: "devices/channel").isEmpty)
        #expect(try root.nodes(forXPath: "devices/controller[@type='virtio-serial']").isEmpty)
        #expect(try root.nodes(forXPath: "devices/disk").isEmpty)
        #expect(try root.nodes(forXPath: "devices/interface").isEmpty)
    }

    @Test("the command line and paths are escaped")
    func escaping() throws {
        let cmdline = "console=ttyS0 handover.note=<a&b> quote=\"x\" 'y'"
        let root = try parse(DomainXML.make(config: config(.tcg, cmdline: cmdline), name: "handover-x", kernelPath: "/p&q/k", initrdPath: "/i"))
        #expect(try text(root, "os/cmdline") == cmdline)
        #expect(try text(root, "os/kernel") == "/p&q/k")
    }

    @Test("pool and volume definitions")
    func poolAndVolume() throws {
        let pool = try parse(DomainXML.pool(name: "handover-x", path: "/var/lib/libvirt/handover-pools/handover-x"))
        #expect(pool.attribute(forName: "type")?.stringValue == "dir")
        #expect(try text(pool, "target/path") == "/var/lib/libvirt/handover-pools/handover-x")
        let volume = try parse(DomainXML.volume(name: "kernel", bytes: 12345))
        #expect(try text(volume, "name") == "kernel")
        #expect(try text(volume, "capacity") == "12345")
        #expect((try volume.nodes(forXPath: "target/format").first as? XMLElement)?.attribute(forName: "type")?.stringValue == "raw")
    }

    @Test("domain names are unique and recognisable")
    func names() {
        let names = Set((0..<100).map { _ in DomainXML.uniqueName() })
        #expect(names.count == 100)
        #expect(names.allSatisfy { $0.hasPrefix("handover-") })
        // Each names its owner, so a later handover can tell a dead runner's leftovers.
        #expect(names.allSatisfy { DomainXML.owner(ofName: $0) == RunOwner.current })
        #expect(DomainXML.owner(ofName: "handover-0123456789ab") == nil)
    }
}
