import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults

public struct RunOptions: Sendable {
    public var accelerator: Accelerator
    public var acceleratorReason: String
    public var injections: [Injection] = []
    /// QEMU start → the first kernel's hello.
    public var bootTimeout: TimeInterval = 120
    /// Longest silence from the agent during stage 1 and verification.
    public var stepTimeout: TimeInterval = 180
    /// quiesce → the new kernel's agent says resumed.
    public var kexecTimeout: TimeInterval = 120
    /// The whole run, boot to power-off; a run still going then ends as a timeout.
    public var overallTimeout: TimeInterval?
    public var memoryMiB: Int?
    public var cpus = 2
    /// Which clock the blackout is judged on; guest timing runs QEMU with icount and one vCPU.
    public var timing: Timing = .host
    /// Keep the private run directory (sockets, initramfs, logs) after the run.
    public var keep = false
    /// Where console.log, transcript.jsonl and qemu-command are copied.
    public var artifacts: URL?
    public var backend: Backend = .qemu
    /// Makes the VM for the backend (the command line's knows libvirt).
    public var machines: MachineMaker = .qemu
    /// Shared by a matrix's runs so that no two are in their blackout at once (see `BlackoutGate`).
    public var blackoutGate: BlackoutGate?
    /// Host cores QEMU's threads are pinned to (the qemu backend only).
    public var cpuAffinity: [Int]?
    /// Boot the kernels after the first with initcall_debug: the agent reads each initcall's
    /// time from /dev/kmsg (KERN_DEBUG, not shown on the console) and the blackout's kernel
    /// boot is split by initcall. With nokaslr, so that an initcall printed as an address
    /// (no kallsyms) has the same one in every run and can be named from System.map.
    public var initcalls = false
    /// Boot every kernel with `quiet` (console loglevel 4): for measuring what the full
    /// console costs. The console then no longer shows "Starting new kernel" nor the new
    /// kernel's lines, so the shutdown is not split and the clock zero comes from the agent.
    public var quietConsole = false

    public init(accelerator: Accelerator, acceleratorReason: String) {
        self.accelerator = accelerator
        self.acceleratorReason = acceleratorReason
    }
}

/// One scenario across one kernel pair: boot A, preserve, kexec into B, retrieve, verify.
/// Every way it can end becomes a verdict; only harness trouble becomes `error`.
public struct RunSession: Sendable {
    public let scenario: Scenario
    /// The kernels in order: a pair, or a chain such as A -> B -> A.
    public let chain: [KernelImage]
    public let options: RunOptions
    public let progress: ProgressReporter

    public var from: KernelImage { chain[0] }
    public var to: KernelImage { chain[chain.count - 1] }

    public init(scenario: Scenario, chain: [KernelImage], options: RunOptions, progress: ProgressReporter) {
        precondition(chain.count >= 2, "a run needs at least two kernels")
        self.scenario = scenario
        self.chain = chain
        self.options = options
        self.progress = progress
    }

    public init(scenario: Scenario, from: KernelImage, to: KernelImage, options: RunOptions, progress: ProgressReporter) {
        self.init(scenario: scenario, chain: [from, to], options: options, progress: progress)
    }

    /// Guest memory: room for the objects, the initramfs (twice: unpacked and as a kexec
    /// segment) and the kernels. A chain's first initramfs carries every later kernel and
    /// initramfs (about 50 MB for three kernels); in 1 GiB, KHO then sometimes failed to find
    /// its scratch areas ("KHO: Failed to reserve nid 0 scratch buffer", seen with linux-7.2
    /// first), which switches live update off.
    var memoryMiB: Int {
        if let explicit = options.memoryMiB { return explicit }
        return max(chain.count > 2 ? 1536 : 1024, 640 + 2 * (scenario.totalBytes >> 20))
    }

    public func run() async -> RunResult {
        var result = RunResult.unfinished(scenario, chain: chain, options: options)
        if ArchitectureCheck.refuse(scenario, chain: chain, options: options, into: &result) { return result }
        if let refusal = options.timing.refusal(under: options.accelerator) ?? options.timing.refusal(on: options.backend) {
            result.reason = refusal
            return result
        }
        do {
            try await execute(into: &result)
        } catch let error as HarnessError {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = error.message
            if !error.tail.isEmpty { result.consoleTail = error.tail }
        } catch {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "\(error)"
        }
        result.wallSeconds = Date().timeIntervalSince(result.startedAt)
        return result
    }

