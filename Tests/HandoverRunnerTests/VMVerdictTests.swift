import Foundation
@testable import HandoverCore
import Testing
import HandoverTestSupport
@testable import HandoverSupport
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns


/// A vm scenario's run as the tracker sees it, for its blackout: the agent's messages over both
/// stages with the host time of each. Verdicts are tested on a recorded run (VMReplayTests).
private struct GuestRun {
    static let scenario = try! Scenario.parse(text: VMScenarioTests.base, file: "vm.yaml")

    var messages: [(Double, AgentMessage)] = []

    static func hello(stage: Int, release: String, number: Int?) -> Hello {
        Hello(agentVersion: "0", protocolVersion: HandoverVersion.protocolVersion, stage: stage, kernelRelease: release, bootID: "b\(stage)",
              cmdline: "", liveUpdateDevice: true, liveUpdateNumber: number, previousRelease: nil, kexecCount: nil, uptimeAtStart: 1,
              liveUpdateLog: [], bootMarks: [:])
    }

    static func registers(counter: UInt64) -> GuestRegisters {
        GuestRegisters(values: [counter, counter, counter % 4080, 0x4e0, 0x10000, 4080, 0, 1023, 0, 0, 0, 0, 0, 0, 0, 0, 0x101e, 0x46])
    }

    /// A pair's messages with their host times: the guest pauses at counter 4096 at t=2.0 s and
    /// first exits after the resume at t=7.5 s.
    static func pair() -> [(Double, AgentMessage)] {
        [
            (1.0, .hello(hello(stage: 1, release: "7.3.4", number: nil))),
            (2.0, .vcpuStopped(GuestSample(stage: 1, counter: 4096, exits: 4, clock: 1_900_000))),
            (2.1, .vm(VMStageReport(stage: 1, backing: .memfd, ramBytes: 16 << 20, counterStart: 0, counterEnd: 4096, exits: 4, runMicros: 300_000,
                                    pausedRegisters: registers(counter: 4096)))),
            (2.5, .quiesce(counter: nil)),
            (7.0, .resumed(retrieved: 2, microseconds: 1_000, clock: 2_500_000)),
            (7.5, .vcpuRunning(GuestSample(stage: 2, counter: 5120, exits: 1, clock: 3_000_000))),
            (7.6, .hello(hello(stage: 2, release: "7.3.4", number: 1))),
            (8.3, .done),
        ]
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
