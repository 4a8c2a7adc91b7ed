import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverMachines
@testable import HandoverRuns

private let scenarios = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scenarios")

/// Every option either means something for the scenario's kind or is refused before anything
/// boots, with the same check for `run` and `matrix`.
@Suite struct PreflightTests {
    func load(_ name: String) throws -> Scenario { try Scenario.load(from: scenarios.appendingPathComponent("\(name).yaml")) }

    @Test func selftestsRefuseEveryInjection() throws {
        let selftests = try load("upstream-selftests")
        for injection in [Injection.crash(stage: 1), .stall(stage: 2), .noInit(stage: 2), .garbage(stage: 1), .flipByte(object: "x", offset: 0)] {
            var preflight = Preflight(scenario: selftests, kernels: 2)
            preflight.injections = [injection]
            #expect(throws: InputError.self) { try preflight.check() }
        }
        #expect(throws: Never.self) { try Preflight(scenario: selftests, kernels: 2).check() }
    }

    @Test func initcallsAndAQuietConsoleAreForTheAgentsKinds() throws {
        for flag in [\Preflight.initcalls, \Preflight.quietConsole] {
            var selftests = Preflight(scenario: try load("upstream-selftests"), kernels: 2)
            selftests[keyPath: flag] = true
            #expect(throws: InputError.self) { try selftests.check() }
            var memfd = Preflight(scenario: try load("memfd-basic"), kernels: 2)
            memfd[keyPath: flag] = true
            #expect(throws: Never.self) { try memfd.check() }
        }
    }

    @Test func selftestsRefuseChains() throws {
        #expect(throws: InputError.self) { try Preflight(scenario: try load("upstream-selftests"), kernels: 3).check() }
    }

    @Test func injectionsMustNameARealObjectOffsetAndStage() throws {
        let memfd = try load("memfd-basic")
        func check(_ injection: Injection, kernels: Int = 2) throws {
            var preflight = Preflight(scenario: memfd, kernels: kernels)
            preflight.injections = [injection]
            try preflight.check()
        }
        let object = try #require(memfd.objects.first)
        #expect(throws: Never.self) { try check(.flipByte(object: object.name, offset: 0)) }
        #expect(throws: InputError.self) { try check(.flipByte(object: "nosuch", offset: 5)) }
        #expect(throws: InputError.self) { try check(.flipByte(object: object.name, offset: object.size)) }
        #expect(throws: Never.self) { try check(.crash(stage: 2)) }
        #expect(throws: InputError.self) { try check(.crash(stage: 3)) }
        #expect(throws: Never.self) { try check(.crash(stage: 3), kernels: 3) }
    }

    @Test func theMessageNamesTheKindAndTheOption() throws {
        var preflight = Preflight(scenario: try load("upstream-selftests"), kernels: 2)
        preflight.injections = [.crash(stage: 1)]
        do {
            try preflight.check(source: "Matrices/x.yaml")
            Issue.record("not refused")
        } catch let error as InputError {
            #expect(error.description.contains("inject"))
            #expect(error.description.contains("selftest"))
            #expect(error.description.contains("Matrices/x.yaml"))
        }
    }
}

/// A VM that never says anything: every wait runs to its deadline.
private final class SilentMachine: VirtualMachine, @unchecked Sendable {
    let config = VMConfig(kernel: URL(fileURLWithPath: "/nonexistent"), initrd: URL(fileURLWithPath: "/nonexistent"), cmdline: "", accelerator: .tcg)
    let directory: RunDirectory
    init() throws { directory = try RunDirectory(parent: FileManager.default.temporaryDirectory.appendingPathComponent("handover-silent-\(getpid())")) }
    var consoleLog: URL { directory.file("console.log") }
    var transcript: URL { directory.file("transcript.jsonl") }
    var launchDescription: String { "silent" }
    func start(connectTimeout: TimeInterval) async throws {}
    func next(until deadline: ContinuousClock.Instant) async -> VMEvent? {
        try? await Task.sleep(until: deadline, clock: .continuous)
        return nil
    }
    func send(_ command: RunnerCommand) {}
    func waitForExit(timeout: TimeInterval) async -> Bool { true }
    func stop() { directory.remove() }
    func consoleLines(last count: Int) -> [String] { [] }
    var hostErrors: [String] { [] }
    var artifacts: [(URL, String)] { [] }
}

@Suite struct SelftestTimeoutTests {
    @Test func theOverallTimeoutBoundsATestThatWouldRunLonger() async throws {
        let machine = try SilentMachine()
        defer { machine.stop() }
        let deadline = SelftestDeadline(instant: .now + .milliseconds(300), seconds: 0.3)
        let driver = CommandDriver(machine: machine, overall: deadline)
        let started = ContinuousClock.now
        do {
            _ = try await driver.exec(ExecRequest(path: "/handover/selftests/x", arguments: [], timeoutSeconds: 600))
            Issue.record("the exec did not end")
        } catch let ended as CommandDriver.Ended {
            #expect(ended.status == .error)
            #expect(ended.reason.contains("exceeded its"), "\(ended.reason)")
        }
        // Bounded by the 0.3 s budget, not the test's 600 s (generous: on 2 busy cores other
        // suites' blocking work can hold the cooperative threads for a minute).
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test func aStuckKexecAtTheOverallTimeoutIsABootTimeout() async throws {
        let machine = try SilentMachine()
        defer { machine.stop() }
        let driver = CommandDriver(machine: machine, overall: SelftestDeadline(instant: .now + .milliseconds(200), seconds: 0.2))
        do {
            _ = try await driver.kexec(into: "linux-7.3", timeout: 600)
            Issue.record("the kexec did not end")
        } catch let ended as CommandDriver.Ended {
            #expect(ended.failureClass == .infrastructure || ended.failureClass == .bootTimeout)
        }
    }
}
