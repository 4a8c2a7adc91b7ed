import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults

/// Runs a selftest scenario across a pair: each two-stage test in its own VM (stage 1 in the
/// first kernel, kexec with the stage marker, stage 2 in the second), and the ioctl suite
/// once in each kernel. The binaries come from the first kernel's tree, as upstream does.
public struct SelftestSession: Sendable {
    public let scenario: Scenario
    public let from: KernelImage
    public let to: KernelImage
    public let options: RunOptions
    public let progress: ProgressReporter

    public init(scenario: Scenario, from: KernelImage, to: KernelImage, options: RunOptions, progress: ProgressReporter) {
        self.scenario = scenario
        self.from = from
        self.to = to
        self.options = options
        self.progress = progress
    }

    var spec: Scenario.Selftests { scenario.selftests! }

    public func run() async -> RunResult {
        var result = RunResult.unfinished(scenario, chain: [from, to], options: options)
        if ArchitectureCheck.refuse(scenario, chain: [from, to], options: options, into: &result) { return result }
        do {
            var wanted = spec.tests
            if spec.ioctlSuite { wanted.append(Scenario.Selftests.ioctlSuite) }
            // The first kernel's tree, as upstream; a tree from before LUO has no such tests, so
            // the second kernel's are used and stage 1 finds out what the first kernel lacks.
            let builder = SelftestBuilder(progress: progress)
            let source = builder.hasSelftests(from) || !builder.hasSelftests(to) ? from : to
            if source.key != from.key {
                progress.step("\(from.recipe)'s tree has no live update selftests; using \(to.recipe)'s")
            }
            let binaries = try await builder.build(for: source, tests: wanted)
            result.selftestSource = source.recipe
            // The overall timeout bounds every VM from here on, as it bounds a memfd run's.
            let deadline = options.overallTimeout.map {
                SelftestDeadline(instant: ContinuousClock.now + .milliseconds(Int($0 * 1000)), seconds: $0)
            }
            var outcomes: [SelftestOutcome] = []
            for test in spec.tests {
                if let deadline, deadline.expired { outcomes.append(notRun(test, kind: "two-stage", deadline: deadline)); continue }
                progress.step("\(test): stage 1 in \(from.recipe), stage 2 in \(to.recipe)")
                outcomes.append(await runTwoStage(test, binaries: binaries, deadline: deadline))
            }
            if spec.ioctlSuite {
                for kernel in from.key == to.key ? [from] : [from, to] {
                    let name = "\(Scenario.Selftests.ioctlSuite)@\(kernel.recipe)"
                    if let deadline, deadline.expired { outcomes.append(notRun(name, kind: "ioctl-suite", deadline: deadline)); continue }
                    progress.step("\(Scenario.Selftests.ioctlSuite) suite in \(kernel.recipe)")
                    outcomes.append(await runIoctlSuite(in: kernel, binaries: binaries, deadline: deadline))
                }
            }
            result.selftests = outcomes
            judge(outcomes, into: &result)
            if let blackout = outcomes.compactMap(\.blackout).min() { result.blackout = Blackout(total: blackout) }
        } catch let error as HarnessError {
            result.reason = error.message
            result.consoleTail = error.tail
        } catch {
            result.reason = "\(error)"
        }
        result.wallSeconds = Date().timeIntervalSince(result.startedAt)
        return result
    }

    /// A test the overall timeout left no time for.
    func notRun(_ test: String, kind: String, deadline: SelftestDeadline) -> SelftestOutcome {
        SelftestOutcome(test: test, kind: kind, kernels: [from.recipe, to.recipe], status: .error, failureClass: .infrastructure,
                        message: String(format: "not run: the run exceeded its %.0f s timeout", deadline.seconds), stages: [], subtests: [])
    }

    /// A test's own time limit in the guest: the scenario's, bounded by the step timeout.
    var testTimeout: Int { max(1, min(spec.timeout, Int(options.stepTimeout))) }

