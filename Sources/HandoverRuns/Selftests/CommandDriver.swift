import Foundation
import HandoverCore
import HandoverMachines
import HandoverResults

/// A selftest run's overall deadline and the budget it came from.
package struct SelftestDeadline: Sendable {
    var instant: ContinuousClock.Instant
    var seconds: TimeInterval
    var expired: Bool { ContinuousClock.now >= instant }
}

/// Drives an agent in commands mode: wait for hello, run programs, kexec on request. Any
/// unexpected end becomes an `Ended` error classified from the console, as in a memfd run.
package final class CommandDriver {
    package struct Ended: Error {
        package var status: SelftestOutcome.Status
        package var failureClass: FailureClass
        package var reason: String
        var evidence: String?
    }

    let machine: any VirtualMachine
    var console = ConsoleBuffer(capacity: 3000)
    var lastHello: Hello?

    /// The run's whole budget (a matrix's `timeout:`): no wait goes past it.
    let overall: SelftestDeadline?

    package init(machine: any VirtualMachine, overall: SelftestDeadline? = nil) {
        self.machine = machine
        self.overall = overall
    }

    private func next(_ timeout: TimeInterval, waitingFor what: String, afterKexecInto target: String?) async throws -> VMEvent {
        var until = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var budgetBound = false
        if let overall, overall.instant < until {
            until = overall.instant
            budgetBound = true
        }
        guard let event = await machine.next(until: until) else {
            if budgetBound, let overall {
                // A stuck new kernel is still a boot timeout; anything else says nothing about kernels.
                if target != nil { throw classify(exited: nil, waitingFor: what, afterKexecInto: target, timedOut: overall.seconds) }
                throw Ended(status: .error, failureClass: .infrastructure,
                            reason: String(format: "the run exceeded its %.0f s timeout while %@", overall.seconds, what))
            }
            throw classify(exited: nil, waitingFor: what, afterKexecInto: target, timedOut: timeout)
        }
        switch event {
        case .console(let line, _):
            console.append(line)
        case .exited(let status, _):
            throw classify(exited: status, waitingFor: what, afterKexecInto: target, timedOut: nil)
        case .malformed(let error, _):
            throw Ended(status: .error, failureClass: .infrastructure, reason: "protocol error: \(error.description)")
        case .agent(.failed(let step, let message, _), _):
            if step == .kexecLoad || step == .kexec {
                throw Ended(status: .fail, failureClass: .kexecLoadFailed, reason: "kexec failed: \(message)")
            }
            throw Ended(status: .error, failureClass: .infrastructure, reason: "the agent failed at \(step.wireName): \(message)")
        default: break
        }
        return event
    }

    func classify(exited status: String?, waitingFor what: String, afterKexecInto target: String?, timedOut: TimeInterval?) -> Ended {
        let cause: VMEnding.Cause = timedOut.map { .silent($0) } ?? .exited(status ?? "?")
        let moment: VMEnding.Moment = target.map { .kexec(into: $0, release: nil, stage: 2, agentBack: false) } ?? .running(what: what)
        let ending = VMEnding.classify(cause, at: moment, console: console)
        return Ended(status: ending.verdict == .fail ? .fail : .error, failureClass: ending.failureClass, reason: ending.reason,
                     evidence: ending.evidence)
    }

    func hello(timeout: TimeInterval, afterKexecInto target: String? = nil) async throws -> (Hello, HostTime) {
        while true {
            if case .agent(.hello(let hello), let time) = try await next(timeout, waitingFor: "waiting for the agent's hello", afterKexecInto: target) {
                lastHello = hello
                return (hello, time)
            }
        }
    }

    func exec(_ request: ExecRequest) async throws -> ExecResult {
        machine.send(.exec(request))
        while true {
            let event = try await next(TimeInterval(request.timeoutSeconds + 30), waitingFor: "running \(request.path)", afterKexecInto: nil)
            if case .agent(.execResult(let result), _) = event { return result }
        }
    }

    /// Asks the agent to kexec and waits for the new kernel's hello.
    func kexec(into target: String, timeout: TimeInterval) async throws -> (quiesce: HostTime, hello: Hello, helloTime: HostTime) {
        machine.send(.kexecNext)
        var quiesce: HostTime?
        while quiesce == nil {
            if case .agent(.quiesce, let time) = try await next(timeout, waitingFor: "loading \(target)", afterKexecInto: nil) { quiesce = time }
        }
        let (hello, time) = try await hello(timeout: timeout, afterKexecInto: target)
        return (quiesce!, hello, time)
    }

    func powerOff() async {
        machine.send(.powerOff)
        _ = await machine.waitForExit(timeout: 10)
    }
}
