import Foundation
@testable import HandoverCore
import HandoverTestSupport
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverSupport
import Testing

/// The runner's own verdict on vm runs: a protocol-4 TCG run of vm-basic from linux-7.3 to
/// linux-7.3 (Fixtures/runs/vm-basic), replayed through the tracker as recorded and with exactly
/// one thing wrong. The memfd run is memfd-basic from linux-7.2 to linux-7.3.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private func fixture(_ path: String) -> RecordedRun {
    let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(path)
    return try! RecordedRun(directory: url)
}

private let vmRun = fixture("runs/vm-basic")
private let memfdRun = fixture("blackout/memfd-initcalls")
private let vmChain = [SampleImages.image("linux-7.3", release: "7.3.4"), SampleImages.image("linux-7.3", release: "7.3.4")]
/// The recorded guest: paused at 4096, first report after the resume 5120, final counter 10240.
private let finalCounter: UInt64 = 10240
private let vmBasic = try! Scenario.load(from: root.appendingPathComponent("Scenarios/vm-basic.yaml"))
private let memfdBasic = try! Scenario.load(from: root.appendingPathComponent("Scenarios/memfd-basic.yaml"))

private func replay(_ run: RecordedRun, _ scenario: Scenario = vmBasic) async throws -> RunResult {
    let machine = try ReplayMachine(run, ending: .exits("exited(0)"))
    defer { machine.stop() }
    let chain = scenario.kind == .vm ? vmChain : SampleImages.recordedPair
    var tracker = RunTracker(scenario: scenario, chain: chain)
    var options = RunOptions(accelerator: .tcg, acceleratorReason: "replay")
    options.bootTimeout = 5
    options.kexecTimeout = 5
    try await tracker.follow(machine, options: options, progress: ProgressReporter(mode: .quiet, isTerminal: false))
    var result = RunResult.unfinished(scenario, chain: chain, options: options)
    tracker.conclude(into: &result)
    return result
}

/// The recorded run with the final stage's vm report rewritten.
private func editFinalReport(_ run: RecordedRun = vmRun, _ edit: @escaping (inout VMStageReport) -> Void) -> RecordedRun {
    run.mapAgent { message in
        guard case .vm(var report) = message, report.stage == 2 else { return message }
        edit(&report)
        return .vm(report)
    }
}

private let ramSpec = vmBasic.objects.first { $0.name == "guest-ram" }!
private func modelDigests(atCounter counter: UInt64) -> [String] {
    GuestRAMModel(spec: ramSpec, reportEvery: 1024).digests(atCounter: counter, chunkSize: 1 << 20)
}

/// The program's registers at a report of `counter`, from the recorded pause's registers.
private func registers(atCounter counter: UInt64, like recorded: GuestRegisters) -> GuestRegisters {
    var values = recorded.values
    values[VCPUSnapshot.Register.rax.rawValue] = counter
    values[VCPUSnapshot.Register.rbx.rawValue] = counter
    values[VCPUSnapshot.Register.rcx.rawValue] = counter % UInt64(GuestProgram(ramBytes: ramSpec.size).pages)
    return GuestRegisters(values: values)
}

private var agentMessageCount: Int { vmRun.events.filter { $0.agentMessage != nil }.count }

/// The recorded run without its agent message number `index` (0-based among agent messages).
private func dropping(_ index: Int, from run: RecordedRun) -> (RecordedRun, AgentMessage) {
    var seen = -1
    var dropped: AgentMessage?
    let events = run.events.filter { event in
        guard let message = event.agentMessage else { return true }
        seen += 1
        if seen == index { dropped = message; return false }
        return true
    }
    return (RecordedRun(events: events), dropped!)
}

@Suite("The runner's verdict on recorded vm runs")
struct VMReplayTests {
    @Test("the recorded run passes on the runner's own comparison of pause and resume and its own RAM model")
    func recordedRunPasses() async throws {
        let result = try await replay(vmRun)
        #expect(result.verdict == .pass, "\(result.reason)")
        let vm = try #require(result.vm)
        let continuity = try #require(vm.hops.first?.continuity)
        #expect(continuity.counterAtPause == 4096 && continuity.firstCounterAfter == 5120 && continuity.expectedFirstCounter == 5120)
        #expect(continuity.registersAtPause == continuity.registersRestored && continuity.differingRegisters.isEmpty)
        #expect(continuity.registersAtPause["rip"] == 0x101e && continuity.registersAtPause.count == 18)
        let ram = try #require(vm.ram)
        #expect(ram.intact && ram.modelDigest == ram.reportedDigest && ram.counter == finalCounter && ram.bytes == 32 << 20)
        #expect(vm.hops[0].continued == true)
        #expect(result.reason.contains("match the runner's model at its final counter 10240"), "\(result.reason)")
        #expect(result.objects.map(\.object).sorted() == ["guest-ram", "vcpu-state"])
        #expect(result.objects.allSatisfy { $0.ok && !$0.properties.contains { $0.property == "content" } })
    }

