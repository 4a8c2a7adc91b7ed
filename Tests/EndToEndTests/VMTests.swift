import Foundation
import Testing

extension EndToEnd {
/// A KVM guest running inside the test VM, paused before the kexec and resumed after it.
@Suite("A running VM across the handover")
struct VMTests {
    func run(_ arguments: [String]) throws -> (E2E.Output, [String: Any], URL) { try E2E.runScenario(arguments) }

    /// The guest ran before the pause, continued exactly where it stopped after every hop, ran on
    /// afterwards, and its RAM is what its progress says; the VM's blackout is reported.
    func expectContinued(_ result: [String: Any], hops: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let vm = try #require(result["vm"] as? [String: Any], sourceLocation: sourceLocation)
        let hopList = try #require(vm["hops"] as? [[String: Any]], sourceLocation: sourceLocation)
        #expect(hopList.count == hops, sourceLocation: sourceLocation)
        for hop in hopList {
            let paused = try #require(hop["counterAtPause"] as? Int, sourceLocation: sourceLocation)
            let after = try #require(hop["firstCounterAfter"] as? Int, sourceLocation: sourceLocation)
            #expect(paused > 0 && after == paused + 1024, "paused at \(paused), first report after \(after)", sourceLocation: sourceLocation)
            #expect(hop["continued"] as? Bool == true, sourceLocation: sourceLocation)
            let blackout = try #require(hop["blackout"] as? Double, sourceLocation: sourceLocation)
            #expect(blackout > 0, sourceLocation: sourceLocation)
        }
        let stages = try #require(vm["stages"] as? [[String: Any]], sourceLocation: sourceLocation)
        let last = try #require(stages.last, sourceLocation: sourceLocation)
        // The runner's own comparison of the agent's digests with its model of the RAM.
        let ram = try #require(vm["ram"] as? [String: Any], sourceLocation: sourceLocation)
        #expect((ram["differingChunks"] as? [Int])?.isEmpty == true, sourceLocation: sourceLocation)
        #expect(ram["modelDigest"] as? String != nil && ram["modelDigest"] as? String == ram["reportedDigest"] as? String,
                sourceLocation: sourceLocation)
        #expect(ram["bytes"] as? Int == 32 << 20, sourceLocation: sourceLocation)
        #expect(ram["stage"] as? Int == hops + 1 && ram["counter"] as? Int == last["counterEnd"] as? Int, sourceLocation: sourceLocation)
        for hop in hopList {
            let continuity = try #require(hop["continuity"] as? [String: Any], sourceLocation: sourceLocation)
            #expect((continuity["differingRegisters"] as? [String])?.isEmpty == true, sourceLocation: sourceLocation)
        }
        #expect((last["counterEnd"] as? Int ?? 0) > (last["counterStart"] as? Int ?? 0) + 1024, "the guest ran on after the resume", sourceLocation: sourceLocation)
        let hopResults = try #require(result["hops"] as? [[String: Any]], sourceLocation: sourceLocation)
        #expect(hopResults.allSatisfy { $0["vmBlackout"] is Double }, sourceLocation: sourceLocation)
    }

    @Test("vm-basic passes across linux-7.2 -> linux-7.3, linux-7.3 -> linux-7.2 and linux-7.3 -> linux-7.3",
          arguments: [("linux-7.2", "linux-7.3"), ("linux-7.3", "linux-7.2"), ("linux-7.3", "linux-7.3")])
    func pairs(_ from: String, _ to: String) throws {
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", from, "--to", to])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        try expectContinued(result, hops: 1)
        let steps = E2E.steps(result)
        for name in ["cpu-virtualization", "open-kvm", "kvm-create-vm", "vm-memory-slot", "vm-create-vcpu", "vm-run", "vm-pause", "preserve", "vm-verify-ram"] {
            #expect(steps[name]?["ok"] as? Bool == true, "step \(name): \(steps[name] ?? [:])")
        }
    }

