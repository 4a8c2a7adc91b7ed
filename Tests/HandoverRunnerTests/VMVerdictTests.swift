import Foundation
@testable import HandoverCore
import Testing
import HandoverTestSupport
@testable import HandoverSupport
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns


/// A vm scenario's run as the tracker sees it: the agent's messages over both stages, with the
/// host time of each, and what it concludes.
private struct GuestRun {
    static let scenario = try! Scenario.parse(text: VMScenarioTests.base, file: "vm.yaml")

    var messages: [(Double, AgentMessage)] = []

    static func hello(stage: Int, release: String, number: Int?) -> Hello {
        Hello(agentVersion: "0", protocolVersion: HandoverVersion.protocolVersion, stage: stage, kernelRelease: release, bootID: "b\(stage)",
              cmdline: "", liveUpdateDevice: true, liveUpdateNumber: number, previousRelease: nil, kexecCount: nil, uptimeAtStart: 1,
              liveUpdateLog: [], bootMarks: [:])
    }

    static func stage2(_ continuity: GuestContinuity, ram: GuestRAMCheck, end: UInt64) -> VMStageReport {
        VMStageReport(stage: 2, backing: .memfd, ramBytes: 16 << 20, counterStart: 4096, counterEnd: end, exits: 100,
                      runMicros: 300_000, rebuildMicros: 4_000, continuity: continuity, ram: ram)
    }

    /// A whole pair: the guest pauses at counter 4096 at t=2.0 s and first exits after the resume at t=7.5 s.
    static func pair(continuity: GuestContinuity? = nil, ram: GuestRAMCheck? = nil, end: UInt64 = 400_000) -> [(Double, AgentMessage)] {
        let continued = continuity ?? GuestContinuity(counterAtPause: 4096, expectedCounter: 5120, observedCounter: 5120,
                                                      expectedCursor: 5120 % 4080, observedCursor: 5120 % 4080, counterInMemory: 5120)
        let intact = ram ?? GuestRAMCheck(bytes: 16 << 20, differingBytes: 0, firstDifference: nil, expected: nil, found: nil, counter: end)
        return [
            (1.0, .hello(hello(stage: 1, release: "7.3.4", number: nil))),
            (2.0, .vcpuStopped(GuestSample(stage: 1, counter: 4096, exits: 4, clock: 1_900_000))),
            (2.1, .vm(VMStageReport(stage: 1, backing: .memfd, ramBytes: 16 << 20, counterStart: 0, counterEnd: 4096, exits: 4, runMicros: 300_000))),
            (2.5, .quiesce(counter: nil)),
            (7.0, .resumed(retrieved: 2, microseconds: 1_000, clock: 2_500_000)),
            (7.5, .vcpuRunning(GuestSample(stage: 2, counter: continued.observedCounter, exits: 1, clock: 3_000_000))),
            (7.6, .hello(hello(stage: 2, release: "7.3.4", number: 1))),
            (8.0, .vm(stage2(continued, ram: intact, end: end))),
            (8.1, .fingerprints(stage: 2, [])),
            (8.2, .checks([CheckResult(.finishSession("vm"), passed: true, expected: "success", observed: "success")])),
            (8.3, .done),
        ]
    }

    static func conclude(_ messages: [(Double, AgentMessage)]) -> RunResult {
        let chain = [SampleImages.image("linux-7.3", release: "7.3.4"), SampleImages.image("linux-7.3", release: "7.3.4")]
        var tracker = RunTracker(scenario: scenario, chain: chain)
        let progress = ProgressReporter(mode: .quiet, isTerminal: false)
        for (seconds, message) in messages {
            tracker.handle(message, at: HostTime(nanoseconds: UInt64(seconds * 1e9)), reply: { _ in }, progress: progress)
        }
        var options = RunOptions(accelerator: .tcg, acceleratorReason: "test")
        options.backend = .qemu
        var result = RunResult.unfinished(scenario, chain: chain, options: options)
        tracker.conclude(into: &result)
        return result
    }
}

@Suite("vm scenario verdicts")
struct VMVerdictTests {
    @Test func aGuestThatContinuedWithItsRAMIntactPassesWithItsOwnBlackout() throws {
        let result = GuestRun.conclude(GuestRun.pair())
        #expect(result.verdict == .pass, "\(result.reason)")
        let vm = try #require(result.vm)
        #expect(abs((vm.blackout ?? 0) - 5.5) < 1e-9)
        #expect(abs((result.blackout?.total ?? 0) - 4.5) < 1e-9)
        #expect(abs((vm.hops[0].beforeQuiesce ?? 0) - 0.5) < 1e-9)
        #expect(abs((vm.hops[0].afterResumed ?? 0) - 0.5) < 1e-9)
        #expect(vm.hops[0].counterAtPause == 4096 && vm.hops[0].firstCounterAfter == 5120)
        #expect(result.hops.first?.vmBlackout == vm.blackout)
        #expect(result.reason.contains("continued where it stopped"))
        #expect(result.summaryLine.contains("VM blackout 5.500 s"))
    }

