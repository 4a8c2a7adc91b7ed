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


/// A recorded run (Fixtures/blackout/NAME: console.log and transcript.jsonl, from real TCG runs
/// of linux-7.2 -> linux-7.3) replayed through the tracker in host-time order.
private func replay(_ name: String, scenario file: String) throws -> RunResult {
    let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("blackout/\(name)")
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let scenario = try Scenario.load(from: root.appendingPathComponent("Scenarios/\(file)"))
    enum Event { case console(String), agent(AgentMessage) }
    var events: [(Double, Event)] = []
    for line in try String(contentsOf: fixtures.appendingPathComponent("console.log"), encoding: .utf8).split(separator: "\n") {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
              let time = Double(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)) else { continue }
        events.append((time, .console(String(line[line.index(close, offsetBy: 2)...]))))
    }
    for line in try String(contentsOf: fixtures.appendingPathComponent("transcript.jsonl"), encoding: .utf8).split(separator: "\n") {
        let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        guard record["from"] as? String == "agent" else { continue }
        events.append((record["t"] as! Double, .agent(try ProtocolLine.decode(AgentMessage.self, from: record["line"] as! String))))
    }
    let chain = [SampleImages.image("linux-7.2", release: "7.2.13"), SampleImages.image("linux-7.3", release: "7.3.4")]
    var tracker = RunTracker(scenario: scenario, chain: chain)
    let progress = ProgressReporter(mode: .quiet, isTerminal: false)
    for (time, event) in events.enumerated().sorted(by: { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }).map(\.element) {
        let at = HostTime(nanoseconds: UInt64(time * 1e9))
        switch event {
        case .console(let line): tracker.noteConsoleTime(line, at: at)
        case .agent(let message): tracker.handle(message, at: at, reply: { _ in }, progress: progress)
        }
    }
    var result = RunResult.unfinished(scenario, chain: chain, options: RunOptions(accelerator: .tcg, acceleratorReason: "fixture"))
    tracker.conclude(into: &result)
    return result
}

private func sum(_ blackout: Blackout) -> Double {
    [blackout.shutdown, blackout.kernelBoot, blackout.agentStart, blackout.restore, blackout.unaccounted].compactMap { $0 }.reduce(0, +)
}

@Suite("Blackout attribution from recorded runs")
struct RecordedAttributionTests {
    @Test(arguments: [("memfd-initcalls", "memfd-basic.yaml"), ("vm-initcalls", "vm-basic.yaml")])
    func atLeast95PercentIsNamedAndTheBootStepsAddUp(fixture: String, scenario: String) throws {
        let blackout = try #require(try replay(fixture, scenario: scenario).blackout)
        #expect(abs(sum(blackout) - blackout.total) < 1e-9)
        let share = try #require(blackout.attributedShare)
        #expect(share >= 0.95, "attributed \(share) of \(blackout.total) s; unaccounted \(blackout.unaccounted ?? .nan)")
        let steps = try #require(blackout.kernelBootSteps)
        #expect(abs(steps.reduce(0) { $0 + $1.seconds } - blackout.kernelBoot!) < 1e-6)
        #expect(steps.filter { $0.kind == .initcall }.count == BootAttribution.namedInitcalls)
        #expect(steps.first?.kind == .early && steps.last?.kind == .toInit)
        #expect(abs(blackout.oldKernel! + blackout.jump! - blackout.shutdown!) < 1e-9)
        // The timeline is the blackout in order, nothing left out.
        #expect(abs(blackout.timeline.reduce(0) { $0 + $1.seconds } - blackout.total) < 1e-6)
    }

    /// In this run the printk clock counted 0.9 s too few in its first second (tsc-early
    /// calibration under TCG); placed on the host clock, the kernel boot takes that back.
    @Test func theSlowEarlyPrintkClockIsCountedInTheKernelBoot() throws {
        let blackout = try #require(try replay("memfd-initcalls", scenario: "memfd-basic.yaml").blackout)
        let lag = try #require(blackout.printkClockLag)
        #expect(lag > 0.8 && lag < 1.0, "lag \(lag)")
        #expect(abs(blackout.unaccounted!) < 0.05)
    }

