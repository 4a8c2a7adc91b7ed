import Foundation
@testable import HandoverCore
import Testing
import HandoverTestSupport
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverReports
@testable import HandoverHistory
@testable import HandoverMatrix

private func qemuArguments(_ timing: Timing, arch: Architecture = .x86_64) -> [String] {
    var config = VMConfig(kernel: URL(fileURLWithPath: "/k"), initrd: URL(fileURLWithPath: "/i"), cmdline: "c", accelerator: .tcg)
    config.timing = timing
    config.arch = arch
    config.cpus = 2
    return QemuCommand.arguments(config, consolePipe: URL(fileURLWithPath: "/c"), agentSocket: URL(fileURLWithPath: "/a"),
                                 qmpSocket: URL(fileURLWithPath: "/q"))
}

private let tinyScenario = "name: tiny\nobjects:\n  a: {size: 4KiB, fill: zero}\nsessions:\n  - name: s\n    members: [{object: a, token: 1}]\n"

private func value(_ args: [String], after flag: String) -> String? {
    args.firstIndex(of: flag).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
}

@Suite("Guest timing: QEMU's icount, one vCPU")
struct GuestTimingCommandTests {
    @Test(arguments: [Architecture.x86_64, .arm64])
    func guestTimingCountsInstructionsOnOneVCPU(arch: Architecture) {
        let guest = qemuArguments(.guest, arch: arch)
        #expect(value(guest, after: "-icount") == "shift=3,sleep=off,align=off")
        #expect(value(guest, after: "-smp") == "1")
        // QEMU refuses multi-threaded TCG with icount ("No MTTCG when icount is enabled").
        #expect(value(guest, after: "-accel") == "tcg,thread=single")
        let host = qemuArguments(.host, arch: arch)
        #expect(!host.contains("-icount"))
        #expect(value(host, after: "-smp") == "2")
        #expect(value(host, after: "-accel") == "tcg,thread=multi")
    }

    @Test func guestTimingIsRefusedUnderKVMAndOnLibvirt() {
        #expect(Timing.guest.refusal(under: .kvm)?.contains("icount") == true)
        #expect(Timing.guest.refusal(under: .tcg) == nil)
        #expect(Timing.host.refusal(under: .kvm) == nil)
        #expect(Timing.guest.refusal(on: .libvirt(uri: "qemu:///system")) != nil)
        #expect(Timing.guest.refusal(on: .qemu) == nil)
        #expect(Timing.host.refusal(on: .libvirt(uri: "qemu:///system")) == nil)
        #expect(Timing.preferred(under: .tcg, on: .qemu) == .guest)
        #expect(Timing.preferred(under: .kvm, on: .qemu) == .host)
        #expect(Timing.preferred(under: .tcg, on: .libvirt(uri: "qemu:///system")) == .host)
    }

    @Test func aRunAskingGuestTimingUnderKVMEndsBeforeBooting() async {
        let scenario = try! Scenario.parse(text: tinyScenario, file: "s.yaml")
        var options = RunOptions(accelerator: .kvm, acceleratorReason: "test")
        options.timing = .guest
        let chain = [SampleImages.image("linux-7.2", release: "7.2.13"), SampleImages.image("linux-7.3", release: "7.3.4")]
        let result = await RunSession(scenario: scenario, chain: chain, options: options, progress: ProgressReporter(mode: .quiet, isTerminal: false)).run()
        #expect(result.verdict == .error)
        #expect(result.reason.contains("icount"))
        #expect(result.timing == .guest)
        #expect(result.hellos.isEmpty && result.vmSeconds == nil)
    }

    static let matrix = "images: [linux-7.2, linux-7.3]\nscenarios: [memfd-basic]\n"