    func judge(_ outcomes: [SelftestOutcome], into result: inout RunResult) {
        let twoStage = outcomes.filter { $0.kind == "two-stage" }
        let skipped = outcomes.filter { $0.status == .skip }
        if let broken = outcomes.first(where: { $0.status == .error }) {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "\(broken.test): \(broken.message)"
        } else if let failed = outcomes.first(where: { $0.status == .fail }) {
            result.verdict = .fail
            result.failureClass = failed.failureClass ?? .selftestFailed
            result.reason = "\(failed.test) failed: \(failed.message)" +
                (outcomes.filter { $0.status == .fail }.count > 1 ? " (and \(outcomes.filter { $0.status == .fail }.count - 1) more)" : "")
            result.evidence = failed.evidence
        } else if let hollow = twoStage.first(where: { $0.status == .pass && ($0.stages.count != 2 || $0.stages.contains { $0.exitCode != 0 }) }) {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "\(hollow.test) is marked passed without both stages exiting 0"
        } else if let missing = spec.tests.first(where: { name in !twoStage.contains { $0.test == name } }) {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "the two-stage test \(missing) did not run"
        } else if twoStage.isEmpty && !spec.ioctlSuite {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "no selftest ran"
        } else if !skipped.isEmpty {
            result.verdict = .unsupported
            result.failureClass = nil
            result.reason = "\(from.recipe) (\(from.kernelRelease)): \(skipped.count) of \(outcomes.count) selftests skipped: " +
                skipped.map { "\($0.test) (\($0.message))" }.joined(separator: "; ")
        } else {
            result.verdict = .pass
            result.failureClass = nil
            let ioctl = outcomes.count - twoStage.count
            result.reason = "selftests: all \(twoStage.count) two-stage tests passed in both stages" + (ioctl > 0 ? ", and \(ioctl) ioctl suite run\(ioctl > 1 ? "s" : "")" : "")
        }
    }

    /// Initramfs images for a commands-mode run: the binaries in both, the next kernel in the first.
    func initramfs(in directory: RunDirectory, binaries: SelftestBuilder.Binaries, next: KernelImage?) throws -> URL {
        let agent = try AgentBinary.locate(arch: from.arch)
        let hops = next.map { [Hop(kernel: "/" + Initramfs.Layout.nextKernel(1), initrd: "/" + Initramfs.Layout.nextInitrd(1),
                                   cmdline: QemuCommand.kernelCommandLine(stage: 2, extra: $0.cmdline + scenario.topology.kernelArguments + ["luo_stage=2"], arch: $0.arch),
                                   expectedRelease: $0.kernelRelease)] } ?? []
        var plan = scenario.plan(hops: hops, injections: [])
        plan.mode = .commands
        let planData = try JSONCoding.encode(plan)
        func base(_ kernel: KernelImage) -> Initramfs {
            var archive = Initramfs.agentBase(agent: agent, kernel: kernel)
            archive.addFile(Initramfs.Layout.plan, data: planData)
            for (name, path) in binaries.tests { archive.addFile("handover/selftests/\(name)", from: URL(fileURLWithPath: path), mode: 0o755) }
            return archive
        }
        var first = base(from)
        if let next {
            let inner = directory.file("initrd-2.cpio")
            try base(next).write(to: inner)
            first.addFile(Initramfs.Layout.nextKernel(1), from: next.bzImage)
            first.addFile(Initramfs.Layout.nextInitrd(1), from: inner)
        }
        let url = directory.file("initrd-1.cpio")
        try first.write(to: url)
        return url
    }

    func withMachine<T>(_ kernel: KernelImage, next: KernelImage?, binaries: SelftestBuilder.Binaries, label: String,
                        deadline: SelftestDeadline?, _ body: (CommandDriver) async throws -> T) async throws -> T {
        let session = VMSession(backend: options.backend, machines: options.machines, keep: options.keep,
                                artifacts: options.artifacts?.appendingPathComponent(label), progress: progress)
        return try await session.run(configure: { directory in
            let initrd = try initramfs(in: directory, binaries: binaries, next: next)
            var config = VMConfig(kernel: kernel.bzImage, initrd: initrd,
                                  cmdline: QemuCommand.kernelCommandLine(stage: 1, extra: kernel.cmdline + scenario.topology.kernelArguments, arch: kernel.arch),
                                  accelerator: options.accelerator)
            config.topology = scenario.topology
            config.arch = kernel.arch
            config.memoryMiB = options.memoryMiB ?? spec.memoryMiB ?? 1024
            config.cpus = options.cpus
            return config
        }) { machine, _ in
            try await machine.start()
            return try await body(CommandDriver(machine: machine, overall: deadline))
        }
    }

    func stage(_ result: ExecResult, kernel: KernelImage) -> SelftestOutcome.Stage {
        SelftestOutcome.Stage(kernel: kernel.recipe, arguments: result.arguments, exitCode: result.exitCode, signal: result.signal,
                              timedOut: result.timedOut, seconds: Double(result.microseconds) / 1e6,
                              outputTail: Array((result.error.map { [$0] } ?? result.output).suffix(40)))
    }

    static let skipExit: Int32 = 4

