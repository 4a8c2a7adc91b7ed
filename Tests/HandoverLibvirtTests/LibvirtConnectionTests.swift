import Foundation
import Testing
@testable import HandoverLibvirt
@testable import HandoverSupport
@testable import HandoverMachines
@testable import HandoverRuns

/// Against libvirt's daemon-less test driver (test:///default) and a port nothing listens on:
/// no libvirtd needed.
@Suite("libvirt connection and errors")
struct LibvirtConnectionTests {
    @Test("the test driver connects and answers")
    func connects() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        #expect(try connection.hypervisorVersion() > 0)
        #expect(try connection.activeDomainNames().contains("test"))
    }

    @Test("a missing domain becomes a HarnessError carrying libvirt's message")
    func missingDomain() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        do {
            _ = try connection.lookupDomain(named: "handover-missing")
            Issue.record("looking up a missing domain should fail")
        } catch let error as HarnessError {
            #expect(error.code == .notFound)
            #expect(error.message.hasPrefix("libvirt: "), "\(error.message)")
            #expect(error.message.contains("Domain not found"), "\(error.message)")
            #expect(error.message.contains("handover-missing"), "\(error.message)")
        }
    }

    @Test("a refused connection becomes a HarnessError carrying libvirt's message")
    func refusedConnection() throws {
        do {
            _ = try LibvirtConnection(uri: "qemu+tcp://127.0.0.1:1/system")
            Issue.record("connecting to port 1 should fail")
        } catch let error as HarnessError {
            #expect(error.code == .toolFailed)
            #expect(error.message.hasPrefix("libvirt: "), "\(error.message)")
            #expect(error.message.contains("127.0.0.1"), "\(error.message)")
            #expect(error.message.contains("qemu+tcp://127.0.0.1:1/system"), "\(error.message)")
        }
    }

    @Test("the libvirt backend's machine maker builds LibvirtMachines; the QEMU-only one refuses libvirt")
    func makesLibvirtMachines() throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let config = VMConfig(kernel: URL(fileURLWithPath: "/k"), initrd: URL(fileURLWithPath: "/i"), cmdline: "console=ttyS0", accelerator: .tcg)
        #expect(throws: HarnessError.self) { try MachineMaker.qemu.make(.libvirt(uri: "test:///default"), config: config, directory: directory) }
        let machine = try LibvirtBackend.machines.make(.libvirt(uri: "test:///default"), config: config, directory: directory)
        let libvirt = try #require(machine as? LibvirtMachine)
        #expect(libvirt.uri == "test:///default")
        #expect(machine.launchDescription.contains("<name>\(libvirt.name)</name>"))
        // Before the uploads name the volumes, the domain is shown with the local files.
        #expect(machine.launchDescription.contains("<kernel>/k</kernel>"))
        #expect(machine.setup == .none)
        #expect(machine.artifacts.map(\.1) == ["console.log", "transcript.jsonl", "domain.xml"])
        machine.stop()
        machine.stop()
    }

    @Test("a start that fails in libvirt throws libvirt's message, records its set-up so far, and stop() can run again")
    func failedStartCleansUp() async throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let kernel = directory.file("bzImage")
        try Data(repeating: 7, count: 4096).write(to: kernel)
        let config = VMConfig(kernel: kernel, initrd: kernel, cmdline: "console=ttyS0", accelerator: .tcg)
        let before = Set(try LibvirtConnection(uri: "test:///default").activePoolNames())
        let machine = LibvirtMachine(config: config, directory: directory, uri: "test:///default")
        do {
            try await machine.start()
            Issue.record("the test driver cannot build a dir pool, so the start should fail")
        } catch let error as HarnessError {
            #expect(error.message.hasPrefix("libvirt: "), "\(error.message)")
            #expect(error.message.contains("creating the storage pool handover-"), "\(error.message)")
        }
        // The set-up is reported as far as it got: connected, then the kernel's upload failed.
        let setup = machine.setup
        #expect(setup.steps.map(\.name) == ["connect", "upload kernel"])
        #expect(setup.steps.allSatisfy { $0.seconds >= 0 })
        #expect(setup.seconds >= setup.steps.reduce(0) { $0 + $1.seconds })
        machine.stop()
        machine.stop()
        let after = Set(try LibvirtConnection(uri: "test:///default").activePoolNames())
        #expect(after.subtracting(before).isEmpty, "pools left: \(after.subtracting(before))")
    }

    @Test("a missing kernel is named before anything reaches libvirt")
    func missingKernel() async throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let missing = directory.file("no-such-kernel")
        let config = VMConfig(kernel: missing, initrd: missing, cmdline: "console=ttyS0", accelerator: .tcg)
        let machine = LibvirtMachine(config: config, directory: directory, uri: "test:///default")
        defer { machine.stop() }
        do {
            try await machine.start()
            Issue.record("starting from a missing kernel should fail")
        } catch let error as HarnessError {
            #expect(error.code == .io)
            #expect(error.message.contains(missing.path), "\(error.message)")
        }
    }

    @Test("which URIs are this machine")
    func locality() {
        #expect(LibvirtRuntime.isLocal("qemu:///system"))
        #expect(LibvirtRuntime.isLocal("qemu+tcp://127.0.0.1:16519/system"))
        #expect(LibvirtRuntime.isLocal("qemu+ssh://localhost/system"))
        #expect(!LibvirtRuntime.isLocal("qemu+ssh://build-host.example/system"))
    }

    @Test("stopped details map to statuses RunTracker understands")
    func statuses() {
        #expect(LibvirtMachine.stoppedStatus(detail: 0) == "stopped (shutdown)")
        #expect(LibvirtMachine.stoppedStatus(detail: 1).hasPrefix("signaled"))
        #expect(LibvirtMachine.stoppedStatus(detail: 5).hasPrefix("signaled"))
        #expect(LibvirtMachine.stoppedStatus(detail: 2) == "stopped (crashed)")
    }
}