    /// The command line of the kernel of a stage: its recipe's words, the topology's, and the injections'.
    func kernelCommandLine(_ image: KernelImage, stage: Int) -> String {
        QemuCommand.kernelCommandLine(stage: stage, extra: image.cmdline + scenario.topology.kernelArguments
                                      + options.injections.flatMap { $0.commandLine(forStage: stage) }
                                      + (options.initcalls && stage >= 2 ? ["initcall_debug", "nokaslr"] : [])
                                      + (options.quietConsole ? ["quiet"] : []), arch: image.arch)
    }

    /// Nested initramfs images: stage k's holds the kernel of hop k and stage k+1's initramfs.
    func buildInitramfs(in directory: RunDirectory) throws -> URL {
        let agent = try AgentBinary.locate(arch: from.arch)
        let hops = chain.dropFirst().enumerated().map { index, image in
            Hop(kernel: "/" + Initramfs.Layout.nextKernel(index + 1), initrd: "/" + Initramfs.Layout.nextInitrd(index + 1),
                cmdline: kernelCommandLine(image, stage: index + 2),
                expectedRelease: image.kernelRelease)
        }
        let plan = scenario.plan(hops: hops, injections: options.injections, series: from.carriedSeries)
        let planData = try JSONCoding.encode(plan)
        var inner: URL?
        for stage in stride(from: chain.count, through: 1, by: -1) {
            var archive = Initramfs.agentBase(agent: agent, kernel: chain[stage - 1])
            archive.addFile(Initramfs.Layout.plan, data: planData)
            if let inner {
                archive.addFile(Initramfs.Layout.nextKernel(stage), from: chain[stage].bzImage)
                archive.addFile(Initramfs.Layout.nextInitrd(stage), from: inner)
            }
            let url = directory.file("initrd-\(stage).cpio")
            try archive.write(to: url)
            inner = url
        }
        return inner!
    }

    /// Each stage's initramfs size as its kernel got it (stage 1's carries every later one).
    func payload(in directory: RunDirectory) -> [StagePayload] {
        chain.indices.compactMap { index in
            let file = directory.file("initrd-\(index + 1).cpio")
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int else { return nil }
            return StagePayload(stage: index + 1, kernel: chain[index].recipe, initramfsBytes: size)
        }
    }

    private func execute(into result: inout RunResult) async throws {
        let session = VMSession(backend: options.backend, machines: options.machines, keep: options.keep, artifacts: options.artifacts,
                                progress: progress)
        try await session.run(configure: { directory in
            if options.keep { result.runDirectory = directory.url.path }
            let initrd = try buildInitramfs(in: directory)
            result.payload = payload(in: directory)
            var config = VMConfig(kernel: from.bzImage, initrd: initrd, cmdline: kernelCommandLine(from, stage: 1),
                                  accelerator: options.accelerator)
            config.topology = scenario.topology
            config.memoryMiB = memoryMiB
            config.cpus = options.cpus
            config.timing = options.timing
            config.arch = from.arch
            return config
        }) { machine, _ in
            try await follow(machine, into: &result)
        }
    }

    private func follow(_ machine: any VirtualMachine, into result: inout RunResult) async throws {
        defer { result.setup = machine.setup }
        var tracker = RunTracker(scenario: scenario, chain: chain)
        if let gate = options.blackoutGate {
            // The first kernel's boot is busy: not while another VM is in its blackout.
            tracker.gate = GateHold(gate)
            await tracker.gate?.hold(.shared)
        }
        do {
            try await machine.start()
            if let cores = options.cpuAffinity, let qemu = machine as? QemuMachine, let pid = qemu.processID {
                tracker.pinning = (pid, cores)
                CPUAffinity.pin(pid, to: cores)
            }
            try await tracker.follow(machine, options: options, progress: progress)
        } catch {
            await tracker.gate?.hold(nil)
            throw error
        }
        await tracker.gate?.hold(nil)
        tracker.conclude(into: &result)
        if result.verdict != .pass { result.consoleTail = machine.consoleLines(last: 40) }
        // The host side broke (QEMU could not allocate the guest's memory, say): QEMU's own words.
        let said = machine.hostErrors.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        if result.verdict == .error, result.failureClass == .infrastructure, !said.isEmpty {
            result.reason += "; QEMU said: " + said.suffix(3).joined(separator: " | ")
        }
        result.vmSeconds = tracker.vmExit?.seconds
    }
}