    func runTwoStage(_ test: String, binaries: SelftestBuilder.Binaries, deadline: SelftestDeadline? = nil) async -> SelftestOutcome {
        var outcome = SelftestOutcome(test: test, kind: "two-stage", kernels: [from.recipe, to.recipe], status: .error,
                                      failureClass: .infrastructure, message: "did not finish", stages: [], subtests: [])
        let path = "/handover/selftests/\(test)"
        do {
            try await withMachine(from, next: to, binaries: binaries, label: test, deadline: deadline) { driver in
                _ = try await driver.hello(timeout: options.bootTimeout)
                let first = try await driver.exec(ExecRequest(path: path, arguments: spec.arguments(test, stage: 1), timeoutSeconds: testTimeout))
                outcome.stages.append(stage(first, kernel: from))
                guard first.exitCode == 0 else {
                    let skipped = first.exitCode == Self.skipExit
                    outcome.status = skipped ? .skip : .fail
                    outcome.failureClass = skipped ? nil : .selftestFailed
                    outcome.message = "stage 1 in \(from.recipe): " + describe(first)
                    await driver.powerOff()
                    return
                }
                let (quiesce, hello, helloTime) = try await driver.kexec(into: to.recipe, timeout: options.kexecTimeout)
                outcome.blackout = helloTime.seconds - quiesce.seconds
                let second = try await driver.exec(ExecRequest(path: path, arguments: spec.arguments(test, stage: 2), timeoutSeconds: testTimeout))
                outcome.stages.append(stage(second, kernel: to))
                if second.exitCode == 0 {
                    outcome.status = .pass
                    outcome.failureClass = nil
                    outcome.message = "stage 1 in \(from.kernelRelease), stage 2 in \(hello.kernelRelease) passed"
                } else if second.exitCode == Self.skipExit {
                    // Stage 1 preserved; a stage 2 that cannot even look is a lost handover.
                    outcome.status = .fail
                    outcome.failureClass = .abiIncompatible
                    outcome.message = "stage 2 in \(to.recipe) skipped after stage 1 preserved: " + describe(second)
                    outcome.evidence = ConsoleAnalysis.refusal(in: Array(driver.console.lines)) ?? (hello.liveUpdateDevice ? nil : "no /dev/liveupdate in \(hello.kernelRelease)")
                } else {
                    outcome.status = .fail
                    outcome.failureClass = ConsoleAnalysis.refusal(in: Array(driver.console.lines)) != nil ? .abiIncompatible : .selftestFailed
                    outcome.message = "stage 2 in \(to.recipe): " + describe(second)
                    outcome.evidence = ConsoleAnalysis.refusal(in: Array(driver.console.lines))
                }
                await driver.powerOff()
            }
        } catch {
            outcome.record(error)
        }
        return outcome
    }

    func runIoctlSuite(in kernel: KernelImage, binaries: SelftestBuilder.Binaries, deadline: SelftestDeadline? = nil) async -> SelftestOutcome {
        let name = Scenario.Selftests.ioctlSuite
        var outcome = SelftestOutcome(test: "\(name)@\(kernel.recipe)", kind: "ioctl-suite", kernels: [kernel.recipe], status: .error,
                                      failureClass: .infrastructure, message: "did not finish", stages: [], subtests: [])
        do {
            try await withMachine(kernel, next: nil, binaries: binaries, label: "\(name)-\(kernel.recipe)", deadline: deadline) { driver in
                _ = try await driver.hello(timeout: options.bootTimeout)
                let run = try await driver.exec(ExecRequest(path: "/handover/selftests/\(name)", arguments: [], timeoutSeconds: testTimeout))
                outcome.stages.append(stage(run, kernel: kernel))
                let parsed = KTAPParser.parse(run.output)
                outcome.subtests = parsed.results
                let failed = parsed.results.filter { $0.status == .fail }
                let skipped = parsed.results.filter { $0.status == .skip }
                if run.exitCode == Self.skipExit || (!parsed.results.isEmpty && failed.isEmpty && skipped.count == parsed.results.count) {
                    outcome.status = .skip
                    outcome.failureClass = nil
                    outcome.message = "skipped in \(kernel.kernelRelease): " + (skipped.first?.message ?? parsed.diagnostics.last ?? describe(run))
                } else if run.exitCode == 0 && failed.isEmpty {
                    outcome.status = .pass
                    outcome.failureClass = nil
                    outcome.message = "\(parsed.results.count - skipped.count) passed, \(skipped.count) skipped in \(kernel.kernelRelease)"
                } else {
                    outcome.status = .fail
                    outcome.failureClass = .selftestFailed
                    outcome.message = failed.isEmpty ? describe(run) : "\(failed.count) of \(parsed.results.count) failed: " + failed.prefix(5).map(\.name).joined(separator: ", ")
                }
                await driver.powerOff()
            }
        } catch {
            outcome.record(error)
        }
        return outcome
    }

    func describe(_ result: ExecResult) -> String {
        if let error = result.error { return error }
        if result.timedOut { return "timed out after \(testTimeout) s" }
        if let signal = result.signal { return "killed by signal \(signal)" }
        let diagnostic = result.output.last { $0.hasPrefix("#") || $0.contains("FAIL") || $0.hasPrefix("Bail") }
        return "exit \(result.exitCode ?? -1)" + (diagnostic.map { ": \($0)" } ?? "")
    }
}
