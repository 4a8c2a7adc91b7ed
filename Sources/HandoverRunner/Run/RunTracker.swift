import Foundation
import HandoverCore

/// Follows one run's events and decides how it ended. Kept apart from the VM so the
/// classification can be read (and tested) as a function of what was seen.
struct RunTracker {
    enum Phase: Int, Comparable {
        case bootingFirst, preserving, kexec, verifying, finished
        static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
    }

    struct Outcome {
        var verdict: Verdict
        var failureClass: FailureClass?
        var reason: String
        var evidence: String?
    }

    let scenario: Scenario
    let from: KernelImage
    let to: KernelImage

    var phase = Phase.bootingFirst
    var hellos: [Hello] = []
    var steps: [StepReport] = []
    var before: [ObjectFingerprint] = []
    var after: [ObjectFingerprint] = []
    var located: [LocatedDifference] = []
    var checks: [CheckResult] = []
    var quiesce: HostTime?
    var resumed: (time: HostTime, restoreMicros: Int, clockMicros: Int)?
    var newKernelSeen = false
    var lastPrintk: Double = 0
    /// Host time of the new kernel's clock zero, estimated from each of its console lines.
    var kernelZeroEstimates: [Double] = []
    var consoleLines: [String] = []
    var outcome: Outcome?
    var vmExit: HostTime?
    var agentLogs: [String] = []

    init(scenario: Scenario, from: KernelImage, to: KernelImage) {
        self.scenario = scenario
        self.from = from
        self.to = to
    }

    mutating func end(_ verdict: Verdict, _ failureClass: FailureClass?, _ reason: String, evidence: String? = nil) {
        guard outcome == nil else { return }
        outcome = Outcome(verdict: verdict, failureClass: failureClass, reason: reason, evidence: evidence)
    }

    func deadline(_ options: RunOptions) -> TimeInterval {
        switch phase {
        case .bootingFirst: options.bootTimeout
        case .kexec: options.kexecTimeout
        default: options.stepTimeout
        }
    }

    mutating func follow(_ machine: QemuMachine, options: RunOptions, progress: ProgressReporter) async throws {
        while outcome == nil && phase != .finished {
            let wait = deadline(options)
            guard let event = await machine.next(until: .now + .milliseconds(Int(wait * 1000))) else {
                timedOut(after: wait)
                break
            }
            handle(event, machine: machine, progress: progress)
        }
        // Power off and let QEMU end by itself; stop() kills it otherwise.
        if vmExit == nil {
            machine.send(.powerOff)
            let deadline = ContinuousClock.now + .seconds(15)
            while vmExit == nil, let event = await machine.next(until: deadline) {
                if case .exited(_, let time) = event { vmExit = time }
                if case .console(let line, _) = event { consoleLines.append(line) }
            }
        }
    }

    mutating func handle(_ event: VMEvent, machine: QemuMachine, progress: ProgressReporter) {
        switch event {
        case .console(let line, let time):
            consoleLines.append(line)
            if consoleLines.count > 2000 { consoleLines.removeFirst(500) }
            progress.detail("console: \(line)")
            noteConsoleTime(line, at: time)
        case .agent(let message, let time):
            progress.detail(String(format: "[%8.3f] agent: %@", time.seconds, String(ProtocolLine.encode(message).prefix(300))))
            handle(message, at: time, machine: machine, progress: progress)
        case .malformed(let error, _):
            end(.error, .infrastructure, "protocol error: \(error.description)")
        case .agentChannelClosed:
            break
        case .exited(let status, let time):
            vmExit = time
            vmEnded(status: status)
        }
    }

    mutating func noteConsoleTime(_ line: String, at time: HostTime) {
        guard let printk = ConsoleAnalysis.printkTime(line) else { return }
        if quiesce != nil, !newKernelSeen, printk + 0.5 < lastPrintk { newKernelSeen = true }
        lastPrintk = printk
        if newKernelSeen, resumed == nil { kernelZeroEstimates.append(time.seconds - printk) }
    }

    mutating func handle(_ message: AgentMessage, at time: HostTime, machine: QemuMachine, progress: ProgressReporter) {
        switch message {
        case .hello(let hello):
            hellos.append(hello)
            if phase == .bootingFirst {
                guard hello.stage == 1 else { return end(.error, .infrastructure, "the first kernel's agent says it is in stage \(hello.stage)") }
                progress.step("\(from.recipe): agent up \(String(format: "%.2f", time.seconds)) s after QEMU start; preserving")
                phase = .preserving
                machine.send(.start)
            } else if phase == .kexec {
                progress.step("\(to.recipe): agent up after the kexec (kernel \(hello.kernelRelease))")
            }
        case .step(let step):
            steps.append(step)
        case .fingerprints(let stage, let objects):
            if stage == 1 { before = objects } else { after = objects }
        case .quiesce:
            quiesce = time
            phase = .kexec
        case .resumed(_, let restoreMicros, let clock):
            resumed = (time, restoreMicros, clock)
            phase = .verifying
            machine.send(.verify(before))
        case .located(let differences):
            located += differences
        case .checks(let results):
            checks = results
        case .done:
            phase = .finished
        case .unsupported(let reason, let errno):
            end(.unsupported, nil, "\(from.recipe) (\(from.kernelRelease)) cannot preserve: \(reason)\(errno.map { " [errno \($0)]" } ?? "")")
        case .failed(let step, let message, let errno):
            agentFailed(step: step, message: message, errno: errno)
        case .log(let text):
            agentLogs.append(text)
        }
    }