    @Test func theMatrixKeyIsTyped() throws {
        #expect(try MatrixFile.parse(text: Self.matrix, file: "m.yaml").timing == nil)
        #expect(try MatrixFile.parse(text: Self.matrix + "timing: guest\n", file: "m.yaml").timing == .guest)
        #expect(try MatrixFile.parse(text: Self.matrix + "timing: host\naccel: kvm\n", file: "m.yaml").timing == .host)
        #expect(throws: InputError.self) { try MatrixFile.parse(text: Self.matrix + "timing: virtual\n", file: "m.yaml") }
        do {
            _ = try MatrixFile.parse(text: Self.matrix + "timing: guest\naccel: kvm\n", file: "m.yaml")
            Issue.record("timing: guest with accel: kvm was accepted")
        } catch {
            #expect("\(error)".contains("timing") && "\(error)".contains("icount"))
        }
        #expect(throws: InputError.self) {
            try MatrixFile.parse(text: Self.matrix + "timing: guest\nbackends: [{backend: libvirt}]\n", file: "m.yaml")
        }
    }
}

@Suite("The blackout on the guest's clock")
struct GuestBlackoutTests {
    let chain = [SampleImages.image("linux-7.2", release: "7.2.13"), SampleImages.image("linux-7.3", release: "7.3.4")]

    func hello(stage: Int, marks: [BootMark: Int], anchor: CounterReading? = nil) -> Hello {
        Hello(agentVersion: "t", protocolVersion: HandoverVersion.protocolVersion, stage: stage, kernelRelease: stage == 1 ? "7.2.13" : "7.3.4",
              bootID: "b\(stage)", cmdline: "", liveUpdateDevice: true, liveUpdateNumber: stage - 1, previousRelease: nil, kexecCount: nil,
              uptimeAtStart: 1, liveUpdateLog: [], bootMarks: marks, counter: anchor)
    }

    /// A hop timed on the guest clock: quiesce at counter 10 s (old kernel up 4 s), "Starting
    /// new kernel" at the old kernel's printk 4.2 s, the new kernel's clock zero at counter
    /// 10.3 s, /init at its printk 1.1 s, the retrieve 1.25 s → 1.3 s after its zero.
    /// `anchored`: the monotonic clocks trail the printk clocks by 50 and 100 ms, and each
    /// hello anchors the counter on its kernel's printk clock.
    func tracked(resumedTicks: UInt64 = 11_600_000_000, startingLine: Bool = true, anchored: Bool = false,
                 startingBeforeQuiesce: Bool = false) throws -> RunResult {
        let scenario = try Scenario.parse(text: tinyScenario, file: "s.yaml")
        var tracker = RunTracker(scenario: scenario, chain: chain)
        let progress = ProgressReporter(mode: .quiet, isTerminal: false)
        var clock = 0.0
        func at() -> HostTime { clock += 0.5; return HostTime(nanoseconds: UInt64(clock * 1e9)) }
        let trail = anchored ? 50_000 : 0
        tracker.handle(.hello(hello(stage: 1, marks: [:], anchor: anchored ? CounterReading(ticks: 7_000_000_000, hertz: nil, monotonicMicros: 950_000, printkMicros: 1_000_000) : nil)),
                       at: at(), reply: { _ in }, progress: progress)
        tracker.noteConsoleTime("[    3.900000] luo: preserving", at: at())
        if startingLine, startingBeforeQuiesce { tracker.noteConsoleTime("[    4.200000] kexec_core: Starting new kernel", at: at()) }
        tracker.handle(.quiesce(counter: CounterReading(ticks: 10_000_000_000, hertz: nil, monotonicMicros: 4_000_000 - trail)), at: at(),
                       reply: { _ in }, progress: progress)
        if startingLine, !startingBeforeQuiesce { tracker.noteConsoleTime("[    4.200000] kexec_core: Starting new kernel", at: at()) }
        tracker.noteConsoleTime("[    0.000000] Linux version 7.3.4", at: at())
        tracker.noteConsoleTime("[    1.100000] Run /init as init process", at: at())
        tracker.handle(.resumed(retrieved: 1, microseconds: 50_000, clock: 1_300_000 - 2 * trail,
                                counter: CounterReading(ticks: resumedTicks, hertz: nil, monotonicMicros: 1_300_000 - 2 * trail)),
                       at: at(), reply: { _ in }, progress: progress)
        let anchor = CounterReading(ticks: resumedTicks + 10_000_000, hertz: nil, monotonicMicros: 1_210_000, printkMicros: 1_310_000)
        tracker.handle(.hello(hello(stage: 2, marks: [.runInit: 1_100_000, .unpackStart: 500_000, .unpackEnd: 700_000], anchor: anchored ? anchor : nil)),
                       at: at(), reply: { _ in }, progress: progress)
        var options = RunOptions(accelerator: .tcg, acceleratorReason: "test")
        options.timing = .guest
        var result = RunResult.unfinished(scenario, chain: chain, options: options)
        tracker.conclude(into: &result)
        return result
    }

