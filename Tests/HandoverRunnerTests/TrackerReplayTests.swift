import Foundation
@testable import HandoverCore
import HandoverTestSupport
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverSupport
import Testing

/// The tracker driven through whole memfd runs: a real TCG run of memfd-basic from linux-7.2
/// to linux-7.3 (Fixtures/blackout/memfd-initcalls), replayed by a fake VM through the same
/// follow loop a live run uses, as recorded and edited to end each way a run can end.
private let recorded: RecordedRun = {
    let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("blackout/memfd-initcalls")
    return try! RecordedRun(directory: fixtures)
}()

private let memfdBasic: Scenario = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try! Scenario.load(from: root.appendingPathComponent("Scenarios/memfd-basic.yaml"))
}()

private func replay(_ run: RecordedRun, ending: ReplayMachine.Ending = .exits("exited(0)")) async throws -> (RunResult, [RunnerCommand]) {
    let machine = try ReplayMachine(run, ending: ending)
    defer { machine.stop() }
    let chain = SampleImages.recordedPair
    var tracker = RunTracker(scenario: memfdBasic, chain: chain)
    var options = RunOptions(accelerator: .tcg, acceleratorReason: "replay")
    options.bootTimeout = 5
    options.kexecTimeout = 5
    try await tracker.follow(machine, options: options, progress: ProgressReporter(mode: .quiet, isTerminal: false))
    var result = RunResult.unfinished(memfdBasic, chain: chain, options: options)
    tracker.conclude(into: &result)
    return (result, machine.sent)
}

private func isHello(stage: Int) -> (VMEvent) -> Bool {
    { if case .hello(let hello)? = $0.agentMessage { return hello.stage == stage } else { return false } }
}

private func isQuiesce(_ event: VMEvent) -> Bool { if case .quiesce? = event.agentMessage { true } else { false } }

private func isStep(_ step: AgentStep) -> (VMEvent) -> Bool {
    { if case .step(let report)? = $0.agentMessage { report.step == step } else { false } }
}

private func console(_ line: String) -> (HostTime) -> VMEvent { { .console(line, $0) } }

private func agent(_ message: AgentMessage) -> (HostTime) -> VMEvent { { .agent(message, $0) } }

@Suite("The tracker through recorded memfd runs")
struct TrackerReplayTests {
    @Test("the recorded run passes, with its blackout, and the runner asked the agent what a run asks")
    func recordedRunPasses() async throws {
        let (result, sent) = try await replay(recorded)
        #expect(result.verdict == .pass, "\(result.reason)")
        #expect(result.failureClass == nil)
        #expect(result.hops.count == 1 && result.hops[0].objectsIntact == result.hops[0].objectsTotal)
        let blackout = try #require(result.blackout)
        #expect(blackout.total > 0 && blackout.kernelBoot != nil)
        #expect(result.checks.contains { $0.check == .newKernelRelease && $0.passed })
        #expect(sent.contains(.start) && sent.contains { if case .verify = $0 { true } else { false } })
    }