    /// A console line that lost characters ("[ 489450] smpboot: ...") must not be read as a
    /// printk time of 489450 s.
    @Test func aGarbledConsoleLineDoesNotBendThePhases() throws {
        let blackout = try #require(try replay("memfd-garbled-console", scenario: "memfd-basic.yaml").blackout)
        #expect(blackout.shutdown! > 0 && blackout.shutdown! < blackout.total)
        #expect(blackout.attributedShare! >= 0.95)
        #expect(ConsoleAnalysis.printkTime("[ 489450] smpboot: Total of 2 processors activated") == nil)
        #expect(ConsoleAnalysis.printkTime("[    0.489450] smpboot") == 0.48945)
    }
}

@Suite("Initcall records and the kernel boot's steps")
struct InitcallAttributionTests {
    @Test func initcallLinesAreParsed() {
        let named = InitcallTiming.parse("initcall populate_rootfs+0x0/0x40 returned 0 after 3326687 usecs", microseconds: 4_562_556)
        #expect(named == InitcallTiming(name: "populate_rootfs", finishMicros: 4_562_556, durationMicros: 3_326_687, returned: 0))
        #expect(named?.startMicros == 1_235_869)
        let address = InitcallTiming.parse("initcall 0xffffffff85adf9f9 returned -19 after 12 usecs", microseconds: 100)
        #expect(address?.name == "0xffffffff85adf9f9" && address?.returned == -19)
        #expect(InitcallTiming.parse("calling  populate_rootfs+0x0/0x40 @ 1", microseconds: 1) == nil)
        #expect(InitcallTiming.parse("initcall x returned 0 after many usecs", microseconds: 1) == nil)
        #expect(InitcallTiming.parse("initcall x returned 0 after 5", microseconds: 1) == nil)
        #expect(InitcallTiming.parse("", microseconds: 1) == nil)
    }

    @Test func stepsFollowTheInitThreadAndAddUp() throws {
        var calls = [InitcallTiming(name: "early_a", finishMicros: 110_000, durationMicros: 10_000)]
        calls += (0..<12).map { InitcallTiming(name: "small_\($0)", finishMicros: 200_000 + $0 * 1_000, durationMicros: 500) }
        calls.append(InitcallTiming(name: "big", finishMicros: 900_000, durationMicros: 500_000))
        let marks = [BootMark.unpackStart: 300_000, .unpackEnd: 1_200_000]
        let steps = try #require(BootAttribution.steps(initcalls: calls, marks: marks, runInit: 1_300_000, zero: 0) { Double($0) / 1e6 })
        #expect(abs(steps.reduce(0) { $0 + $1.seconds } - 1.3) < 1e-9)
        #expect(steps[0] == BootStep(name: "early boot (to the first initcall)", kind: .early, seconds: 0.1))
        #expect(steps[1].name == "initcall big" && abs(steps[1].seconds - 0.5) < 1e-9)
        #expect(steps.contains { $0.kind == .otherInitcalls && $0.name == "other initcalls (6)" })
        // 110 ms to 199.5 ms and 211 ms to 400 ms are long gaps, named by what follows them.
        #expect(steps.contains { $0.name == "between initcalls, before small_0" })
        #expect(steps.contains { $0.name == "between initcalls, before big" })
        #expect(steps.contains { $0.kind == .initramfsWait && abs($0.seconds - 0.3) < 1e-9 })
        #expect(steps.last?.kind == .toInit && abs(steps.last!.seconds - 0.1) < 1e-9)
        #expect(BootAttribution.steps(initcalls: [], marks: marks, runInit: 1, zero: 0) { Double($0) } == nil)
    }