    mutating func agentFailed(step: String, message: String, errno: Int32?) {
        switch step {
        case "preserve" where !from.capabilities.memfdPreservation:
            end(.unsupported, nil, "\(from.recipe) (\(from.kernelRelease)) was built without LIVEUPDATE_MEMFD: \(message)")
        case "create", "fingerprint", "preserve":
            end(.fail, .preserveFailed, "\(from.recipe) (\(from.kernelRelease)) refused to preserve: \(message)")
        case "kexec-load", "kexec":
            end(.fail, .kexecLoadFailed, "\(from.recipe) could not load or start \(to.recipe): \(message)")
        case "open-liveupdate", "retrieve":
            let hello = hellos.last
            if let refusal = ConsoleAnalysis.refusal(in: consoleLines) {
                end(.fail, .abiIncompatible, "\(to.recipe) (\(to.kernelRelease)) refused the handed-over state; the preserved memfds are lost", evidence: refusal)
            } else if hello?.stage == 2, hello?.liveUpdateDevice == false {
                end(.fail, .abiIncompatible, "\(to.recipe) (\(to.kernelRelease)) has no /dev/liveupdate; what \(from.recipe) preserved is lost",
                    evidence: hello?.liveUpdateLog.last ?? "no /dev/liveupdate and no LUO or KHO lines in \(to.kernelRelease)'s kernel log")
            } else {
                end(.fail, .retrieveFailed, "\(to.recipe) could not retrieve: \(message)")
            }
        case "verify":
            end(.fail, .stateMismatch, "verification in \(to.recipe) failed: \(message)")
        default:
            end(.error, .infrastructure, "the agent failed at \(step): \(message)")
        }
    }

    mutating func vmEnded(status: String) {
        guard outcome == nil, phase != .finished else { return }
        let killedInit = consoleLines.first { $0.contains("Attempted to kill init") }
        let refusal = ConsoleAnalysis.refusal(in: consoleLines)
        let panic = ConsoleAnalysis.panic(in: consoleLines)
        switch phase {
        case .bootingFirst, .preserving:
            if let killedInit {
                end(.fail, .agentCrash, "the agent crashed in stage 1 (\(from.recipe))", evidence: ConsoleAnalysis.stripTime(killedInit))
            } else if let panic {
                end(.error, .infrastructure, "the first kernel \(from.recipe) panicked before the kexec", evidence: panic.line)
            } else {
                end(.error, .infrastructure, "QEMU ended (\(status)) before the kexec")
            }
        case .kexec:
            if let refusal {
                end(.fail, .abiIncompatible, "\(to.recipe) (\(to.kernelRelease)) refused the handed-over state; the preserved memfds are lost", evidence: refusal)
            } else if let killedInit, hellos.count > 1 {
                end(.fail, .agentCrash, "the agent crashed in stage 2 (\(to.recipe))", evidence: ConsoleAnalysis.stripTime(killedInit))
            } else if let panic {
                end(.fail, .newKernelPanic, "\(to.recipe) (\(to.kernelRelease)) panicked after the kexec", evidence: panic.line)
            } else {
                end(.fail, .newKernelPanic, "the VM reset during the kexec into \(to.recipe) (QEMU \(status)) before its agent ran")
            }
        case .verifying, .finished:
            if let killedInit {
                end(.fail, .agentCrash, "the agent crashed in stage 2 (\(to.recipe))", evidence: ConsoleAnalysis.stripTime(killedInit))
            } else if let panic {
                end(.fail, .newKernelPanic, "\(to.recipe) panicked after the restore", evidence: panic.line)
            } else {
                end(.error, .infrastructure, "QEMU ended (\(status)) during verification")
            }
        }
    }

    mutating func timedOut(after seconds: TimeInterval) {
        let wait = String(format: "%.0f s", seconds)
        switch phase {
        case .bootingFirst:
            end(.fail, .bootTimeout, "\(from.recipe) did not reach the agent within \(wait)")
        case .kexec:
            if let refusal = ConsoleAnalysis.refusal(in: consoleLines) {
                end(.fail, .abiIncompatible, "\(to.recipe) refused the handed-over state and never resumed", evidence: refusal)
            } else if let panic = ConsoleAnalysis.panic(in: consoleLines) {
                end(.fail, .newKernelPanic, "\(to.recipe) panicked after the kexec", evidence: panic.line)
            } else {
                end(.fail, .bootTimeout, "\(to.recipe) did not bring the agent back within \(wait) of the kexec")
            }
        default:
            end(.error, .infrastructure, "the agent was silent for \(wait) in \(phase == .preserving ? "stage 1" : "verification")")
        }
    }

