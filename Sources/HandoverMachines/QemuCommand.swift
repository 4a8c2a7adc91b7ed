import Foundation
import HandoverImages

public enum Accelerator: String, Codable, Sendable, CaseIterable {
    case kvm, tcg
}

/// Everything that decides a VM's QEMU command line.
public struct VMConfig: Sendable, Equatable {
    public var kernel: URL
    public var initrd: URL
    public var cmdline: String
    public var accelerator: Accelerator
    public var topology: Topology = .plain
    public var machine: String { topology.machine }
    public var memoryMiB: Int = 1024
    public var cpus: Int = 2
    /// The guest's architecture: x86_64 (pc/q35) or arm64 (virt); see QemuCommand+Arm64.
    public var arch: Architecture = .default

    public init(kernel: URL, initrd: URL, cmdline: String, accelerator: Accelerator) {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
        self.accelerator = accelerator
    }
}

/// The command line of a handover VM: direct kernel boot, no default devices, the serial
/// console (COM1, ttyS0) and the agent's channel (COM2, ttyS1) on unix sockets that the runner listens on
/// (so both are connected before the guest runs), and a QMP socket QEMU listens on.
public enum QemuCommand {
    public static let binary = "qemu-system-x86_64"

    public static func arguments(_ config: VMConfig, consoleSocket: URL, agentSocket: URL, qmpSocket: URL) -> [String] {
        if config.arch == .arm64 { return arm64Arguments(config, consoleSocket: consoleSocket, agentSocket: agentSocket, qmpSocket: qmpSocket) }
        var args = [
            "-name", "handover",
            "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
            "-machine", config.machine,
            "-accel", config.accelerator == .kvm ? "kvm" : "tcg,thread=multi",
            "-cpu", config.accelerator == .kvm ? "host" : "max",
            "-smp", String(config.cpus),
            "-m", "\(config.memoryMiB)M",
            "-kernel", config.kernel.path,
            "-initrd", config.initrd.path,
            "-append", config.cmdline,
        ]
        args += config.topology.qemuArguments
        args += [
            "-chardev", "socket,id=console,path=\(consoleSocket.path)",
            "-serial", "chardev:console",
            "-chardev", "socket,id=agent,path=\(agentSocket.path)",
            "-serial", "chardev:agent",
            "-qmp", "unix:\(qmpSocket.path),server=on,wait=off",
        ]
        return args
    }

    /// The kernel command line handover boots with: serial console, KHO and LUO on, panics
    /// end the VM at once (with -no-reboot). (The Embedded Swift agent needs no SWIFT_ROOT.)
    public static func kernelCommandLine(stage: Int, extra: [String] = [], arch: Architecture = .default) -> String {
        if arch != .x86_64 { return arm64KernelCommandLine(stage: stage, extra: extra) }
        return (["console=ttyS0", "kho=on", "liveupdate=on", "panic=-1", "handover.stage=\(stage)"] + extra)
            .joined(separator: " ")
    }

    /// A shell-quoted form, for logs and for people to rerun by hand.
    public static func display(_ arguments: [String], arch: Architecture = .default) -> String {
        ([executable(for: arch)] + arguments).map { word in
            !word.isEmpty && word.allSatisfy({ $0.isLetter || $0.isNumber || "-_=,./:".contains($0) }) ? word : "'\(word.replacingOccurrences(of: "'", with: "'\\''"))'"
        }.joined(separator: " ")
    }
}
