import Foundation
import Testing

extension EndToEnd {
/// Each fault injected for real, ending with the right verdict and class in bounded time,
/// with the console tail in the result and no QEMU left behind.
@Suite("Faults")
struct FaultTests {
    struct Outcome {
        var status: Int32
        var result: [String: Any]
        var seconds: Double
        var stderr: String
    }

    func run(_ extra: [String], scenario: String = "memfd-basic") throws -> Outcome {
        try E2E.requirePrerequisites()
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let started = Date()
        let output = try E2E.run(["run", scenario, "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "tcg",
                                  "--out", out.path, "--json", "--kexec-timeout", "30"] + extra)
        let seconds = Date().timeIntervalSince(started)
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").isEmpty, "a QEMU process was left behind")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
        return Outcome(status: output.status, result: try E2E.json(output.stdout), seconds: seconds, stderr: output.stderr)
    }

    func expectFailure(_ outcome: Outcome, _ failureClass: String, verdict: String = "fail", exit: Int32 = 1) {
        #expect(outcome.result["verdict"] as? String == verdict, "reason: \(outcome.result["reason"] ?? "")")
        #expect(outcome.result["failureClass"] as? String == failureClass, "reason: \(outcome.result["reason"] ?? "")")
        #expect(outcome.status == exit)
        #expect(!((outcome.result["consoleTail"] as? [String]) ?? []).isEmpty, "no console tail in the result")
    }

    @Test("a second kernel with another LUO ABI string refuses the state: abi-incompatible, predicted by image diff")
    func abiIncompatible() throws {
        try E2E.requirePrerequisites()
        let diff = try E2E.run(["image", "diff", "linux-7.3", "linux-7.3-luo-v6"])
        #expect(diff.status == 1)
        #expect(diff.stdout.contains("luo-v5 -> luo-v6"), "diff: \(diff.stdout)")
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3-luo-v6", "--accel", "tcg",
                                  "--out", out.path, "--json", "--kexec-timeout", "60"])
        let result = try E2E.json(output.stdout)
        expectFailure(Outcome(status: output.status, result: result, seconds: 0, stderr: output.stderr), "abi-incompatible")
        #expect((result["evidence"] as? String)?.contains("incompatible") == true, "evidence: \(result["evidence"] ?? "none")")
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").isEmpty)
    }

    @Test("a new kernel whose init never reaches the runner ends as boot-timeout")
    func stalledInit() throws {
        let outcome = try run(["--inject", "stall:2"])
        expectFailure(outcome, "boot-timeout")
        #expect(outcome.seconds < 120)
    }

    @Test("a new kernel that panics ends as new-kernel-panic with the panic text")
    func panickingKernel() throws {
        let outcome = try run(["--inject", "no-init:2"])
        expectFailure(outcome, "new-kernel-panic")
        #expect((outcome.result["evidence"] as? String)?.contains("Kernel panic") == true)
    }

    @Test("the agent crashing in stage 1 and in stage 2 ends as agent-crash naming the stage", arguments: [1, 2])
    func agentCrash(stage: Int) throws {
        let outcome = try run(["--inject", "crash:\(stage)"])
        expectFailure(outcome, "agent-crash")
        #expect((outcome.result["reason"] as? String)?.contains("stage \(stage)") == true)
    }

    @Test("malformed and truncated protocol lines end as an infrastructure error, not a crash")
    func garbageOnTheChannel() throws {
        let outcome = try run(["--inject", "garbage:2"])
        #expect(outcome.result["verdict"] as? String == "error")
        #expect(outcome.result["failureClass"] as? String == "infrastructure")
        #expect((outcome.result["reason"] as? String)?.contains("protocol") == true)
        #expect(outcome.status == 2)
    }

    @Test("QEMU killed mid-run is an infrastructure error")
    func qemuKilled() throws {
        try E2E.requirePrerequisites()
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let running = try E2E.start(["run", "memfd-basic", "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "tcg",
                                     "--out", out.path, "--json"])
        var qemu: [Int32] = []
        let deadline = Date().addingTimeInterval(30)
        while qemu.isEmpty && Date() < deadline && running.process.isRunning {
            qemu = E2E.qemu(startedBy: running.process.processIdentifier)
            usleep(20_000)
        }
        try #require(!qemu.isEmpty, "QEMU never started: \(running.stderrText)")
        sleep(2)
        kill(qemu[0], SIGKILL)
        let output = running.finish()
        let result = try E2E.json(output.stdout)
        #expect(result["verdict"] as? String == "error")
        #expect(result["failureClass"] as? String == "infrastructure")
        #expect((result["reason"] as? String)?.contains("killed") == true, "reason: \(result["reason"] ?? "")")
        #expect(output.status == 2)
    }

    @Test("SIGTERM during a run tears the VM down and exits 143")
    func terminated() throws {
        try E2E.requirePrerequisites()
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let running = try E2E.start(["run", "memfd-basic", "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "tcg", "--out", out.path])
        var qemu: [Int32] = []
        let deadline = Date().addingTimeInterval(30)
        while qemu.isEmpty && Date() < deadline && running.process.isRunning {
            qemu = E2E.qemu(startedBy: running.process.processIdentifier)
            usleep(20_000)
        }
        try #require(!qemu.isEmpty)
        running.process.terminate()
        let output = running.finish()
        #expect(output.status == 143)
        usleep(500_000)
        #expect(qemu.allSatisfy { kill($0, 0) != 0 }, "QEMU survived SIGTERM")
    }

    @Test("an unwritable results folder is refused before any VM starts")
    func unwritableResults() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer {
            chmod(folder.path, 0o755)
            try? FileManager.default.removeItem(at: folder)
        }
        // Root ignores permission bits, so use a path under a regular file instead.
        let blocker = folder.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "tcg",
                                  "--out", blocker.appendingPathComponent("results").path])
        #expect(output.status == 2)
        #expect(output.stderr.contains("results folder"), "stderr: \(output.stderr)")
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").isEmpty)
    }
}
}
