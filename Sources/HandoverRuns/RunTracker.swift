import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults

/// Follows one run's events and decides how it ended. Kept apart from the VM so the
/// classification reads (and tests) as a function of what was seen. A run is a chain of
/// kernels; a pair is a chain with one hop.
package struct RunTracker {
    enum Phase: Equatable {
        case bootingFirst
        case preserving
        case kexec
        case verifying
        case finished
    }

    struct Outcome {
        var verdict: Verdict
        var failureClass: FailureClass?
        var reason: String
        var evidence: String?
        var errno: Int32?
    }

    /// What one kexec looked like from the host.
    struct Hop {
        let from: KernelImage
        let to: KernelImage
        var quiesce: HostTime?
        var resumed: (time: HostTime, restoreMicros: Int, clockMicros: Int)?
        /// The guest's counter right before reboot(KEXEC) and right after the last retrieve.
        var quiesceCounter: CounterReading?
        var resumedCounter: CounterReading?
        var hello: Hello?
        /// Host time of the old kernel's last words before it jumps ("Starting new kernel").
        var kexecStarted: HostTime?
        /// The old kernel's printk time on that line.
        var kexecStartedPrintk: Double?
        var newKernelSeen = false
        /// The new kernel's console lines' printk times against their arrival on the host.
        var consoleClock = ConsoleClock()
        var after: [ObjectFingerprint] = []
        var located: [LocatedDifference] = []
        var checks: [CheckResult] = []
        /// A vm scenario's guest: its last exit before this hop's pause, its first after the resume.
        var vmStopped: (time: HostTime, sample: GuestSample)?
        var vmRunning: (time: HostTime, sample: GuestSample)?
        /// The host's load counters at quiesce, and their change by resumed.
        var loadAtQuiesce: HostLoadSample?
        var contention: HostContention?
    }

    let scenario: Scenario
    let chain: [KernelImage]

    var phase = Phase.bootingFirst
    var hops: [Hop]
    var current = 0
    var hellos: [Hello] = []
    var steps: [StepReport] = []
    var before: [ObjectFingerprint] = []
    var lastPrintk: Double = 0
    var console = ConsoleBuffer()
    var outcome: Outcome?
    var vmExit: HostTime?
    var agentLogs: [String] = []
    var vmReports: [VMStageReport] = []
    /// Every message the plan implies that arrived, by stage (see ExpectedMessage.required).
    var received: Set<ExpectedMessage> = []
    /// What this run holds of the matrix's blackout gate, when there is one.
    var gate: GateHold?
    /// QEMU's process and the cores it is pinned to, pinned again once the first kernel is up.
    var pinning: (pid: pid_t, cores: [Int])?

    package init(scenario: Scenario, chain: [KernelImage]) {
        precondition(chain.count >= 2)
        self.scenario = scenario
        self.chain = chain
        hops = zip(chain, chain.dropFirst()).map { Hop(from: $0, to: $1) }
    }

    var first: KernelImage { chain[0] }

    var phaseDescription: String {
        switch phase {
        case .bootingFirst: "the boot of \(first.recipe)"
        case .preserving: "stage \(current + 1) in \(hop.from.recipe)"
        case .kexec: "the kexec into \(hop.to.recipe)"
        case .verifying: "verification in \(hop.to.recipe)"
        case .finished: "power-off"
        }
    }
    var hop: Hop { hops[current] }

    mutating func end(_ verdict: Verdict, _ failureClass: FailureClass?, _ reason: String, evidence: String? = nil, errno: Int32? = nil) {
        guard outcome == nil else { return }
        outcome = Outcome(verdict: verdict, failureClass: failureClass, reason: reason, evidence: evidence, errno: errno)
    }

    func deadline(_ options: RunOptions) -> TimeInterval {
        switch phase {
        case .bootingFirst: options.bootTimeout
        case .kexec: options.kexecTimeout
        default: options.stepTimeout
        }
    }

    mutating func follow(_ machine: any VirtualMachine, options: RunOptions, progress: ProgressReporter) async throws {
        let overall = options.overallTimeout.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
        while outcome == nil && phase != .finished {
            let wait = deadline(options)
            var until = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            if let overall, overall < until { until = overall }
            guard let event = await machine.next(until: until) else {
                if let overall, ContinuousClock.now >= overall {
                    overallTimeout(options.overallTimeout!)
                } else {
                    timedOut(after: wait)
                }
                break
            }
            let mode = gateMode(before: event)
            if gate != nil { await gate!.hold(mode) }
            handle(event, machine: machine, progress: progress)
        }
        // Power off and let QEMU end by itself; stop() kills it otherwise.
        if vmExit == nil {
            machine.send(.powerOff)
            let deadline = ContinuousClock.now + .seconds(15)
            while vmExit == nil, let event = await machine.next(until: deadline) {
                if case .exited(_, let time) = event { vmExit = time }
                if case .console(let line, _) = event { console.append(line) }
            }
        }
    }

    mutating func handle(_ event: VMEvent, machine: any VirtualMachine, progress: ProgressReporter) {
        switch event {
        case .console(let line, let time):
            console.append(line)
            progress.detail("console: \(line)")
            noteConsoleTime(line, at: time)
        case .agent(let message, let time):
            progress.detail(String(format: "[%8.3f] agent: %@", time.seconds, String(ProtocolLine.encode(message).prefix(300))))
            handle(message, at: time, reply: machine.send, progress: progress)
        case .malformed(let error, _):
            end(.error, .infrastructure, "protocol error: \(error.description)")
        case .agentChannelClosed:
            break
        case .exited(let status, let time):
            vmExit = time
            vmEnded(status: status)
        }
    }

    package mutating func noteConsoleTime(_ line: String, at time: HostTime) {
        if hops[current].quiesce != nil, hops[current].kexecStarted == nil, !hops[current].newKernelSeen,
           KernelMessage.kexecStarting.isIn(line) {
            hops[current].kexecStarted = time
        }
        // The printk time places the line on the guest's clock whichever channel the host read
        // first: the console's line may come in before the agent's quiesce.
        if hops[current].kexecStartedPrintk == nil, !hops[current].newKernelSeen, phase == .preserving || phase == .kexec,
           KernelMessage.kexecStarting.isIn(line) {
            hops[current].kexecStartedPrintk = ConsoleAnalysis.printkTime(line)
        }
        guard let printk = ConsoleAnalysis.printkTime(line) else { return }
        if hops[current].quiesce != nil, !hops[current].newKernelSeen, printk + 0.5 < lastPrintk {
            hops[current].newKernelSeen = true
        }
        lastPrintk = printk
        if hops[current].newKernelSeen, hops[current].resumed == nil {
            hops[current].consoleClock.points.append((printk, time.seconds))
        }
    }

    package mutating func handle(_ message: AgentMessage, at time: HostTime, reply: (RunnerCommand) -> Void, progress: ProgressReporter) {
        switch message {
        case .hello(let hello):
            hellos.append(hello)
            received.insert(.hello(stage: hello.stage))
            if let (verdict, failureClass, reason) = moduleVerdict(hello) { return end(verdict, failureClass, reason) }
            if phase == .bootingFirst {
                guard hello.stage == 1 else { return end(.error, .infrastructure, "the first kernel's agent says it is in stage \(hello.stage)") }
                progress.step("\(first.recipe): agent up \(String(format: "%.2f", time.seconds)) s after QEMU start; preserving")
                phase = .preserving
                reply(.start)
            } else if hello.stage >= 2, hello.stage - 2 < hops.count {
                // After a kexec the agent says resumed first and hello right after it.
                hops[hello.stage - 2].hello = hello
                progress.step("\(hops[hello.stage - 2].to.recipe): agent up after the kexec (kernel \(hello.kernelRelease))")
            }
        case .step(let step):
            steps.append(step)
            if step.ok { received.insert(.step(step.step, stage: step.stage)) }
        case .fingerprints(let stage, let objects):
            received.insert(.fingerprints(stage: stage))
            if stage == 1 { before = objects } else if stage >= 2, stage - 2 < hops.count { hops[stage - 2].after = objects }
        case .quiesce(let counter):
            received.insert(.quiesce(stage: current + 1))
            hops[current].quiesce = time
            hops[current].quiesceCounter = counter
            hops[current].loadAtQuiesce = HostLoad.sample()
            phase = .kexec
        case .resumed(_, let restoreMicros, let clock, let counter):
            received.insert(.resumed(stage: current + 2))
            hops[current].resumed = (time, restoreMicros, clock)
            hops[current].resumedCounter = counter
            hops[current].contention = hops[current].loadAtQuiesce.flatMap { HostLoad.contention(from: $0, to: HostLoad.sample()) }
            phase = .verifying
            reply(.verify(before))
        case .located(let differences):
            hops[current].located += differences
        case .checks(let results):
            received.insert(.checks(stage: current + 2))
            hops[current].checks = results
        case .done:
            received.insert(.done(stage: current + 2))
            if current + 1 < hops.count {
                current += 1
                phase = .preserving
                progress.step("\(hop.from.recipe): handing the objects on to \(hop.to.recipe)")
                reply(.start)
            } else {
                phase = .finished
            }
        case .unsupported(let reason, let errno):
            agentCalledUnsupported(reason, errno: errno)
        case .failed(let step, let message, let errno):
            agentFailed(step: step, message: message, errno: errno)
        case .log(let text):
            agentLogs.append(text)
        case .execResult(let result):
            agentLogs.append("unexpected exec result for \(result.path)")
        case .vcpuStopped(let sample):
            received.insert(.vcpuStopped(stage: sample.stage))
            if sample.stage >= 1, sample.stage - 1 < hops.count { hops[sample.stage - 1].vmStopped = (time, sample) }
        case .vcpuRunning(let sample):
            received.insert(.vcpuRunning(stage: sample.stage))
            if sample.stage >= 2, sample.stage - 2 < hops.count { hops[sample.stage - 2].vmRunning = (time, sample) }
        case .vm(let report):
            received.insert(.vmReport(stage: report.stage))
            if report.ram != nil { received.insert(.ramReport(stage: report.stage)) }
            vmReports.append(report)
        }
    }

    mutating func agentFailed(step: FailurePoint, message: String, errno: Int32?) {
        let from = hop.from
        let to = hop.to
        switch step {
        case .preserve where current == 0 && !from.capabilities.memfdPreservation:
            end(.unsupported, nil, "\(from.recipe) (\(from.kernelRelease)) was built without LIVEUPDATE_MEMFD: \(message)")
        case .setup(let setupStep):
            setupRefused(setupStep, consequence: SetupPolicy.consequence(of: setupStep, errno: errno, release: from.kernelRelease, detail: message),
                         message: message, errno: errno)
        case .create, .fingerprint, .preserve:
            end(.fail, .preserveFailed, "\(from.recipe) (\(from.kernelRelease)) refused to preserve: \(message)", errno: errno)
        case .kexecLoad, .kexec:
            end(.fail, .kexecLoadFailed, "\(from.recipe) could not load or start \(to.recipe): \(message)")
        case .openLiveUpdate, .retrieve:
            let hello = hops[current].hello
            if let refusal = ConsoleAnalysis.refusal(in: Array(console.lines)) {
                end(.fail, .abiIncompatible, "\(to.recipe) (\(to.kernelRelease)) refused the handed-over state; the preserved memfds are lost", evidence: refusal)
            } else if hello?.liveUpdateDevice == false {
                end(.fail, .abiIncompatible, "\(to.recipe) (\(to.kernelRelease)) has no /dev/liveupdate; what \(from.recipe) preserved is lost",
                    evidence: hello?.liveUpdateLog.last ?? "no /dev/liveupdate and no LUO or KHO lines in \(to.kernelRelease)'s kernel log")
            } else {
                end(.fail, .retrieveFailed, "\(to.recipe) could not retrieve: \(message)")
            }
        case .verify:
            end(.fail, .stateMismatch, "verification in \(to.recipe) failed: \(message)")
        case .vmState:
            end(.fail, .stateMismatch, "the guest's saved vCPU state came back changed in \(to.recipe): \(message)")
        case .vmResume:
            end(.fail, .vmDiscontinuity, "the guest could not be resumed in \(to.recipe) (\(to.kernelRelease)): \(message)", errno: errno)
        case .vm where phase == .verifying:
            end(.fail, .vmDiscontinuity, "the resumed guest stopped running correctly in \(to.recipe): \(message)")
        case .vm:
            end(.error, .infrastructure, "the guest VM broke in \(from.recipe) before the handover: \(message)")
        case .readPlan, .plan, .topology:
            end(.error, .infrastructure, "the agent failed at \(step.wireName): \(message)")
        }
    }

    /// The agent says the first kernel cannot do what the scenario needs. The runner agrees only
    /// for a documented capability absence, read from the step the agent reported refused (or,
    /// with none, from the hello and the errno); anything else is a failure or an error.
    mutating func agentCalledUnsupported(_ reason: String, errno: Int32?) {
        let kernel = hop.from
        guard current == 0 else {
            return end(.fail, .preserveFailed, "\(kernel.recipe) (\(kernel.kernelRelease)) took the objects back but cannot preserve them again: \(reason)")
        }
        let errnoText = errno.map { " [errno \($0)]" } ?? ""
        if let last = steps.last, !last.ok, last.skipped != true {
            switch last.step {
            case .setup(let step):
                let consequence = SetupPolicy.consequence(of: step, errno: last.errno, release: kernel.kernelRelease, detail: last.detail)
                if !consequence.isUnsupported { return setupRefused(step, consequence: consequence, message: last.detail, errno: last.errno) }
            case .preserveHandle where last.errno != LinuxErrno.ENOENT && last.errno != LinuxErrno.EOPNOTSUPP:
                return end(.fail, .preserveFailed, "\(kernel.recipe) (\(kernel.kernelRelease)) refused to preserve a device file with errno \(last.errno.map(String.init) ?? "none"), not a missing handler: \(last.detail)",
                           errno: last.errno)
            default:
                break
            }
        } else if hellos.first(where: { $0.stage == 1 })?.liveUpdateDevice == true,
                  errno != LinuxErrno.ENOENT, errno != LinuxErrno.ENODEV, errno != LinuxErrno.ENXIO {
            return end(.error, .infrastructure, "the agent called \(kernel.recipe) (\(kernel.kernelRelease)) unsupported though it has /dev/liveupdate: \(reason)\(errnoText)",
                       errno: errno)
        }
        end(.unsupported, nil, "\(kernel.recipe) (\(kernel.kernelRelease)) cannot preserve: \(reason)\(errnoText)", errno: errno)
    }

    /// A refused setup step, judged by SetupPolicy from its step and errno, whatever the agent called it.
    mutating func setupRefused(_ step: SetupStep, consequence: StepConsequence, message: String, errno: Int32?) {
        let from = hop.from
        let errnoText = errno.map { " [errno \($0)]" } ?? ""
        switch consequence {
        case .unsupported(let reason):
            end(.unsupported, nil, "\(from.recipe) (\(from.kernelRelease)) cannot run the scenario: \(reason)\(errnoText)", errno: errno)
        case .fail(let failureClass):
            end(.fail, failureClass, "\(from.recipe) (\(from.kernelRelease)) refused setup step \(step.rawValue): \(message)\(errnoText)", errno: errno)
        case .error:
            end(.error, .infrastructure, "setup step \(step.rawValue) failed in \(from.recipe) (\(from.kernelRelease)), a fault of the harness or host: \(message)\(errnoText)",
                errno: errno)
        }
    }

    /// Where the run is, for the classifier of how it ended.
    var moment: VMEnding.Moment {
        switch phase {
        case .bootingFirst: .bootingFirst(kernel: first.recipe)
        case .preserving: .beforeKexec(kernel: hop.from.recipe, stage: current + 1)
        case .kexec: .kexec(into: hop.to.recipe, release: hop.to.kernelRelease, stage: current + 2, agentBack: hop.hello != nil)
        case .verifying, .finished: .afterRestore(kernel: hop.to.recipe, stage: current + 2)
        }
    }

    mutating func ended(_ cause: VMEnding.Cause) {
        let ending = VMEnding.classify(cause, at: moment, console: console)
        end(ending.verdict, ending.failureClass, ending.reason, evidence: ending.evidence)
    }

    mutating func vmEnded(status: String) {
        guard outcome == nil, phase != .finished else { return }
        ended(.exited(status))
    }

    /// The run's whole budget ran out: a stuck new kernel is still a boot timeout; anything else
    /// says nothing about the kernels.
    mutating func overallTimeout(_ seconds: TimeInterval) {
        if phase == .kexec || phase == .bootingFirst {
            timedOut(after: seconds)
        } else {
            end(.error, .infrastructure, String(format: "the run exceeded its %.0f s timeout", seconds))
        }
    }

    mutating func timedOut(after seconds: TimeInterval) {
        ended(.silent(seconds))
    }
}