    @Test func everyPhaseIsPlacedOnTheGuestClock() throws {
        let result = try tracked()
        let guest = try #require(result.guestBlackout)
        #expect(guest.clock == .guest)
        #expect(abs(guest.total - 1.6) < 1e-9)
        #expect(abs(guest.shutdown! - 0.3) < 1e-9)
        #expect(abs(guest.oldKernel! - 0.2) < 1e-9)
        #expect(abs(guest.jump! - 0.1) < 1e-9)
        #expect(abs(guest.kernelBoot! - 1.1) < 1e-9)
        #expect(abs(guest.agentStart! - 0.15) < 1e-9)
        #expect(abs(guest.restore! - 0.05) < 1e-9)
        #expect(abs(guest.initramfsUnpack! - 0.2) < 1e-9)
        #expect(abs(guest.unaccounted!) < 1e-9)
        #expect(abs(guest.attributedShare! - 1) < 1e-9)
        #expect(result.blackout?.clock == .host)
        #expect(result.hops.first?.guestBlackout == guest)
        #expect(result.summaryLine.contains("(guest clock)") && result.summaryLine.contains("(host clock)"))
        #expect(RunSummary.text(result).contains("blackout on the guest clock (icount, virtual time): 1600.000 ms"))
    }

    @Test func theHellosAnchorTheCounterOnThePrintkClocks() throws {
        let guest = try #require(try tracked(anchored: true).guestBlackout)
        #expect(abs(guest.total - 1.6) < 1e-9)
        #expect(abs(guest.shutdown! - 0.3) < 1e-9)
        #expect(abs(guest.oldKernel! - 0.2) < 1e-9)
        #expect(abs(guest.agentStart! - 0.15) < 1e-9)
        #expect(abs(guest.attributedShare! - 1) < 1e-9)
    }

    @Test func aCounterThatRestartedAtTheKexecIsNotTakenForTime() throws {
        // The new kernel's counter counting from its own start: behind the old one's.
        #expect(try tracked(resumedTicks: 1_300_000_000).guestBlackout == nil)
        // Ahead, but by less than the new kernel has been up: its zero would lie before the
        // quiesce, a negative shutdown, and the share says so.
        let guest = try #require(try tracked(resumedTicks: 11_000_000_000).guestBlackout)
        #expect(guest.shutdown! < 0)
        #expect(guest.attributedShare! < 0.5)
    }

    @Test func theConsoleMayComeInBeforeTheQuiesce() throws {
        let guest = try #require(try tracked(startingBeforeQuiesce: true).guestBlackout)
        #expect(abs(guest.oldKernel! - 0.2) < 1e-9 && abs(guest.jump! - 0.1) < 1e-9)
    }

    @Test func withoutStartingNewKernelTheShutdownIsNotSplit() throws {
        let guest = try #require(try tracked(startingLine: false).guestBlackout)
        #expect(guest.oldKernel == nil && guest.jump == nil)
        #expect(abs(guest.shutdown! - 0.3) < 1e-9)
    }

    @Test func hostTimingKeepsTheGuestClockOut() throws {
        let scenario = try Scenario.parse(text: tinyScenario, file: "s.yaml")
        var result = RunResult.unfinished(scenario, chain: chain, options: RunOptions(accelerator: .tcg, acceleratorReason: "t"))
        var tracker = RunTracker(scenario: scenario, chain: chain)
        tracker.hops[0].quiesceCounter = CounterReading(ticks: 1, hertz: nil, monotonicMicros: 1)
        tracker.hops[0].resumedCounter = CounterReading(ticks: 2_000_000, hertz: nil, monotonicMicros: 1)
        tracker.conclude(into: &result)
        #expect(result.timing == .host && result.guestBlackout == nil)
    }
}

