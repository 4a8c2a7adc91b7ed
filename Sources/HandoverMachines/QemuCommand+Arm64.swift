import Foundation
import HandoverSupport
import HandoverImages

/// The arm64 side of the QEMU backend (issue 20): qemu-system-aarch64's virt machine with
/// direct kernel boot of an arm64 `Image`. The kernel console is the virt machine's single
/// PL011 (ttyAMA0); QEMU 7.2's virt has no second UART, so the agent's channel is a virtio
/// console (hvc0) on virtio-mmio, a tty like x86_64's ttyS1. The console is a FIFO pair and the
/// agent's channel a unix socket the runner listens on, as on x86_64. KVM only runs an arm64 guest on an arm64 host; elsewhere TCG.
extension QemuCommand {
    public static func executable(for arch: Architecture) -> String { arch.qemuBinary }

    /// The virt machine's CPU under TCG: `max` with the IMPDEF pointer-authentication algorithm
    /// (QEMU's architected QARMA5 costs TCG a lot on every function return; the guest cannot
    /// tell the difference).
    static let arm64TCGCPU = "max,pauth-impdef=on"

    static func arm64Arguments(_ config: VMConfig, consolePipe: URL, agentSocket: URL, qmpSocket: URL) -> [String] {
        icountArguments(config) + [
            "-name", "handover",
            "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
            "-machine", "virt",
            "-accel", accelArgument(config),
            "-cpu", config.accelerator == .kvm ? "host" : arm64TCGCPU,
            "-smp", String(config.vcpus),
            "-m", "\(config.memoryMiB)M",
            "-kernel", config.kernel.path,
            "-initrd", config.initrd.path,
            "-append", config.cmdline,
            "-chardev", "pipe,id=console,path=\(consolePipe.path)",
            "-serial", "chardev:console",
            "-chardev", "socket,id=agent,path=\(agentSocket.path)",
            "-device", "virtio-serial-device",
            "-device", "virtconsole,chardev=agent,name=handover",
            "-qmp", "unix:\(qmpSocket.path),server=on,wait=off",
        ]
    }

    /// The arm64 kernel command line: the PL011 console and the agent's port (hvc0) named for
    /// the agent, the rest as on x86_64. `earlycon` (the PL011 the device tree's stdout-path
    /// names) prints from the kernel's first line: the PL011 driver registers its console only
    /// about 0.5 s into a TCG boot, and the blackout's kernel zero is the first console line.
    static func arm64KernelCommandLine(stage: Int, extra: [String]) -> String {
        (["console=\(Architecture.arm64.consoleDevice)", "earlycon", "kho=on", "liveupdate=on", "panic=-1", "handover.stage=\(stage)",
          "handover.port=\(Architecture.arm64.agentPort)"] + extra).joined(separator: " ")
    }
}

extension AgentBinary {
    /// The agent for another architecture: $HANDOVER_AGENT_AARCH64, else .build/agent/aarch64/
    /// found as the x86_64 one is. Missing (no cross compiler when `swift build` ran) is a
    /// refusal with the reason, never a boot with the wrong agent.
    static func locateCross(_ arch: Architecture, environment: [String: String]) throws -> URL {
        let variable = "HANDOVER_AGENT_\(arch.agentArch.uppercased())"
        if let explicit = environment[variable], !explicit.isEmpty {
            let url = URL(fileURLWithPath: explicit)
            guard FileManager.default.isExecutableFile(atPath: url.path) else {
                throw HarnessError(.notFound, "\(variable)=\(explicit) is not an executable file")
            }
            return url
        }
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: selfPath).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("agent/\(arch.agentArch)/handover-agent")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        throw HarnessError(.notFound, "no \(arch.agentArch) guest agent in an agent/\(arch.agentArch) folder above \(selfPath): an \(arch.rawValue) kernel cannot boot without it. `swift build` builds it when aarch64-linux-gnu-gcc and libc6-dev-arm64-cross are installed (scripts/setup.sh); or run scripts/build-agent.sh \(arch.agentArch), or set \(variable)")
    }
}
