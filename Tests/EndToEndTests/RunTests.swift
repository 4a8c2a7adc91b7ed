import Foundation
import Testing

extension EndToEnd {
@Suite("memfd live update across kernel pairs")
struct RunTests {
    func run(_ arguments: [String]) throws -> (E2E.Output, [String: Any], URL) { try E2E.runScenario(arguments) }

    @Test("memfd-basic passes from linux-7.2 to linux-7.3, with the blackout and its phases")
    func upgradePasses() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        let blackout = try #require(result["blackout"] as? [String: Any])
        let total = try #require(blackout["total"] as? Double)
        #expect(total > 0.01 && total < 60)
        for phase in ["shutdown", "kernelBoot", "agentStart", "restore"] {
            let value = try #require(blackout[phase] as? Double, "phase \(phase) missing")
            #expect(value >= 0 && value <= total, "phase \(phase) = \(value) of \(total)")
        }
        let share = try #require(blackout["attributedShare"] as? Double)
        #expect(share >= 0.95, "attributed \(share): \(blackout)")
        let payload = try #require(result["payload"] as? [[String: Any]])
        #expect(payload.map { $0["stage"] as? Int } == [1, 2])
        #expect((payload[0]["initramfsBytes"] as? Int ?? 0) > (payload[1]["initramfsBytes"] as? Int ?? .max))
        // The Embedded Swift agent is the whole stage-2 payload: about 1.2 MB, not 15 MB.
        #expect((payload[1]["initramfsBytes"] as? Int ?? .max) < 3 << 20, "stage 2 payload \(payload[1])")
        let contention = try #require(result["contention"] as? [String: Any], "no host contention over the blackout")
        #expect(abs((contention["window"] as? Double ?? 0) - total) < 0.5)
        #expect(contention["disturbed"] is Bool)
        let objects = try #require(result["objects"] as? [[String: Any]])
        #expect(objects.count == 4)
        #expect(objects.allSatisfy { $0["ok"] as? Bool == true })
        let checks = try #require(result["checks"] as? [[String: Any]])
        #expect(checks.count >= 8)
        #expect(checks.allSatisfy { $0["passed"] as? Bool == true })
        let hellos = try #require(result["hellos"] as? [[String: Any]])
        #expect(hellos.count == 2)
        #expect(hellos.last?["liveUpdateNumber"] as? Int == 1)
        #expect((hellos.last?["previousRelease"] as? String)?.hasPrefix("7.2.") == true)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("console.log").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("transcript.jsonl").path))
    }

    @Test("--initcalls splits the new kernel's boot by initcall, read from /dev/kmsg, not the console")
    func initcallsSplitTheKernelBoot() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3", "--initcalls"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        let blackout = try #require(result["blackout"] as? [String: Any])
        let kernelBoot = try #require(blackout["kernelBoot"] as? Double)
        let steps = try #require(blackout["kernelBootSteps"] as? [[String: Any]])
        #expect(abs(steps.compactMap { $0["seconds"] as? Double }.reduce(0, +) - kernelBoot) < 1e-6)
        #expect(steps.filter { $0["kind"] as? String == "initcall" }.count == 8)
        let hellos = try #require(result["hellos"] as? [[String: Any]])
        #expect((hellos.last?["initcalls"] as? [Any])?.count ?? 0 > 100)
        #expect(hellos.first?["initcalls"] == nil, "the first kernel boots without initcall_debug")
        #expect((hellos.last?["cmdline"] as? String)?.contains("initcall_debug nokaslr") == true)
        // KERN_DEBUG: the initcall records stay off the console.
        let console = try String(contentsOf: out.appendingPathComponent("console.log"), encoding: .utf8)
        #expect(!console.contains("] initcall "))
    }

    @Test("a flipped byte fails with state-mismatch naming the object and the offset")
    func flippedByteIsCaught() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3",
                                             "--inject", "flip-byte:guest-ram-large:3000001"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1)
        #expect(result["verdict"] as? String == "fail")
        #expect(result["failureClass"] as? String == "state-mismatch")
        let reason = result["reason"] as? String ?? ""
        #expect(reason.contains("guest-ram-large") && reason.contains("3000001"), "reason: \(reason)")
        let objects = try #require(result["objects"] as? [[String: Any]])
        #expect(objects.filter { $0["ok"] as? Bool == false }.map { $0["object"] as? String } == ["guest-ram-large"])
    }

    @Test("a kernel without LUO as the first kernel ends unsupported")
    func unsupportedFirstKernel() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-6.12", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3)
        #expect(result["verdict"] as? String == "unsupported")
        #expect((result["reason"] as? String)?.contains("6.12") == true)
        #expect(result["blackout"] == nil)
    }

    @Test("a kernel without LUO as the second kernel fails abi-incompatible")
    func secondKernelWithoutLUOFails() throws {
        let (output, result, out) = try run(["Scenarios/memfd-basic.yaml", "--from", "linux-7.3", "--to", "linux-6.12"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1)
        #expect(result["verdict"] as? String == "fail")
        #expect(result["failureClass"] as? String == "abi-incompatible")
    }

    @Test("a malformed scenario is rejected before any VM starts, naming the file and key")
    func badScenarioRejected() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.yaml")
        try "objects:\n  a:\n    size: 12 parsecs\nsessions:\n  - name: s\n    members: [{object: a, token: 1}]\n".write(to: file, atomically: true, encoding: .utf8)
        let before = E2E.processes(containing: "qemu-system-x86_64 -name handover").count
        let output = try E2E.run(["run", file.path, "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "tcg", "--out", folder.appendingPathComponent("out").path])
        #expect(output.status == 2)
        #expect(output.stderr.contains(file.path) && output.stderr.contains("objects.a.size"), "stderr: \(output.stderr)")
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").count == before)
    }
}
}
