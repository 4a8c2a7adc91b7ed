import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import HandoverLibvirt
@testable import HandoverMachines

/// Issue 20: the aarch64 domain, the counterpart of QemuCommand's arm64 arguments.
@Suite("libvirt domain XML for aarch64")
struct DomainXMLArm64Tests {
    func xml(_ accelerator: Accelerator) throws -> XMLElement {
        var config = VMConfig(kernel: URL(fileURLWithPath: "/cache/Image"), initrd: URL(fileURLWithPath: "/run/initrd-1.cpio"),
                              cmdline: QemuCommand.kernelCommandLine(stage: 1, arch: .arm64), accelerator: accelerator)
        config.arch = .arm64
        config.cpus = 2
        let text = DomainXML.make(config: config, name: "handover-arm", kernelPath: "/pool/Image", initrdPath: "/pool/initrd")
        return try #require(try XMLDocument(xmlString: text, options: []).rootElement())
    }

    @Test("os type aarch64 on the virt machine, direct kernel boot, no ACPI")
    func virtMachine() throws {
        let root = try xml(.tcg)
        #expect(root.attribute(forName: "type")?.stringValue == "qemu")
        let type = try #require(try root.nodes(forXPath: "os/type").first as? XMLElement)
        #expect(type.attribute(forName: "arch")?.stringValue == "aarch64")
        #expect(type.attribute(forName: "machine")?.stringValue == "virt")
        #expect(try root.nodes(forXPath: "os/kernel").first?.stringValue == "/pool/Image")
        #expect(try root.nodes(forXPath: "os/cmdline").first?.stringValue?.contains("console=ttyAMA0") == true)
        #expect(try root.nodes(forXPath: "features/acpi").isEmpty)
        #expect((try root.nodes(forXPath: "cpu").first as? XMLElement)?.attribute(forName: "mode")?.stringValue == "maximum")
        #expect((try xml(.kvm).nodes(forXPath: "cpu").first as? XMLElement)?.attribute(forName: "mode")?.stringValue == "host-passthrough")
    }

    @Test("the console on the PL011, the agent's channel a virtio console on virtio-mmio")
    func devices() throws {
        let root = try xml(.tcg)
        let model = try #require(try root.nodes(forXPath: "devices/serial/target/model").first as? XMLElement)
        #expect(model.attribute(forName: "name")?.stringValue == "pl011")
        #expect(try root.nodes(forXPath: "devices/serial").count == 1)
        let consoles = try root.nodes(forXPath: "devices/console/target").compactMap { ($0 as? XMLElement)?.attribute(forName: "type")?.stringValue }
        #expect(consoles == ["serial", "virtio"])
        let address = try #require(try root.nodes(forXPath: "devices/controller[@type='virtio-serial']/address").first as? XMLElement)
        #expect(address.attribute(forName: "type")?.stringValue == "virtio-mmio")
        #expect(DomainXML.agentChannelAlias(.arm64) == "console1")
        #expect(DomainXML.agentChannelAlias(.x86_64) == "serial1")
    }
}