@Suite("Judging on the guest clock")
struct GuestJudgementTests {
    @Test func thresholdsAreFractionsPercentagesOrTimes() {
        #expect(BlackoutThreshold.parse("2%") == .fraction(0.02))
        #expect(BlackoutThreshold.parse("0.1") == .fraction(0.1))
        #expect(BlackoutThreshold.parse("20ms") == .seconds(0.02))
        #expect(BlackoutThreshold.parse(" 0.5s ") == .seconds(0.5))
        #expect(BlackoutThreshold.parse("-3%") == nil)
        #expect(BlackoutThreshold.parse("0") == nil)
        #expect(BlackoutThreshold.parse("fast") == nil)
        #expect(BlackoutThreshold.seconds(0.02).fraction(of: 2) == 0.01)
    }

    func sample(_ total: Double, kernelBoot: Double, disturbed: Bool = false) -> BlackoutSample {
        BlackoutSample(total: total, phases: ["kernelBoot": kernelBoot, "restore": 0.1], disturbed: disturbed)
    }

    @Test func oneRepeatASideDecidesAndNamesThePhase() {
        let base = [sample(2.000, kernelBoot: 1.0)], slower = [sample(2.060, kernelBoot: 1.06, disturbed: true)]
        let judged = BlackoutChange(guestBase: base, new: slower, threshold: .fraction(0.02))
        #expect(judged.finding == .regressed)
        #expect(judged.clock == .guest)
        #expect(judged.disturbedKept == 1 && judged.newExcluded == 0)
        #expect(judged.cause?.phase == "kernelBoot")
        #expect(judged.text.contains("regressed on the guest clock") && judged.text.contains("kernelBoot +60.000 ms"), "\(judged.text)")
        #expect(BlackoutChange(guestBase: base, new: slower, threshold: .seconds(0.1)).finding == .unchanged)
        #expect(BlackoutChange(guestBase: base, new: slower, threshold: .seconds(0.05)).finding == .regressed)
        #expect(BlackoutChange(guestBase: slower, new: base, threshold: .fraction(0.02)).finding == .improved)
        #expect(BlackoutChange(guestBase: [], new: base, threshold: .fraction(0.02)).finding == .notJudged)
    }

    func cell(guest: Double?, host: [Double]) -> MatrixCell {
        let runs = host.enumerated().map { index, seconds in
            var run = MatrixRunRecord(id: "r\(index)", scenario: "memfd-basic", chain: ["a", "b"], repeatIndex: index + 1, verdict: .pass,
                                      reason: "", blackout: seconds, hopBlackouts: [seconds], wallSeconds: 1, resultPath: "", consoleTail: [],
                                      phases: ["kernelBoot": seconds / 2])
            if let guest { run.guestBlackout = Blackout(total: guest, shutdown: 0.3, kernelBoot: guest - 0.5, agentStart: 0.1, restore: 0.1) }
            return run
        }
        return MatrixCell(scenario: "memfd-basic", chain: ["a", "b"], releases: ["1", "2"], direction: .upgrade, verdict: .pass, reason: "",
                          runs: runs, blackout: Statistics(host), regressions: [], unsupportedAllowed: true)
    }

