import HandoverCore
import HandoverMachines

/// How a VM's run ended when the agent did not finish it: the one classifier for memfd, device
/// and VM runs (RunTracker) and for selftest runs (CommandDriver). It reads what the console
/// says (a refused handover, a panic, the agent's death) against where the run was.
package enum VMEnding {
    /// What ended the wait.
    package enum Cause: Equatable {
        /// QEMU (or the libvirt domain) ended, with its exit status.
        case exited(String)
        /// Nothing arrived for this many seconds.
        case silent(Double)
    }

    /// Where the run was.
    package enum Moment: Equatable {
        /// The first kernel booting; its agent has not said hello yet.
        case bootingFirst(kernel: String)
        /// The agent up in a kernel before its kexec (stage counts kernels from 1). A panic of
        /// the first kernel before any kexec is held against the harness's set-up, not a
        /// handover; of a later kernel it is that kernel's.
        case beforeKexec(kernel: String, stage: Int)
        /// Between the old kernel's quiesce and the new agent's hello (or its first words).
        case kexec(into: String, release: String?, stage: Int, agentBack: Bool)
        /// The new kernel's agent verifying what came back.
        case afterRestore(kernel: String, stage: Int)
        /// A program the agent runs for the runner (selftests), in the kernel booted last.
        case running(what: String)
    }

    package struct Ending: Equatable {
        package var verdict: Verdict
        package var failureClass: FailureClass
        package var reason: String
        package var evidence: String?
    }

    package static func classify(_ cause: Cause, at moment: Moment, console: ConsoleBuffer) -> Ending {
        let lines = Array(console.lines)
        let killedInit = lines.last(where: KernelMessage.killedInit.isIn).map(ConsoleAnalysis.stripTime)
        let refusal = ConsoleAnalysis.refusal(in: lines)
        let panic = ConsoleAnalysis.panic(in: lines)
        func fail(_ failureClass: FailureClass, _ reason: String, _ evidence: String? = nil) -> Ending {
            Ending(verdict: .fail, failureClass: failureClass, reason: reason, evidence: evidence)
        }
        func harness(_ reason: String, _ evidence: String? = nil) -> Ending {
            Ending(verdict: .error, failureClass: .infrastructure, reason: reason, evidence: evidence)
        }
        // QEMU killed from outside (OOM killer, a person, a crash of QEMU itself) says nothing
        // about the kernels. QEMU ends by a signal only then: guests make it exit normally.
        if case .exited(let status) = cause, status.hasPrefix("signaled") {
            return harness("QEMU was killed (\(status)) during \(moment.description)")
        }
        let waited = if case .silent(let seconds) = cause { String(format: "%.0f s", seconds) } else { "" }
        switch moment {
        case .bootingFirst(let kernel), .beforeKexec(let kernel, _):
            let stage = if case .beforeKexec(_, let stage) = moment { stage } else { 1 }
            if let killedInit { return fail(.agentCrash, "the agent crashed in stage \(stage) (\(kernel))", killedInit) }
            if let panic {
                return stage == 1 ? harness("\(kernel) panicked before the kexec", panic.line)
                                  : fail(.newKernelPanic, "\(kernel) panicked before the kexec", panic.line)
            }
            switch (cause, moment) {
            case (.silent, .bootingFirst): return fail(.bootTimeout, "\(kernel) did not reach the agent within \(waited)")
            case (.silent, _): return harness("the agent was silent for \(waited) in stage \(stage)")
            case (.exited(let status), _): return harness("QEMU ended (\(status)) before the kexec from \(kernel)")
            }
        case .kexec(let into, let release, let stage, let agentBack):
            let named = release.map { "\(into) (\($0))" } ?? into
            if let refusal {
                if case .silent = cause { return fail(.abiIncompatible, "\(into) refused the handed-over state and never resumed", refusal) }
                return fail(.abiIncompatible, "\(named) refused the handed-over state; the preserved memfds are lost", refusal)
            }
            if let killedInit, agentBack { return fail(.agentCrash, "the agent crashed in stage \(stage) (\(into))", killedInit) }
            if let panic { return fail(.newKernelPanic, "\(named) panicked after the kexec", panic.line) }
            switch cause {
            case .silent: return fail(.bootTimeout, "\(into) did not bring the agent back within \(waited) of the kexec")
            case .exited(let status): return fail(.newKernelPanic, "the VM reset during the kexec into \(into) (QEMU \(status)) before its agent ran")
            }
        case .afterRestore(let kernel, let stage):
            if let killedInit { return fail(.agentCrash, "the agent crashed in stage \(stage) (\(kernel))", killedInit) }
            if let panic { return fail(.newKernelPanic, "\(kernel) panicked after the restore", panic.line) }
            switch cause {
            case .silent: return harness("the agent was silent for \(waited) in verification")
            case .exited(let status): return harness("QEMU ended (\(status)) during verification in \(kernel)")
            }
        case .running(let what):
            if let killedInit { return fail(.agentCrash, "the agent died while \(what)", killedInit) }
            if let panic { return fail(.newKernelPanic, "the kernel panicked while \(what)", panic.line) }
            switch cause {
            case .silent: return harness("no answer within \(waited) while \(what)")
            case .exited(let status): return harness("QEMU ended (\(status)) while \(what)")
            }
        }
    }
}

extension VMEnding.Moment: CustomStringConvertible {
    package var description: String {
        switch self {
        case .bootingFirst(let kernel): "the boot of \(kernel)"
        case .beforeKexec(let kernel, let stage): "stage \(stage) in \(kernel)"
        case .kexec(let into, _, _, _): "the kexec into \(into)"
        case .afterRestore(let kernel, _): "verification in \(kernel)"
        case .running(let what): what
        }
    }
}