    @Test("a KVM that restores one register wrongly (linux-7.3-kvm-regs-bug: rbx off by one) ends in fail, vm-discontinuity, naming the register and both values")
    func wrongRegisterRestore() throws {
        try E2E.requirePrerequisites(images: ["linux-7.2", "linux-7.3-kvm-regs-bug"])
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", "linux-7.2", "--to", "linux-7.3-kvm-regs-bug"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "fail")
        #expect(result["failureClass"] as? String == "vm-discontinuity")
        let reason = result["reason"] as? String ?? ""
        #expect(reason.contains("rbx"), "\(reason)")
        let pause = try #require(reason.range(of: #"it was 0x([0-9a-f]+) at the pause"#, options: .regularExpression))
        let back = try #require(reason.range(of: #"rbx 0x([0-9a-f]+) after the restore"#, options: .regularExpression))
        let paused = UInt64(reason[pause].split(separator: " ")[2].dropFirst(2), radix: 16)
        let restored = UInt64(reason[back].split(separator: " ")[1].dropFirst(2), radix: 16)
        #expect(paused != nil && restored == paused! + 1, "\(reason)")
    }

    @Test("vm-basic hands the running guest on at every hop of linux-7.2 -> linux-7.3 -> linux-7.2")
    func chain() throws {
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", "linux-7.2", "--via", "linux-7.3", "--to", "linux-7.2"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        try expectContinued(result, hops: 2)
    }

    @Test("vm-guest-memfd on linux-7.3: the guest runs from guest_memfd RAM, then PRESERVE_FD refuses: unsupported, never pass")
    func guestMemfdUnsupported() throws {
        let (output, result, out) = try run(["Scenarios/vm-guest-memfd.yaml", "--from", "linux-7.3", "--to", "linux-7.3"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["errno"] as? Int == 2)
        #expect((result["reason"] as? String)?.contains("SESSION_PRESERVE_FD refused") == true, "\(result["reason"] ?? "")")
        let steps = E2E.steps(result)
        for name in ["guest-memfd-capability", "create-guest-memfd", "fill-guest-memfd", "vm-memory-slot", "vm-create-vcpu", "vm-run", "vm-pause"] {
            #expect(steps[name]?["ok"] as? Bool == true, "step \(name): \(steps[name] ?? [:])")
        }
        #expect((steps["vm-memory-slot"]?["detail"] as? String)?.contains("guest_memfd") == true)
        #expect(steps["preserve-fd"]?["errnoName"] as? String == "ENOENT")
    }

    @Test("a first kernel without KVM ends unsupported, naming what is missing")
    func withoutKVM() throws {
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", "linux-7.3-luo-v6", "--to", "linux-7.3-luo-v6"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect((result["reason"] as? String)?.contains("/dev/kvm") == true, "\(result["reason"] ?? "")")
        #expect(E2E.steps(result)["open-kvm"]?["ok"] as? Bool == false)
    }

    @Test("a flipped byte of guest RAM is a state mismatch at its guest-physical address")
    func flippedRAM() throws {
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", "linux-7.3", "--to", "linux-7.3",
                                             "--inject", "flip-byte:guest-ram:\(0x123457)"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["failureClass"] as? String == "state-mismatch")
        #expect((result["reason"] as? String)?.contains("guest-physical 0x123457") == true, "\(result["reason"] ?? "")")
    }

    @Test("a vCPU restored with its instruction pointer set back is caught not continuing where it stopped")
    func corruptedVCPU() throws {
        let (output, result, out) = try run(["Scenarios/vm-basic.yaml", "--from", "linux-7.3", "--to", "linux-7.3", "--inject", "corrupt-vcpu:2"])
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(output.status == 1, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["failureClass"] as? String == "vm-discontinuity")
        let reason = result["reason"] as? String ?? ""
        #expect(reason.contains("did not continue where it stopped") && reason.contains("came back with rip 0x101d"), "\(reason)")
    }
}
}
