import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages

public struct BootResult: Codable, Sendable {
    public var image: String
    public var accelerator: Accelerator
    public var hello: Hello
    /// Host seconds from the VM's start to the hello's arrival.
    public var secondsToHello: Double
    public var poweredOffCleanly: Bool
    public var runDirectory: String?
    /// What the backend did before the VM started (uploads, the domain's start).
    public var setup: MachineSetup?
}

/// Boots one image with the agent and no plan: the agent says hello and powers off on
/// request. Used by `handover boot` and by the KVM probe.
public struct BootSession: Sendable {
    public let image: KernelImage
    public let accelerator: Accelerator
    public let progress: ProgressReporter
    public let keep: Bool
    public var memoryMiB = 512
    public var backend: Backend = .qemu
    public var machines: MachineMaker = .qemu

    public init(image: KernelImage, accelerator: Accelerator, progress: ProgressReporter, keep: Bool) {
        self.image = image
        self.accelerator = accelerator
        self.progress = progress
        self.keep = keep
    }

    public func bootToHello(timeout: TimeInterval = 60) async throws -> BootResult {
        let session = VMSession(backend: backend, machines: machines, keep: keep, artifacts: nil, progress: progress)
        return try await session.run(configure: { directory in
            let initrd = directory.file("initrd.cpio")
            try Initramfs.agentBase(agent: try AgentBinary.locate(arch: image.arch), kernel: image).write(to: initrd)
            var config = VMConfig(kernel: image.bzImage, initrd: initrd,
                                  cmdline: QemuCommand.kernelCommandLine(stage: 1, extra: image.cmdline, arch: image.arch),
                                  accelerator: accelerator)
            config.arch = image.arch
            config.memoryMiB = memoryMiB
            return config
        }) { machine, directory in
            try await machine.start()
            return try await waitForHello(machine, directory: directory, timeout: timeout)
        }
    }

    private func waitForHello(_ machine: any VirtualMachine, directory: RunDirectory, timeout: TimeInterval) async throws -> BootResult {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            guard let event = await machine.next(until: deadline) else {
                throw HarnessError(.timeout, "\(image.recipe): no hello from the agent within \(Int(timeout)) s under \(accelerator.rawValue)",
                                   tail: machine.consoleLines(last: 25))
            }
            switch event {
            case .agent(.hello(let hello), let time):
                machine.send(.powerOff)
                let clean = await machine.waitForExit(timeout: 15)
                return BootResult(image: image.recipe, accelerator: accelerator, hello: hello, secondsToHello: time.seconds,
                                  poweredOffCleanly: clean, runDirectory: keep ? directory.url.path : nil, setup: machine.setup)
            case .agent(.failed(let step, let message, _), _):
                throw HarnessError(.toolFailed, "\(image.recipe): the agent failed at \(step.wireName): \(message)", tail: machine.consoleLines(last: 25))
            case .malformed(let error, _):
                throw HarnessError(.protocolError, "\(image.recipe): \(error.description)")
            case .exited(let status, _):
                throw HarnessError(.toolFailed, "\(image.recipe): the VM ended (\(status)) before the agent said hello",
                                   tail: machine.hostErrors.suffix(5) + machine.consoleLines(last: 25))
            case .console(let line, _):
                progress.detail("console: \(line)")
            default:
                continue
            }
        }
    }
}