    @Test("state and RAM rolled back one report, consistent with each other, are a discontinuity the runner sees")
    func staleButConsistentState() async throws {
        let pausedReports = vmRun.events.compactMap { event -> GuestRegisters? in
            if case .vm(let report)? = event.agentMessage { return report.pausedRegisters } else { return nil }
        }
        let paused = try #require(pausedReports.first)
        let stale = vmRun.mapAgent { message in
            switch message {
            case .vcpuRunning(var sample) where sample.stage == 2:
                sample.counter = 4096
                return .vcpuRunning(sample)
            case .vm(var report) where report.stage == 2:
                report.restored = GuestRestore(snapshotCounter: 3072, registers: registers(atCounter: 3072, like: paused), counterInMemory: 3072)
                report.counterStart = 3072
                report.counterEnd = finalCounter - 1024
                report.ram?.counter = finalCounter - 1024
                report.ram?.chunks = modelDigests(atCounter: finalCounter - 1024)
                return .vm(report)
            default:
                return message
            }
        }
        let result = try await replay(stale)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .vmDiscontinuity)
        #expect(result.reason.contains("at counter 3072, but it paused at counter 4096") && result.reason.contains("stale"), "\(result.reason)")
        #expect(result.vm?.ram?.intact == true)
    }

    @Test("a register KVM gave back changed by one is a discontinuity naming the register and both values")
    func registerChangedByOne() async throws {
        let result = try await replay(editFinalReport { report in report.restored!.registers.values[VCPUSnapshot.Register.rcx.rawValue] += 1 })
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .vmDiscontinuity)
        #expect(result.reason.contains("the vCPU came back with rcx 0x1001 after the restore, it was 0x1000 at the pause"), "\(result.reason)")
        #expect(result.vm?.hops.first?.continuity?.differingRegisters == ["rcx"])
    }

    @Test("a counter word in RAM that does not match the pause is a discontinuity")
    func counterInMemoryDiffers() async throws {
        let result = try await replay(editFinalReport { report in report.restored!.counterInMemory = 3072 })
        #expect(result.verdict == .fail && result.failureClass == .vmDiscontinuity, "\(result.reason)")
        #expect(result.reason.contains("counter word in guest RAM"))
    }

    @Test("a RAM report taken at a counter other than the last is an error")
    func ramReportAtAnotherCounter() async throws {
        let result = try await replay(editFinalReport { report in report.ram!.counter = 6144 })
        #expect(result.verdict == .error && result.failureClass == .infrastructure)
        #expect(result.reason.contains("read at counter 6144, but the guest's final counter is 10240"), "\(result.reason)")
    }

    @Test("digests of another counter's RAM at the final counter differ from the runner's model")
    func ramOfAnotherCounter() async throws {
        let result = try await replay(editFinalReport { report in report.ram!.chunks = modelDigests(atCounter: 6144) })
        #expect(result.verdict == .fail && result.failureClass == .stateMismatch, "\(result.reason)")
        #expect(result.reason.contains("differs from the runner's model at counter 10240"))
    }

    @Test("a RAM report covering fewer bytes than the guest has is an error")
    func ramReportCoversFewerBytes() async throws {
        let result = try await replay(editFinalReport { report in
            report.ram!.bytes -= 1 << 20
            report.ram!.chunks.removeLast()
        })
        #expect(result.verdict == .error && result.failureClass == .infrastructure)
        #expect(result.reason.contains("covers 32505856 bytes, the guest has 33554432"), "\(result.reason)")
    }

    @Test("a chunk of RAM whose digest differs is a state mismatch at its guest-physical range and the located byte")
    func changedRAM() async throws {
        let result = try await replay(editFinalReport { report in
            report.ram!.chunks[3] = String(repeating: "0", count: 64)
            report.ram!.firstDifference = GuestRAMDifference(address: 0x300010, expected: 0x12, found: 0xed, differingBytes: 1)
        })
        #expect(result.verdict == .fail && result.failureClass == .stateMismatch)
        #expect(result.reason.contains("guest-physical 0x300000-0x3fffff differs from the runner's model at counter 10240"), "\(result.reason)")
        #expect(result.reason.contains("0x300010 (expected 0x12, found 0xed), 1 byte differs"))
        #expect(result.vm?.ram?.differingChunks == [3])
    }

    @Test("an agent that says its RAM is intact is not believed: only the digests count")
    func agentOpinionIsNotTheVerdict() async throws {
        let result = try await replay(editFinalReport { report in report.ram!.chunks[0] = modelDigests(atCounter: finalCounter)[1] })
        #expect(result.verdict == .fail && result.failureClass == .stateMismatch, "\(result.reason)")
    }

    @Test("every single agent message dropped from the passing vm run: never a pass")
    func everyDroppedMessageIsNotAPass() async throws {
        #expect(agentMessageCount > 20)
        for index in 0..<agentMessageCount {
            let (run, dropped) = dropping(index, from: vmRun)
            let result = try await replay(run)
            #expect(result.verdict != .pass, "without \(ProtocolLine.encode(dropped).prefix(120)): \(result.reason)")
        }
    }

    @Test("every single agent message dropped from the passing memfd run: never a pass")
    func everyDroppedMemfdMessageIsNotAPass() async throws {
        let count = memfdRun.events.filter { $0.agentMessage != nil }.count
        for index in 0..<count {
            let (run, dropped) = dropping(index, from: memfdRun)
            let result = try await replay(run, memfdBasic)
            #expect(result.verdict != .pass, "without \(ProtocolLine.encode(dropped).prefix(120)): \(result.reason)")
        }
    }

    @Test("each required message removed in turn is an error that names it", arguments: [
        ("hello", 2), ("fingerprints", 1), ("fingerprints", 2), ("checks", 2), ("vcpu-stopped", 1), ("vcpu-running", 2), ("vm", 1), ("vm", 2),
    ])
    func requiredMessageRemoved(type: String, stage: Int) async throws {
        func matches(_ message: AgentMessage) -> Bool {
            guard message.typeName == type else { return false }
            switch message {
            case .hello(let hello): return hello.stage == stage
            case .fingerprints(let s, _): return s == stage
            case .vcpuStopped(let sample), .vcpuRunning(let sample): return sample.stage == stage
            case .vm(let report): return report.stage == stage
            case .checks: return stage == 2
            default: return false
            }
        }
        let run = RecordedRun(events: vmRun.events.filter { event in event.agentMessage.map(matches) != true })
        #expect(run.events.count == vmRun.events.count - 1)
        let result = try await replay(run)
        #expect(result.verdict == .error && result.failureClass == .infrastructure, "\(result.reason)")
        let named = type == "vm" ? "vm report" : type
        #expect(result.reason.contains("never sent its \(named) in stage \(stage)"), "\(result.reason)")
    }

    @Test("a setup errno that is not a capability absence fails (or errs) with step and errno, whatever the agent called it")
    func setupErrnoIsNotUnsupported() async throws {
        func beforeSlot(_ more: [AgentMessage]) -> RecordedRun {
            vmRun.cut(before: { if case .step(let report)? = $0.agentMessage { report.step == .setup(.vmMemorySlot) } else { false } })
                .then(more.map { message in { .agent(message, $0) } })
        }
        let refused = StepReport(stage: 1, step: .setup(.vmMemorySlot), ok: false, detail: "KVM_SET_USER_MEMORY_REGION: EINVAL", errno: 22, errnoName: "EINVAL")
        let claimed = try await replay(beforeSlot([.step(refused), .unsupported(reason: "kernel 7.3.4: KVM refuses the memory slot", errno: 22)]))
        #expect(claimed.verdict == .fail && claimed.failureClass == .preserveFailed, "\(claimed.reason)")
        #expect(claimed.errno == 22 && claimed.reason.contains("vm-memory-slot") && claimed.reason.contains("EINVAL"))
        let reported = try await replay(beforeSlot([.step(refused), .failed(step: .setup(.vmMemorySlot), message: refused.detail, errno: 22)]))
        #expect(reported.verdict == .fail && reported.failureClass == .preserveFailed && reported.errno == 22, "\(reported.reason)")

        let foreignExit = StepReport(stage: 1, step: .setup(.vmRun), ok: false, detail: "the first exit was KVM_EXIT_SHUTDOWN")
        let harness = try await replay(beforeSlot([.step(foreignExit), .failed(step: .setup(.vmRun), message: foreignExit.detail, errno: nil)]))
        #expect(harness.verdict == .error && harness.failureClass == .infrastructure, "\(harness.reason)")
        #expect(harness.reason.contains("vm-run") && harness.reason.contains("KVM_EXIT_SHUTDOWN"))

        let noSVM = StepReport(stage: 1, step: .setup(.cpuVirtualization), ok: false, detail: "/proc/cpuinfo shows neither vmx nor svm")
        let absent = try await replay(vmRun.cut(before: { if case .step(let report)? = $0.agentMessage { report.step == .setup(.cpuVirtualization) } else { false } })
            .then([{ .agent(.step(noSVM), $0) }, { .agent(.unsupported(reason: "kernel 7.3.4: no vmx or svm", errno: nil), $0) }]))
        #expect(absent.verdict == .unsupported, "\(absent.reason)")
    }
}

extension AgentMessage {
    /// The envelope's type, as the wire spells it.
    var typeName: String {
        let line = ProtocolLine.encode(self)
        let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return object["type"] as! String
    }
}
