import Foundation
import Testing

extension EndToEnd {
@Suite("Boot path")
struct BootTests {
    @Test("linux-7.3 boots to the agent and has /dev/liveupdate")
    func bootSevenThree() throws {
        try E2E.requirePrerequisites()
        let output = try E2E.run(["boot", "linux-7.3", "--accel", "tcg", "--json"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let result = try E2E.json(output.stdout)
        let hello = try #require(result["hello"] as? [String: Any])
        #expect((hello["kernelRelease"] as? String)?.hasPrefix("7.3.") == true)
        #expect(hello["liveUpdateDevice"] as? Bool == true)
        #expect((hello["cmdline"] as? String)?.contains("handover.stage=1") == true)
        #expect(result["accelerator"] as? String == "tcg")
        #expect(result["poweredOffCleanly"] as? Bool == true)
    }

    @Test("linux-6.12 boots to the agent and has no /dev/liveupdate")
    func bootSixTwelve() throws {
        try E2E.requirePrerequisites()
        let output = try E2E.run(["boot", "linux-6.12", "--accel", "tcg", "--json"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let hello = try #require(try E2E.json(output.stdout)["hello"] as? [String: Any])
        #expect((hello["kernelRelease"] as? String)?.hasPrefix("6.12.") == true)
        #expect(hello["liveUpdateDevice"] as? Bool == false)
    }

    @Test("SIGINT while the guest boots leaves no QEMU process and no run directory")
    func interruptLeavesNothing() throws {
        try E2E.requirePrerequisites()
        let running = try E2E.start(["boot", "linux-7.3", "--accel", "tcg", "--timeout", "120"])
        // Wait for this boot's QEMU to appear, then interrupt handover while the guest boots.
        var qemu: [Int32] = []
        let deadline = Date().addingTimeInterval(30)
        while qemu.isEmpty && Date() < deadline && running.process.isRunning {
            qemu = E2E.qemu(startedBy: running.process.processIdentifier)
            usleep(20_000)
        }
        try #require(!qemu.isEmpty, "QEMU never started; stderr: \(running.stderrText)")
        let commandLine = String(decoding: (FileManager.default.contents(atPath: "/proc/\(qemu[0])/cmdline") ?? Data()).map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        let runDirectory = commandLine.split(separator: " ").first { $0.hasPrefix("socket,id=agent,path=") }
            .map { URL(fileURLWithPath: String($0.dropFirst("socket,id=agent,path=".count))).deletingLastPathComponent().path }
        running.process.interrupt()
        let output = running.finish()
        #expect(output.status == 130, "handover should exit 130 on SIGINT; stderr: \(output.stderr)")
        var leftover = qemu
        let gone = Date().addingTimeInterval(5)
        while !leftover.isEmpty && Date() < gone {
            leftover = qemu.filter { kill($0, 0) == 0 && E2E.processes(containing: "qemu-system").contains($0) }
            usleep(50_000)
        }
        #expect(leftover.isEmpty, "QEMU processes left behind: \(leftover)")
        if let runDirectory {
            #expect(!FileManager.default.fileExists(atPath: runDirectory), "run directory left behind: \(runDirectory)")
        }
    }
}
}
