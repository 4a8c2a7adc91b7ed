import Foundation
import Testing

extension EndToEnd {
@Suite("the blackout on the guest's own clock (--timing guest)")
struct GuestTimeTests {
    @Test("memfd-basic with --timing guest: a guest-clock blackout beside the host's, its phases adding up, QEMU under icount with one vCPU")
    func guestClockBlackout() throws {
        try E2E.requirePrerequisites(images: ["linux-7.2", "linux-7.3"])
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try E2E.run(["run", "Scenarios/memfd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3", "--timing", "guest",
                                  "--accel", "tcg", "--out", out.path, "--json"])
        let result = try E2E.json(output.stdout)
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["timing"] as? String == "guest")
        let guest = try #require(result["guestBlackout"] as? [String: Any], "no guest-clock blackout: \(result.keys.sorted())")
        #expect(guest["clock"] as? String == "guest")
        let total = try #require(guest["total"] as? Double)
        #expect(total > 0.01 && total < 60, "guest-clock blackout \(total) s")
        var sum = 0.0
        for phase in ["shutdown", "kernelBoot", "agentStart", "restore"] {
            let value = try #require(guest[phase] as? Double, "guest phase \(phase) missing: \(guest)")
            #expect(value >= 0 && value <= total, "guest phase \(phase) = \(value) of \(total)")
            sum += value
        }
        #expect(abs(sum + (guest["unaccounted"] as? Double ?? .nan) - total) < 1e-9)
        #expect(abs(sum - total) < 1e-6 * total, "phases \(sum) against the total \(total)")
        // The counter ran on across the kexec: the jump to the new kernel's clock zero is positive.
        let oldKernel = try #require(guest["oldKernel"] as? Double)
        let jump = try #require(guest["jump"] as? Double)
        #expect(oldKernel > 0 && jump > 0, "old kernel \(oldKernel), jump \(jump)")
        #expect(abs(oldKernel + jump - (guest["shutdown"] as? Double ?? .nan)) < 1e-9)
        #expect((guest["attributedShare"] as? Double ?? 0) > 0.999999)
        let host = try #require(result["blackout"] as? [String: Any], "the host-clock blackout stays beside it")
        #expect(host["clock"] as? String == "host")
        let command = try String(contentsOf: out.appendingPathComponent("qemu-command"), encoding: .utf8)
        #expect(command.contains("-icount shift=3,sleep=off,align=off"), "\(command)")
        #expect(command.contains("-smp 1 ") && command.contains("tcg,thread=single"), "\(command)")
    }

    @Test("--timing guest with --accel kvm is refused before anything boots")
    func refusedUnderKVM() throws {
        try E2E.requirePrerequisites(images: ["linux-7.2", "linux-7.3"])
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let before = E2E.processes(containing: "qemu-system-x86_64 -name handover").count
        let output = try E2E.run(["run", "Scenarios/memfd-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3", "--accel", "kvm",
                                  "--timing", "guest", "--out", folder.appendingPathComponent("out").path])
        #expect(output.status == 2)
        #expect(output.stderr.contains("icount") && output.stderr.contains("KVM"), "stderr: \(output.stderr)")
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").count == before)
    }
}
}
