import Foundation
import Testing
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverMatrix


struct ContentionTests {
    @Test func pressureAndStatAreParsed() {
        let pressure = "some avg10=12.50 avg60=3.00 avg300=1.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        let parsed = HostLoad.parsePressure(pressure)
        #expect(parsed.avg10 == 12.5 && parsed.total == 2_500_000)
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 0 50 800 10 0 5 35 70 0\ncpu0 50 0 25 400 5 0 2 18 35 0\nintr 1\n"
        let ticks = HostLoad.parseStat(stat)
        #expect(ticks.ticks == 1000 && ticks.steal == 35)
        #expect(HostLoad.parsePressure("nonsense").total == nil)
    }

    @Test func theWindowIsJudgedByItsShareOfStalledTime() throws {
        let start = HostLoadSample(time: 100, someTotal: 1_000_000, someAvg10: 5, ticks: 10_000, stealTicks: 100)
        // 2 s window, 0.5 s of it with a task waiting for a CPU, 1% steal.
        let quiet = try #require(HostLoad.contention(
            from: start, to: HostLoadSample(time: 102, someTotal: 1_500_000, someAvg10: 20, ticks: 10_400, stealTicks: 104)))
        #expect(abs(quiet.cpuSomeShare! - 0.25) < 1e-9)
        #expect(abs(quiet.steal! - 0.01) < 1e-9)
        #expect(quiet.cpuSomeAvg10 == 0.2)
        #expect(!quiet.disturbed)
        #expect(quiet.text == "CPU pressure 25% of the window (avg10 20%), steal 1.0%")
        let busy = try #require(HostLoad.contention(
            from: start, to: HostLoadSample(time: 102, someTotal: 2_400_000, someAvg10: 60, ticks: 10_400, stealTicks: 104)))
        #expect(busy.disturbed)
        #expect(busy.text.hasSuffix(": disturbed"))
        let stolen = try #require(HostLoad.contention(
            from: start, to: HostLoadSample(time: 102, someTotal: 1_000_000, someAvg10: 0, ticks: 10_400, stealTicks: 160)))
        #expect(stolen.disturbed)
        #expect(HostLoad.contention(from: start, to: start) == nil)
        // Without /proc/pressure (an old kernel), nothing is claimed.
        let blind = try #require(HostLoad.contention(from: HostLoadSample(time: 1), to: HostLoadSample(time: 2)))
        #expect(!blind.disturbed && blind.text == "no pressure information on this host")
    }

    @Test func thisHostCanBeSampled() {
        let sample = HostLoad.sample()
        #expect(sample.time > 0)
        if FileManager.default.fileExists(atPath: "/proc/pressure/cpu") { #expect(sample.someTotal != nil) }
        #expect(sample.ticks != nil)
    }

    @Test func isolationPinsWhenThereAreCoresAndGatesOtherwise() {
        #expect(Isolation.choose(jobs: 1, cpus: 2, cores: 2, allowContention: false) == .alone)
        #expect(Isolation.choose(jobs: 2, cpus: 2, cores: 2, allowContention: false) == .gated)
        #expect(Isolation.choose(jobs: 2, cpus: 2, cores: 2, allowContention: true) == .none)
        #expect(Isolation.choose(jobs: 2, cpus: 1, cores: 2, allowContention: false) == .pinned(coreSets: [[0], [1]]))
        #expect(Isolation.choose(jobs: 3, cpus: 2, cores: 8, allowContention: false) == .pinned(coreSets: [[0, 1], [2, 3], [4, 5]]))
        #expect(Isolation.gated.description(jobs: 2, cpus: 2, cores: 2).hasPrefix("blackouts one at a time"))
    }

    @Test func aProcessCanBePinnedToACore() throws {
        // A real child process is pinned and the kernel's answer read back.
        let original = CPUAffinity.cores(of: getpid())
        try #require(!original.isEmpty)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["10"]
        try child.run()
        defer { child.terminate(); child.waitUntilExit() }
        #expect(CPUAffinity.pin(child.processIdentifier, to: [original.last!]).isEmpty)
        #expect(CPUAffinity.cores(of: child.processIdentifier) == [original.last!])
    }

    @Test func theGateKeepsBlackoutsApartAndLetsBusyPhasesShare() async {
        let gate = BlackoutGate()
        let log = EventLog()
        await gate.acquire(.shared)
        await gate.acquire(.shared)  // two VMs booting at once
        let blackout = Task {
            await gate.acquire(.exclusive)
            await log.add("blackout begins")
            try? await Task.sleep(for: .milliseconds(50))
            await log.add("blackout ends")
            await gate.release(.exclusive)
        }
        try? await Task.sleep(for: .milliseconds(30))
        // A writer waits: a new busy phase must wait for it too.
        let boot = Task {
            await gate.acquire(.shared)
            await log.add("third VM boots")
            await gate.release(.shared)
        }
        try? await Task.sleep(for: .milliseconds(30))
        #expect(await log.events.isEmpty)
        await gate.release(.shared)
        await gate.release(.shared)
        await blackout.value
        await boot.value
        #expect(await log.events == ["blackout begins", "blackout ends", "third VM boots"])
    }
}

private actor EventLog {
    var events: [String] = []
    func add(_ event: String) { events.append(event) }
}
