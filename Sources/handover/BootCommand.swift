import ArgumentParser
import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverRuns

struct AcceleratorOption: ParsableArguments {
    @Option(help: "kvm, tcg or auto (KVM only if a probe boot works here).")
    var accel: String = "auto"

    /// With guest timing, auto means TCG without a probe: only TCG counts instructions.
    func choose(image: KernelImage, global: GlobalOptions, timing: Timing? = nil) async throws -> (Accelerator, String) {
        // Another architecture than the host's (an arm64 image here): TCG, never a KVM probe.
        if let cross = ArchitectureCheck.crossAccelerator(image) {
            if accel == "kvm" { throw ValidationError("--accel kvm: \(cross.1)") }
            if accel != "tcg" && accel != "auto" { throw ValidationError("--accel takes kvm, tcg or auto, not '\(accel)'") }
            return cross
        }
        if timing == .guest {
            switch accel {
            case "kvm": throw ValidationError("--timing guest with --accel kvm: \(Timing.guest.refusal(under: .kvm)!)")
            case "auto": return (.tcg, "--timing guest: instruction counting (icount) exists only under TCG")
            default: break
            }
        }
        switch accel {
        case "kvm": return (.kvm, "asked for with --accel kvm")
        case "tcg": return (.tcg, "asked for with --accel tcg")
        case "auto":
            let verdict = try await AcceleratorProbe(paths: global.paths, progress: global.progress).choose(probeWith: image)
            return (verdict.accelerator, verdict.reason)
        default: throw ValidationError("--accel takes kvm, tcg or auto, not '\(accel)'")
        }
    }
}

extension Timing: ExpressibleByArgument {}

struct BackendOptions: ParsableArguments {
    @Option(help: "Where VMs run: qemu (started directly) or libvirt.")
    var backend: String = "qemu"

    @Option(help: "The libvirt connection URI (with --backend libvirt).")
    var connect: String?

    func validate() throws {
        guard ["qemu", "libvirt"].contains(backend) else { throw ValidationError("--backend takes qemu or libvirt, not '\(backend)'") }
        if connect != nil && backend != "libvirt" { throw ValidationError("--connect goes with --backend libvirt") }
    }

    var value: Backend {
        backend == "libvirt" ? .libvirt(uri: connect ?? Backend.defaultLibvirtURI) : .qemu
    }
}

struct BootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot", abstract: "Boot an image with the agent, print its hello, power off.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var acceleratorOption: AcceleratorOption
    @OptionGroup var backendOptions: BackendOptions
    @Argument(help: "The image (recipe name or key; built first if needed).") var image: String
    @Flag(help: "Keep the run directory (console log, protocol transcript).") var keep = false
    @Option(help: "Seconds to wait for the agent's hello.") var timeout: Double = 90
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        ChildProcesses.shared.installSignalHandlers()
        try await reportingErrors {
            let kernel = try await global.image(named: image)
            let (accelerator, reason) = try await acceleratorOption.choose(image: kernel, global: global)
            global.progress.step("booting \(kernel.recipe) (\(kernel.kernelRelease)) under \(accelerator.rawValue): \(reason)")
            var session = BootSession(image: kernel, accelerator: accelerator, progress: global.progress, keep: keep)
            session.backend = backendOptions.value
            session.machines = Handover.machines
            let result = try await session.bootToHello(timeout: timeout)
            if json {
                print(String(decoding: try JSONCoding.encode(result), as: UTF8.self))
                return
            }
            let hello = result.hello
            print("hello from \(kernel.recipe) under \(accelerator.rawValue), \(String(format: "%.2f", result.secondsToHello)) s after the VM started")
            if let setup = result.setup, !setup.steps.isEmpty { print("  set-up:           \(setup.description)") }
            print("  kernel release:   \(hello.kernelRelease)")
            print("  boot id:          \(hello.bootID)")
            print("  command line:     \(hello.cmdline)")
            print("  /dev/liveupdate:  \(hello.liveUpdateDevice ? "present" : "absent")")
            print("  live update:      \(hello.liveUpdateNumber.map { "number \($0)" } ?? "none (fresh boot)")\(hello.previousRelease.map { ", from \($0)" } ?? "")")
            print("  agent:            \(hello.agentVersion), protocol \(hello.protocolVersion), started \(String(format: "%.2f", hello.uptimeAtStart)) s after kernel start")
            print("  powered off:      \(result.poweredOffCleanly ? "cleanly" : "QEMU had to be killed")")
            if let folder = result.runDirectory { print("  run directory:    \(folder)") }
        }
    }
}