    @Test func aBootStepCauseIsNamedInsideTheKernelBoot() {
        func sample(_ boot: Double, _ initcall: Double) -> BlackoutSample {
            BlackoutSample(total: 5 + boot, phases: ["kernelBoot": boot, "shutdown": 5, "kernelBoot: initcall slow_init": initcall])
        }
        let base = (0..<6).map { sample(2 + Double($0) * 0.01, 0.1) }
        let new = (0..<6).map { sample(3 + Double($0) * 0.01, 1.1) }
        let change = BlackoutChange(base: base, new: new, threshold: 0.1)
        #expect(change.cause?.phase == "kernelBoot")
        #expect(change.bootCause?.phase == "kernelBoot: initcall slow_init")
        #expect(change.text.contains("in it initcall slow_init +"))
    }
}

@Suite("Timeline charts")
struct TimelineChartTests {
    let blackout: Blackout = {
        var blackout = Blackout(total: 3, shutdown: 1, kernelBoot: 1.5, agentStart: 0.3, restore: 0.1, unaccounted: 0.1)
        blackout.oldKernel = 0.1
        blackout.jump = 0.9
        blackout.kernelBootSteps = [BootStep(name: "early boot (to the first initcall)", kind: .early, seconds: 0.5),
                                    BootStep(name: "initcall <probe>&co", kind: .initcall, seconds: 1.0)]
        return blackout
    }()

    @Test func segmentsComeInOrderAndTheSVGEscapesNames() {
        #expect(blackout.timeline.map(\.kind) == [.oldKernel, .jump, .early, .initcall, .agentStart, .restore, .unaccounted])
        let svg = TimelineChart.svg([TimelineChart.Row(label: "a → b", segments: blackout.timeline, note: "ms")], title: "t")
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.components(separatedBy: "<rect").count - 1 == 7 + 7)  // one per segment, one per legend entry
        #expect(svg.contains("initcall &lt;probe&gt;&amp;co: 1000.0 ms"))
        #expect(!svg.contains("<probe>"))
        #expect(svg.contains(">3000 ms</text>"))
        let empty = TimelineChart.svg([], title: "none")
        #expect(empty.hasPrefix("<svg"))
    }

    @Test func compareLinesUpPhasesByName() {
        var slower = blackout
        slower.total = 4
        slower.kernelBootSteps![1].seconds = 2
        let pair = CompareTimeline.Pair(name: "memfd-basic: a -> b", base: blackout, new: slower)
        let text = CompareTimeline.text([pair])
        #expect(text.contains("   1000.0    2000.0    +1000.0  kernel boot: initcall <probe>&co"))
        #expect(text.contains("   3000.0    4000.0    +1000.0  blackout"))
        let html = CompareTimeline.html([pair], baseLabel: "base", newLabel: "new", comparisonText: "x < y")
        #expect(html.contains("x &lt; y") && html.components(separatedBy: "<svg").count == 2)
    }
}

@Suite("Initcall names from System.map")
struct InitcallNameTests {
    let names = InitcallNames(systemMap: """
        ffffffff81000000 T _stext
        ffffffff816df9f0 t populate_rootfs
        ffffffff8170960c t pci_subsys_init
        ffffffff81709700 D some_data
        ffffffff81709776 T acpi_init
        """)

    @Test func addressesBecomeTheFunctionTheyAreIn() {
        #expect(names.name("0xffffffff8170960c") == "pci_subsys_init")
        #expect(names.name("0xffffffff816df9f9") == "populate_rootfs+0x9")
        #expect(names.name("0xffffffff81709776") == "acpi_init")
        #expect(names.name("0xffffffff81709777") == "acpi_init+0x1")  // data symbols are not functions
        #expect(names.name("0xffffffff80000000") == "0xffffffff80000000")
        #expect(names.name("populate_rootfs") == "populate_rootfs")
        let resolved = names.resolve([InitcallTiming(name: "0xffffffff8170960c", finishMicros: 5, durationMicros: 2)])
        #expect(resolved == [InitcallTiming(name: "pci_subsys_init", finishMicros: 5, durationMicros: 2)])
    }
}