    @Test func theHistoryCheckJudgesOnTheGuestClockWhenBothSidesHaveIt() {
        // One repeat a side: the host clock's statistics could not judge this at all.
        let new = cell(guest: 2.1, host: [3.0])
        let (regressions, change) = RegressionCheck.judge(
            cell: new, baseVerdict: .pass, baseFailureClass: nil, baseSamples: cell(guest: 2.0, host: [3.0]).blackoutSamples,
            baseGuestSamples: cell(guest: 2.0, host: [3.0]).guestBlackoutSamples, baselineMatrix: "m1", label: "m1", threshold: 0.02,
            sensitivity: nil)
        #expect(change?.clock == .guest && change?.finding == .regressed)
        #expect(regressions.first?.message.contains("guest-clock blackout median 2000.000 ms → 2100.000 ms") == true, "\(regressions)")
        let hostOnly = RegressionCheck.judge(
            cell: cell(guest: nil, host: [3.0]), baseVerdict: .pass, baseFailureClass: nil,
            baseSamples: cell(guest: 2.0, host: [3.0]).blackoutSamples, baseGuestSamples: cell(guest: 2.0, host: [3.0]).guestBlackoutSamples,
            baselineMatrix: "m1", label: "m1", threshold: 0.02, sensitivity: nil)
        #expect(hostOnly.change?.clock == nil && hostOnly.change?.finding == .notJudged)
        // 20 ms is a 1% growth of the base median on the host clock's ratio.
        let absolute = RegressionCheck.judge(
            cell: cell(guest: 2.01, host: [3.0]), baseVerdict: .pass, baseFailureClass: nil, baseSamples: [],
            baseGuestSamples: cell(guest: 2.0, host: [3.0]).guestBlackoutSamples, baselineMatrix: "m1", label: "m1", threshold: 0.001,
            absoluteThreshold: 0.02, sensitivity: nil)
        #expect(absolute.change?.finding == .unchanged && absolute.change?.thresholdSeconds == 0.02)
    }

    @Test func compareMatchesPhasesByKindNotLabel() {
        var base = Blackout(total: 3, shutdown: 0.5, kernelBoot: 2, agentStart: 0.3, restore: 0.2, unaccounted: 0)
        base.initramfsUnpack = 0.4
        var new = base
        new.initramfsUnpack = 0.6
        new.kernelBoot = 2.2
        new.total = 3.2
        let rows = CompareTimeline.rows(CompareTimeline.Pair(name: "c", base: base, new: new))
        let boot = rows.filter { $0.name.hasPrefix("kernel boot to /init") }
        #expect(boot.count == 1, "\(rows)")
        #expect(boot.first?.base == 2 && boot.first?.new == 2.2)
    }
}

/// A real guest-timed run (Fixtures/blackout/memfd-guest-timing: memfd-basic, linux-7.3 ->
/// linux-7.3, icount, one vCPU) replayed through the follow loop a live run uses.
@Suite("A recorded guest-timed run")
struct RecordedGuestTimingTests {
    @Test func theGuestClockBlackoutComesBackFromTheRecording() async throws {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("blackout/memfd-guest-timing")
        let machine = try ReplayMachine(try RecordedRun(directory: fixtures), ending: .exits("exited(0)"))
        defer { machine.stop() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let scenario = try Scenario.load(from: root.appendingPathComponent("Scenarios/memfd-basic.yaml"))
        let chain = [SampleImages.image("linux-7.3", release: "7.3.4"), SampleImages.image("linux-7.3", release: "7.3.4")]
        var tracker = RunTracker(scenario: scenario, chain: chain)
        var options = RunOptions(accelerator: .tcg, acceleratorReason: "replay")
        options.timing = .guest
        options.bootTimeout = 5
        options.kexecTimeout = 5
        try await tracker.follow(machine, options: options, progress: ProgressReporter(mode: .quiet, isTerminal: false))
        var result = RunResult.unfinished(scenario, chain: chain, options: options)
        tracker.conclude(into: &result)
        #expect(result.verdict == .pass, "\(result.reason)")
        let guest = try #require(result.guestBlackout)
        // The counters in the transcript: 8.534246584 s between quiesce and resumed.
        #expect(abs(guest.total - 8.534246584) < 1e-9)
        let phases = [guest.oldKernel, guest.jump, guest.kernelBoot, guest.agentStart, guest.restore].map { $0 ?? -1 }
        #expect(phases.allSatisfy { $0 > 0 }, "\(guest)")
        #expect(abs(phases.reduce(0, +) - guest.total) < 1e-9)
        #expect(abs(guest.restore! - 0.100011) < 1e-9 && abs(guest.kernelBoot! - 1.053031) < 1e-9)
        // The counter ran on across the kexec: purgatory, decompression and early boot took as
        // long as the first boot's firmware, decompression and early boot (7.41 s to its zero).
        #expect(guest.jump! > 7.3 && guest.jump! < 7.45)
        #expect(abs(guest.attributedShare! - 1) < 1e-9)
        // The host clock's figure stays beside it, on its own clock.
        #expect(result.blackout?.clock == .host && result.blackout!.total > 0)
    }
}