    var blackout: Blackout? {
        guard let quiesce, let resumed else { return nil }
        let total = resumed.time.seconds - quiesce.seconds
        let agentZero = resumed.time.seconds - Double(resumed.clockMicros) / 1e6
        let kernelZero = (kernelZeroEstimates + [agentZero]).min()!
        let hello = hellos.last { $0.stage == 2 }
        let runInit = hello?.bootMarks["run-init"].map { Double($0) / 1e6 }
        let restore = Double(resumed.restoreMicros) / 1e6
        let restoreStart = Double(resumed.clockMicros - resumed.restoreMicros) / 1e6
        let shutdown = kernelZero - quiesce.seconds
        let agentStart = runInit.map { restoreStart - $0 }
        let accounted = shutdown + (runInit ?? 0) + (agentStart ?? restoreStart) + restore
        return Blackout(total: total, shutdown: shutdown, kernelBoot: runInit, agentStart: agentStart, restore: restore,
                        unaccounted: total - accounted)
    }

    /// Compares what came back with what went in, and fills the result.
    func conclude(into result: inout RunResult) {
        result.hellos = hellos
        result.steps = steps
        result.checks = checks
        result.blackout = blackout
        var outcome = self.outcome
        if outcome == nil, phase == .finished {
            outcome = judgeRestoredState(into: &result)
        }
        guard let outcome else { return }
        result.verdict = outcome.verdict
        result.failureClass = outcome.failureClass
        result.reason = outcome.reason
        result.evidence = outcome.evidence
    }

    private func judgeRestoredState(into result: inout RunResult) -> Outcome {
        var objects: [ObjectResult] = []
        for old in before {
            guard let new = after.first(where: { $0.object == old.object }) else {
                objects.append(ObjectResult(object: old.object, session: old.session, token: old.token, ok: false,
                                            properties: [PropertyOutcome(property: "retrieved", status: .changed, before: "preserved", after: "missing")]))
                continue
            }
            var properties = FingerprintComparison.compare(before: old, after: new, reset: scenario.reset)
            for index in properties.indices where properties[index].property == "content" && properties[index].status == .changed {
                if let spot = located.first(where: { $0.object == old.object && $0.chunk == properties[index].chunk }) {
                    properties[index].offset = spot.offset
                    properties[index].detail = String(format: "chunk %d: first differing byte at offset %d (expected 0x%02x, found 0x%02x); %d bytes differ in the chunk",
                                                      spot.chunk, spot.offset, spot.expected, spot.found, spot.differingBytes)
                }
            }
            objects.append(ObjectResult(object: old.object, session: old.session, token: old.token,
                                        ok: !properties.contains { $0.status == .changed }, properties: properties))
        }
        result.objects = objects

        let hello2 = hellos.last { $0.stage == 2 }
        var checks = self.checks
        if let hello2 {
            let previous = hellos.first { $0.stage == 1 }?.liveUpdateNumber ?? 0
            checks.insert(CheckResult(name: "new-kernel-release", passed: hello2.kernelRelease == to.kernelRelease,
                                      expected: to.kernelRelease, observed: hello2.kernelRelease), at: 0)
            checks.insert(CheckResult(name: "liveupdate-number-incremented", passed: hello2.liveUpdateNumber == previous + 1,
                                      expected: String(previous + 1), observed: hello2.liveUpdateNumber.map(String.init) ?? "none"), at: 1)
        }
        result.checks = checks

        if before.isEmpty {
            return Outcome(verdict: .error, failureClass: .infrastructure, reason: "the agent reported no stage-1 fingerprints")
        }
        if let release = checks.first(where: { $0.name == "new-kernel-release" && !$0.passed }) {
            return Outcome(verdict: .fail, failureClass: .kexecLoadFailed,
                           reason: "the kernel that came up is \(release.observed), expected \(release.expected)")
        }
        if let bad = objects.first(where: { !$0.ok }) {
            let changed = bad.properties.filter { $0.status == .changed }
            let first = changed[0]
            let what = first.property == "content" ? (first.detail ?? "content differs") : "\(first.property) was \(first.before), is \(first.after)"
            let others = objects.filter { !$0.ok }.count - 1
            return Outcome(verdict: .fail, failureClass: .stateMismatch,
                           reason: "\(bad.object) (session \(bad.session), token \(bad.token)) came back changed: \(what)" + (others > 0 ? "; \(others) more objects differ" : ""))
        }
        if let failed = checks.first(where: { !$0.passed }) {
            let failureClass: FailureClass = failed.name.hasPrefix("finish") || failed.name == "retrieve-after-finish" ? .finishFailed : .retrieveFailed
            return Outcome(verdict: .fail, failureClass: failureClass,
                           reason: "uAPI check \(failed.name): expected \(failed.expected), observed \(failed.observed)")
        }
        let resets = objects.flatMap { $0.properties }.filter { $0.status == .reset }.count
        return Outcome(verdict: .pass, failureClass: nil,
                       reason: "\(objects.count) objects came back intact (\(resets) documented resets), \(checks.count) uAPI checks passed")
    }
}
