import Foundation
import HandoverImages

public enum Accelerator: String, Codable, Sendable, CaseIterable {
    case kvm, tcg
}

/// Which clock a run's blackout is judged on.
public enum Timing: String, Codable, Sendable, CaseIterable {
    /// The guest's own clock under QEMU's instruction counting (`-icount`, one vCPU): virtual
    /// time is the number of instructions run times a constant, whatever else the host does.
    /// TCG only; KVM has no icount.
    case guest
    /// The host's monotonic clock, as seen by the runner.
    case host

    /// QEMU's instruction counter: 2^3 ns per instruction, never sleeping to keep in step
    /// with the host and never slowing down to match it.
    public static let icountArgument = "shift=3,sleep=off,align=off"

    /// Guest time where it exists (TCG on the qemu backend), else the host's: what matrices and
    /// bisections use unless told.
    public static func preferred(under accelerator: Accelerator, on backend: Backend) -> Timing {
        accelerator == .tcg && backend == .qemu ? .guest : .host
    }

    /// Why this timing cannot run under the accelerator, or nil when it can.
    public func refusal(under accelerator: Accelerator) -> String? {
        self == .guest && accelerator == .kvm
            ? "guest timing needs QEMU's instruction counting (-icount), which exists only under TCG, not KVM; use --timing host with KVM"
            : nil
    }

    /// Why this timing cannot run on the backend: libvirt has no icount setting in its domain
    /// XML, and its QEMU picks its own TCG threading.
    public func refusal(on backend: Backend) -> String? {
        guard self == .guest, case .libvirt = backend else { return nil }
        return "guest timing runs QEMU with -icount, which libvirt's domain XML cannot ask for; use the qemu backend or --timing host"
    }
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
    /// Guest timing runs one vCPU (round-robin scheduling of several is not deterministic
    /// under icount) on single-threaded TCG (QEMU has no multi-threaded TCG with icount).
    public var timing: Timing = .host
    public var vcpus: Int { timing == .guest ? 1 : cpus }
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
/// console (COM1, ttyS0) on a pair of FIFOs (`consolePipe`.in and .out) and the agent's channel
/// (COM2, ttyS1) on a unix socket the runner listens on (so both are connected before the guest
/// runs), and a QMP socket QEMU listens on. The console is a FIFO because QEMU writes it a byte
/// at a time: 278 one-byte writes fill a unix socket, and a full one stalls the guest's console
/// driver on the UART, which under icount lets the runner's own speed into guest time; a FIFO
/// holds a megabyte.
public enum QemuCommand {
    public static let binary = "qemu-system-x86_64"

    public static func arguments(_ config: VMConfig, consolePipe: URL, agentSocket: URL, qmpSocket: URL) -> [String] {
        if config.arch == .arm64 { return arm64Arguments(config, consolePipe: consolePipe, agentSocket: agentSocket, qmpSocket: qmpSocket) }
        var args = [
            "-name", "handover",
            "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
            "-machine", config.machine,
            "-accel", accelArgument(config),
            "-cpu", config.accelerator == .kvm ? "host" : "max",
            "-smp", String(config.vcpus),
            "-m", "\(config.memoryMiB)M",
            "-kernel", config.kernel.path,
            "-initrd", config.initrd.path,
            "-append", config.cmdline,
        ]
        args += icountArguments(config)
        args += config.topology.qemuArguments
        args += [
            "-chardev", "pipe,id=console,path=\(consolePipe.path)",
            "-serial", "chardev:console",
            "-chardev", "socket,id=agent,path=\(agentSocket.path)",
            "-serial", "chardev:agent",
            "-qmp", "unix:\(qmpSocket.path),server=on,wait=off",
        ]
        return args
    }

    static func accelArgument(_ config: VMConfig) -> String {
        switch (config.accelerator, config.timing) {
        case (.kvm, _): "kvm"
        case (.tcg, .guest): "tcg,thread=single"
        case (.tcg, .host): "tcg,thread=multi"
        }
    }

    static func icountArguments(_ config: VMConfig) -> [String] {
        config.timing == .guest ? ["-icount", Timing.icountArgument] : []
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
