import ArgumentParser
import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults
import HandoverRuns

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario across a kernel pair: preserve in FROM, kexec into TO, verify.",
        discussion: "Exit status: 0 pass, 1 fail, 2 harness error or bad input, 3 unsupported.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var acceleratorOption: AcceleratorOption
    @OptionGroup var backendOptions: BackendOptions
    @Argument(help: "The scenario file (Scenarios/NAME.yaml) or a scenario name.") var scenario: String
    @Option(help: "The first kernel (recipe name or image key).") var from: String
    @Option(help: "The last kernel.") var to: String
    @Option(help: "Kernels between --from and --to, in order, for a chain (objects preserved across every hop).") var via: [String] = []
    @Option(help: "How many times to run the pair (blackout statistics).") var `repeat`: Int = 1
    @Option(help: "Results folder (default: results/<time>-<scenario>-<from>-to-<to>).") var out: String?
    @Option(help: "Inject a fault (repeatable; not for kind selftest): flip-byte:OBJECT:OFFSET (state-mismatch), crash:STAGE (agent-crash), stall:STAGE (boot-timeout), no-init:STAGE (new-kernel-panic), garbage:STAGE (infrastructure error), corrupt-vcpu:STAGE (kind vm: the vCPU resumes one instruction early, vm-discontinuity). Stage 1 is the first kernel.") var inject: [String] = []
    @Option(help: "Guest memory in MiB (default: enough for the scenario).") var memory: Int?
    @Option(help: "Seconds to wait for the new kernel's agent after the kexec.") var kexecTimeout: Double = 120
    @Flag(help: "Boot the kernels after the first with initcall_debug and split the blackout's kernel boot by initcall (read from /dev/kmsg, not the console).") var initcalls = false
    @Flag(help: "Boot every kernel with a quiet console (loglevel 4), to measure what the full console costs; the shutdown is then not split.") var quietConsole = false
    @Option(help: "The clock the blackout is measured on: guest (QEMU counts instructions with -icount, one vCPU: reproducible whatever the host does; TCG only) or host (the runner's monotonic clock).") var timing: Timing = .host
    @Flag(help: "Keep the private run directory.") var keep = false
    @Flag(help: "Print the result JSON on stdout instead of the summary.") var json = false

    func run() async throws {
        ChildProcesses.shared.installSignalHandlers()
        let verdict: Verdict = try await reportingErrors {
            let scenarioFile = try ScenarioCatalog.locate().file(for: scenario)
            let parsed = try Scenario.load(from: scenarioFile)
            let injections = try inject.map(Injection.parse)
            // Everything asked for must mean something for this kind: checked before any build.
            var preflight = Preflight(scenario: parsed, kernels: via.count + 2)
            preflight.injections = injections
            preflight.repeats = self.repeat
            preflight.memoryMiB = memory
            preflight.initcalls = initcalls
            preflight.quietConsole = quietConsole
            try preflight.check()
            try global.requireOneArchitecture([from] + via + [to])
            if let refusal = timing.refusal(on: backendOptions.value) { throw ValidationError("--timing guest: \(refusal)") }
            if timing == .guest, acceleratorOption.accel == "kvm" { throw ValidationError("--timing guest with --accel kvm: \(Timing.guest.refusal(under: .kvm)!)") }
            let first = try await global.image(named: from)
            var middle: [KernelImage] = []
            for name in via { middle.append(try await global.image(named: name)) }
            let second = try await global.image(named: to)
            let chain = [first] + middle + [second]
            // Refused before anything boots: kernels of two architectures.
            try ArchitectureCheck.sameArchitecture(chain)
            let (accelerator, reason) = try await acceleratorOption.choose(image: first, global: global, timing: timing)
            var options = RunOptions(accelerator: accelerator, acceleratorReason: reason)
            options.injections = injections
            options.memoryMiB = memory
            options.keep = keep
            options.kexecTimeout = kexecTimeout
            options.backend = backendOptions.value
            options.machines = Handover.machines
            options.initcalls = initcalls
            options.quietConsole = quietConsole
            options.timing = timing

            let folder = URL(fileURLWithPath: out ?? ResultsFolder.defaultPath(scenario: parsed.name, from: first.recipe, to: second.recipe))
            try ResultsFolder.prepare(folder)
            var runs: [RunResult] = []
            for index in 1...self.repeat {
                if self.repeat > 1 { options.artifacts = folder.appendingPathComponent(String(format: "run-%03d", index)) }
                else { options.artifacts = folder }
                global.progress.step("run \(index)/\(self.repeat): \(parsed.name) \(first.recipe) -> \(second.recipe) under \(accelerator.rawValue), \(timing.rawValue) timing")
                let result = await ScenarioRunner.run(parsed, chain: chain, options: options, progress: global.progress)
                ChildProcesses.shared.exitIfInterrupted()
                runs.append(result)
                if self.repeat > 1 {
                    try AtomicFile.writeJSON(result, to: options.artifacts!.appendingPathComponent("result.json"))
                    if !json { print(String(format: "%3d  ", index) + result.summaryLine) }
                }
            }
            let verdict: Verdict
            if self.repeat == 1 {
                try AtomicFile.writeJSON(runs[0], to: folder.appendingPathComponent("result.json"))
                if json { print(String(decoding: try JSONCoding.encode(runs[0]), as: UTF8.self)) }
                else { print(RunSummary.text(runs[0])) }
                verdict = runs[0].verdict
            } else {
                let repeated = RepeatedRunResult(runs: runs)
                try AtomicFile.writeJSON(repeated, to: folder.appendingPathComponent("result.json"))
                if json { print(String(decoding: try JSONCoding.encode(repeated), as: UTF8.self)) }
                else { print(RunSummary.text(repeated)) }
                verdict = repeated.verdict
            }
            if !json { print("results: \(folder.path)/result.json") }
            return verdict
        }
        switch verdict {
        case .pass: return
        case .fail: throw ExitCode(1)
        case .error: throw ExitCode(2)
        case .unsupported: throw ExitCode(3)
        }
    }
}