    @Test func aRepeatedReportIsADiscontinuity() {
        let repeated = GuestContinuity(counterAtPause: 4096, expectedCounter: 5120, observedCounter: 4096, expectedCursor: 16,
                                       observedCursor: 16, counterInMemory: 4096)
        let result = GuestRun.conclude(GuestRun.pair(continuity: repeated))
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .vmDiscontinuity)
        #expect(result.reason.contains("did not continue where it stopped") && result.reason.contains("repeated the counter it stopped at (4096)"), "\(result.reason)")
    }

    @Test func registersThatDisagreeAreADiscontinuity() {
        let shifted = GuestContinuity(counterAtPause: 4096, expectedCounter: 5120, observedCounter: 5120, expectedCursor: 1040,
                                      observedCursor: 784, counterInMemory: 5120)
        let result = GuestRun.conclude(GuestRun.pair(continuity: shifted))
        #expect(result.failureClass == .vmDiscontinuity)
        #expect(result.reason.contains("page cursor"), "\(result.reason)")
    }

    @Test func aChangedByteOfRAMIsAStateMismatchAtItsGuestPhysicalAddress() {
        let flipped = GuestRAMCheck(bytes: 16 << 20, differingBytes: 1, firstDifference: 0x20010, expected: 0x5a, found: 0xa5, counter: 400_000)
        let result = GuestRun.conclude(GuestRun.pair(ram: flipped))
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .stateMismatch)
        #expect(result.reason.contains("guest-physical 0x20010") && result.reason.contains("expected 0x5a, found 0xa5"), "\(result.reason)")
    }

    @Test func noResumeReportNeverPasses() {
        var messages = GuestRun.pair()
        messages.removeAll { if case .vcpuRunning = $0.1 { true } else { false } }
        let result = GuestRun.conclude(messages)
        #expect(result.verdict != .pass)
    }

    @Test func aGuestThatNeverRanNeverPasses() {
        var messages = GuestRun.pair()
        messages.removeAll { if case .vm = $0.1 { true } else { false } }
        let result = GuestRun.conclude(messages)
        #expect(result.verdict == .error)
        #expect(result.reason.contains("no run of the guest"))
    }

    @Test func aGuestThatMadeNoProgressAfterTheResumeFails() {
        let result = GuestRun.conclude(GuestRun.pair(end: 5120))
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .vmDiscontinuity)
    }

    @Test func aRebuildRefusedInTheNewKernelIsAFailure() {
        var messages = Array(GuestRun.pair().prefix(5))
        messages.append((7.6, .hello(GuestRun.hello(stage: 2, release: "7.3.4", number: 1))))
        messages.append((7.7, .failed(step: .vmResume, message: "rebuilding the VM in 7.3.4: open /dev/kvm: ENOENT", errno: 2)))
        let result = GuestRun.conclude(messages)
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .vmDiscontinuity)
        #expect(result.reason.contains("could not be resumed"))
    }

    @Test func aVCPUThatDoesNotRunIsUnsupported() {
        let consequence = SetupPolicy.consequence(of: .vmRun, errno: nil, release: "7.3.4", detail: "the first exit was KVM_EXIT_SHUTDOWN")
        guard case .unsupported(let reason) = consequence else { Issue.record("\(consequence)"); return }
        #expect(reason.contains("vCPU does not run") && reason.contains("KVM_EXIT_SHUTDOWN"))
    }
}

@Suite("Blackout phases from the console")
struct BlackoutPhaseTests {
    @Test func shutdownSplitsAtTheOldKernelsLastLineAndUnpackingIsTimed() {
        var messages = GuestRun.pair()
        let resumedAt = messages.firstIndex { if case .resumed = $0.1 { true } else { false } }!
        messages[resumedAt + 2].1 = .hello(Hello(
            agentVersion: "0", protocolVersion: HandoverVersion.protocolVersion, stage: 2, kernelRelease: "7.3.4", bootID: "b2", cmdline: "",
            liveUpdateDevice: true, liveUpdateNumber: 1, previousRelease: nil, kexecCount: nil, uptimeAtStart: 1,
            liveUpdateLog: [], bootMarks: [.runInit: 2_000_000, .unpackStart: 1_200_000, .unpackEnd: 1_450_000]))
        let chain = [SampleImages.image("linux-7.3", release: "7.3.4"), SampleImages.image("linux-7.3", release: "7.3.4")]
        var tracker = RunTracker(scenario: GuestRun.scenario, chain: chain)
        let progress = ProgressReporter(mode: .quiet, isTerminal: false)
        let console: [(Double, String)] = [
            (2.4, "[    3.100000] handover-agent: quiescing"),
            (2.62, "[    3.300000] kexec_core: Starting new kernel"),
            (3.5, "[    0.000000] Linux version 7.3.4"),
            (4.5, "[    1.000000] Run /init as init process"),
        ]
        var pending = console[...]
        for (seconds, message) in messages {
            while let next = pending.first, next.0 < seconds {
                tracker.noteConsoleTime(next.1, at: HostTime(nanoseconds: UInt64(next.0 * 1e9)))
                pending = pending.dropFirst()
            }
            tracker.handle(message, at: HostTime(nanoseconds: UInt64(seconds * 1e9)), reply: { _ in }, progress: progress)
        }
        var options = RunOptions(accelerator: .tcg, acceleratorReason: "test")
        options.backend = .qemu
        var result = RunResult.unfinished(GuestRun.scenario, chain: chain, options: options)
        tracker.conclude(into: &result)
        let blackout = result.blackout!
        #expect(abs(blackout.oldKernel! - 0.12) < 1e-6)
        #expect(abs(blackout.jump! - 0.88) < 1e-6)
        #expect(abs(blackout.oldKernel! + blackout.jump! - blackout.shutdown!) < 1e-9)
        #expect(abs(blackout.initramfsUnpack! - 0.25) < 1e-9)
    }
}