    @Test("a chunk that came back different is state-mismatch, naming the object")
    func changedChunkIsStateMismatch() async throws {
        let edited = recorded.mapAgent { message in
            guard case .fingerprints(let stage, var objects) = message, stage == 2, !objects[0].chunks.isEmpty else { return message }
            objects[0].chunks[0] = String(repeating: "0", count: objects[0].chunks[0].count)
            return .fingerprints(stage: stage, objects)
        }
        let (result, _) = try await replay(edited)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .stateMismatch)
        #expect(result.reason.contains("came back changed"))
    }

    @Test("a new kernel that logs an ABI refusal and resets is abi-incompatible, with the line as evidence")
    func refusalIsABIIncompatible() async throws {
        let line = "[    0.321917] luo: LUO state is incompatible with this kernel (luo-v6 vs luo-v5)"
        let (result, _) = try await replay(recorded.cut(after: isQuiesce).then([console(line)]))
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .abiIncompatible)
        #expect(result.evidence?.contains("LUO state is incompatible") == true)
    }

    @Test("a panic after the kexec is new-kernel-panic")
    func panicAfterKexec() async throws {
        let run = recorded.cut(after: isQuiesce).then([console("[    0.912000] Kernel panic - not syncing: VFS: Unable to mount root fs")])
        let (result, _) = try await replay(run)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .newKernelPanic)
        #expect(result.reason.contains("linux-7.3") && result.reason.contains("panicked after the kexec"))
    }

    @Test("a new kernel that never brings the agent back is boot-timeout")
    func silenceAfterKexec() async throws {
        let (result, _) = try await replay(recorded.cut(after: isQuiesce), ending: .silence)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .bootTimeout)
        #expect(result.reason.contains("did not bring the agent back"))
    }

    @Test("the agent dying in the new kernel is agent-crash")
    func agentDiesAfterHello() async throws {
        let run = recorded.cut(after: isHello(stage: 2))
            .then([console("[    4.990000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b")])
        let (result, _) = try await replay(run)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .agentCrash)
        #expect(result.reason.contains("stage 2"))
    }

    @Test("a refused preserve is preserve-failed; a failed kexec load is kexec-load-failed")
    func stage1Failures() async throws {
        let beforePreserve = recorded.cut(before: isStep(.preserve))
        let (preserve, _) = try await replay(beforePreserve.then([agent(.failed(step: .preserve, message: "PRESERVE_FD: EBUSY", errno: 16))]))
        #expect(preserve.verdict == .fail && preserve.failureClass == .preserveFailed, "\(preserve.reason)")
        let beforeLoad = recorded.cut(before: isStep(.kexecLoad))
        let (load, _) = try await replay(beforeLoad.then([agent(.failed(step: .kexecLoad, message: "kexec_file_load: EINVAL", errno: 22))]))
        #expect(load.verdict == .fail && load.failureClass == .kexecLoadFailed, "\(load.reason)")
    }

    @Test("a retrieve that fails without a refusal in the log is retrieve-failed")
    func retrieveFails() async throws {
        let run = recorded.cut(after: isHello(stage: 2)).then([agent(.failed(step: .retrieve, message: "RETRIEVE_FD: ENOENT", errno: 2))])
        let (result, _) = try await replay(run)
        #expect(result.verdict == .fail && result.failureClass == .retrieveFailed, "\(result.reason)")
    }

    @Test("a FINISH the new kernel refuses is finish-failed; a retrieval check it fails is retrieve-failed")
    func failedChecksAreClassifiedByCheck() async throws {
        func failing(_ check: (Check) -> Bool) -> RecordedRun {
            recorded.mapAgent { message in
                guard case .checks(var results) = message, let index = results.firstIndex(where: { check($0.check) }) else { return message }
                results[index].passed = false
                results[index].observed = "EBUSY"
                return .checks(results)
            }
        }
        let (finish, _) = try await replay(failing { if case .finishSession = $0 { true } else { false } })
        #expect(finish.verdict == .fail && finish.failureClass == .finishFailed, "\(finish.reason)")
        let (retrieve, _) = try await replay(failing { $0 == .retrieveTokenTwiceSameFile })
        #expect(retrieve.verdict == .fail && retrieve.failureClass == .retrieveFailed, "\(retrieve.reason)")
    }

    @Test("a first kernel that cannot preserve is unsupported, with its errno")
    func unsupportedFirstKernel() async throws {
        let run = recorded.cut(before: isStep(.preserve)).then([agent(.unsupported(reason: "no /dev/liveupdate", errno: 2))])
        let (result, _) = try await replay(run)
        #expect(result.verdict == .unsupported)
        #expect(result.errno == 2)
    }

    @Test("an unsupported claim the runner cannot prove is not unsupported")
    func unprovenUnsupported() async throws {
        let busy = recorded.cut(before: isStep(.preserve)).then([agent(.unsupported(reason: "open /dev/liveupdate: EBUSY", errno: 16))])
        let (opened, _) = try await replay(busy)
        #expect(opened.verdict == .error && opened.failureClass == .infrastructure, "\(opened.reason)")
        let refused = StepReport(stage: 1, step: .preserveHandle, ok: false, detail: "SESSION_PRESERVE_FD of the iommufd", errno: 22, errnoName: "EINVAL")
        let (invalid, _) = try await replay(recorded.cut(before: isStep(.preserve))
            .then([agent(.step(refused)), agent(.unsupported(reason: "SESSION_PRESERVE_FD refused", errno: 22))]))
        #expect(invalid.verdict == .fail && invalid.failureClass == .preserveFailed && invalid.errno == 22, "\(invalid.reason)")
    }

    @Test("QEMU killed from outside is a harness error, whatever the console says")
    func killedQEMUIsInfrastructure() async throws {
        let (result, _) = try await replay(recorded.cut(after: isQuiesce), ending: .exits("signaled(9)"))
        #expect(result.verdict == .error && result.failureClass == .infrastructure)
        #expect(result.reason.contains("QEMU was killed"))
    }

    @Test("a malformed line from the agent is a harness error")
    func malformedLine() async throws {
        let error = ProtocolError(line: "{\"v\":3,\"type\":\"teleport\"}", reason: "unknown agent message type 'teleport'")
        let (result, _) = try await replay(recorded.cut(after: isHello(stage: 1)).then([{ .malformed(error, $0) }]))
        #expect(result.verdict == .error && result.failureClass == .infrastructure)
        #expect(result.reason.contains("protocol error"))
    }

    /// Modules the agent reports for a stage's hello, as a recipe with `modules:` makes it load them.
    private func withModules(_ modules: [ModuleLoad], stage: Int) -> RecordedRun {
        recorded.mapAgent { message in
            guard case .hello(var hello) = message, hello.stage == stage else { return message }
            hello.modules = modules
            return .hello(hello)
        }
    }

    @Test("modules that loaded change nothing; one that did not decides the verdict by the built-in rule")
    func moduleLoads() async throws {
        let loaded = [ModuleLoad(name: "kvm"), ModuleLoad(name: "kvm_amd")]
        #expect(try await replay(withModules(loaded, stage: 1)).0.verdict == .pass)
        #expect(try await replay(withModules(loaded, stage: 2)).0.verdict == .pass)

        let absent = [ModuleLoad(name: "kvm"), ModuleLoad(name: "kvm_intel", errno: 19)]
        let first = try await replay(withModules(absent, stage: 1)).0
        #expect(first.verdict == .unsupported)
        #expect(first.reason.contains("module kvm_intel did not load (errno 19)") && first.reason.contains("linux-7.2"), "\(first.reason)")

        let refused = try await replay(withModules(absent, stage: 2)).0
        #expect(refused.verdict == .fail && refused.failureClass == .abiIncompatible, "\(refused.reason)")
        #expect(refused.reason.contains("linux-7.3"), "\(refused.reason)")

        let wrongKernel = try await replay(withModules([ModuleLoad(name: "kvm", errno: 8)], stage: 1)).0
        #expect(wrongKernel.verdict == .error && wrongKernel.failureClass == .infrastructure, "\(wrongKernel.reason)")
    }
}
