import Foundation
import Testing

extension EndToEnd {
/// kill -9 of a runner at several moments: no QEMU (nor any other child) outlives it, and the
/// next handover invocation removes the run directory it left.
@Suite("Killed runners")
struct KillTests {
    /// Where a moment is reached: the text to wait for on the runner's stderr (with --verbose),
    /// or nil to kill as soon as QEMU runs.
    enum Moment: String, CaseIterable {
        /// The run directory exists (initramfs being written), QEMU may not run yet.
        case beforeBoot = "before boot"
        /// QEMU runs.
        case vmRunning = "while the VM runs"
        case stageOne = "mid stage 1"
        case kexec = "during the kexec"
        case verification = "during verification"

        var marker: String? {
            switch self {
            case .beforeBoot, .vmRunning: nil
            case .stageOne: "preserving"
            case .kexec: "\"quiesce\""
            case .verification: "\"resumed\""
            }
        }
    }

    /// A private parent for run directories, so that what is left is this test's alone.
    func runtimeFolder() -> URL {
        let url = URL(fileURLWithPath: "/tmp/hko-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    func runDirectories(in runtime: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: runtime.appendingPathComponent("handover").path)) ?? [])
            .filter { $0.hasPrefix("run-") }
    }

    /// Any process, QEMU or other, whose command line names the folder (sockets, initramfs).
    func strays(_ runtime: URL) -> [Int32] { E2E.processes(containing: runtime.path + "/") }

    func waitFor(_ condition: () -> Bool, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Starts `arguments`, waits for the moment, kills the runner with SIGKILL, and checks what
    /// is left: no process naming its run directory now, no run directory after the next
    /// invocation.
    func killAndCheck(_ arguments: [String], moment: Moment, takesOut: Bool = true) throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let runtime = runtimeFolder()
        let out = E2E.temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: runtime)
            try? FileManager.default.removeItem(at: out)
        }
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        let running = try E2E.start(arguments + (takesOut ? ["--out", out.path] : []) + ["--verbose"], environment: environment)
        let pid = running.process.processIdentifier
        let reached = waitFor({
            if moment == .beforeBoot { return !runDirectories(in: runtime).isEmpty }
            guard !E2E.qemu(startedBy: pid).isEmpty || !strays(runtime).isEmpty else { return false }
            guard let marker = moment.marker else { return true }
            return running.stderrText.contains(marker)
        }, seconds: 240)
        #expect(reached, "\(moment.rawValue) was not reached; stderr: \(running.stderrText.suffix(2000))")
        #expect(running.process.isRunning, "the run ended before it could be killed")
        let qemus = E2E.qemu(startedBy: pid)
        kill(pid, SIGKILL)
        _ = running.finish()
        // Nothing bound to the runner survives it (the watchers act within milliseconds).
        #expect(waitFor({ strays(runtime).isEmpty }, seconds: 5),
                "processes outlived the killed runner \(moment.rawValue): \(strays(runtime))")
        // A killed QEMU with a guest's memory to release can take a moment to finish exiting
        // (its command line is already empty then, so it no longer counts as a stray above).
        func survivors() -> [Int32] {
            qemus.filter { kill($0, 0) == 0 && !((try? String(contentsOfFile: "/proc/\($0)/stat", encoding: .utf8))?.contains(") Z ") ?? true) }
        }
        #expect(waitFor({ survivors().isEmpty }, seconds: 5), "QEMU \(survivors()) outlived the killed runner")
        // The run directory stays until the next invocation, which removes it.
        let next = try E2E.run(["image", "list"], environment: environment)
        #expect(next.status == 0)
        #expect(runDirectories(in: runtime).isEmpty, "left after the next invocation: \(runDirectories(in: runtime)); stderr: \(next.stderr)")
    }

    @Test("kill -9 of run, at each moment", arguments: [Moment.beforeBoot, .stageOne, .kexec, .verification])
    func killRun(_ moment: Moment) throws {
        try killAndCheck(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg"], moment: moment)
    }

    @Test("kill -9 of boot while the VM runs")
    func killBoot() throws {
        try killAndCheck(["boot", "linux-7.3", "--accel", "tcg"], moment: .vmRunning, takesOut: false)
    }

    @Test("kill -9 of matrix mid stage 1")
    func killMatrix() throws {
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = folder.appendingPathComponent("kill.yaml")
        try """
        name: kill
        images: [linux-7.3]
        scenarios: [memfd-basic]
        pairs: [{from: linux-7.3, to: linux-7.3}]
        accel: tcg
        """.write(to: matrix, atomically: true, encoding: .utf8)
        try killAndCheck(["matrix", matrix.path, "--jobs", "1", "--no-history"], moment: .stageOne)
    }

    @Test("kill -9 of run with --backend libvirt: no domain; the next libvirt run removes the pool")
    func killLibvirtRun() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        guard LibvirtE2E.virshPath != nil else { throw E2E.PrerequisiteMissing(what: "virsh is not installed (scripts/setup.sh)") }
        guard LibvirtE2E.answers(LibvirtE2E.localURI) else {
            throw E2E.PrerequisiteMissing(what: "libvirtd does not answer on \(LibvirtE2E.localURI) (scripts/libvirt-daemons.sh start)")
        }
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let running = try E2E.start(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                     "--backend", "libvirt", "--out", out.path, "--verbose"])
        let pid = running.process.processIdentifier
        let mine = { (names: Set<String>) in names.filter { $0.hasPrefix("handover-\(pid)-") } }
        #expect(waitFor({ running.stderrText.contains("preserving") }, seconds: 240), "stage 1 not reached: \(running.stderrText.suffix(1500))")
        #expect(!mine(LibvirtE2E.pools()).isEmpty, "no pool named after the runner")
        kill(pid, SIGKILL)
        _ = running.finish()
        // AUTODESTROY: libvirtd ends the domain when the runner's connection drops.
        #expect(waitFor({ mine(LibvirtE2E.domains()).isEmpty }, seconds: 20), "domains left: \(mine(LibvirtE2E.domains()))")
        // The next libvirt start removes the dead runner's pool.
        let next = try E2E.run(["boot", "linux-7.3", "--accel", "tcg", "--backend", "libvirt"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(mine(LibvirtE2E.pools()).isEmpty, "pools left: \(mine(LibvirtE2E.pools())); \(next.stderr)")
        #expect(next.stderr.contains("left by a runner that is gone"), "\(next.stderr)")
    }

    @Test("a live runner's run directory is never taken by another invocation")
    func liveRunnerIsLeftAlone() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let runtime = runtimeFolder()
        let out = E2E.temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: runtime)
            try? FileManager.default.removeItem(at: out)
        }
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        let running = try E2E.start(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                     "--out", out.path, "--json"], environment: environment)
        let pid = running.process.processIdentifier
        #expect(waitFor({ !E2E.qemu(startedBy: pid).isEmpty }, seconds: 120))
        let before = runDirectories(in: runtime)
        _ = try E2E.run(["image", "list"], environment: environment)
        #expect(runDirectories(in: runtime) == before)
        let output = running.finish()
        #expect(output.status == 0, "the live run was disturbed: \(output.stderr.suffix(1000))")
    }
}
}
