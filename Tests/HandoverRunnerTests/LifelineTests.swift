import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverMachines

/// A child bound by a lifeline dies when the write end closes, as it does when handover is
/// killed; run directories are reaped only once their owner is gone.
@Suite struct LifelineTests {
    func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z"
    }

    @Test func theWatcherKillsTheGroupWhenTheWriteEndCloses() throws {
        // What happens on SIGKILL of handover: the kernel closes the write end. Here we close it.
        let lifeline = try Lifeline()
        let wrapped = Lifeline.wrap("/bin/sleep", ["302"])
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, lifeline.readEnd.rawValue, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = ([wrapped.executable] + wrapped.arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, wrapped.executable, &actions, &attributes, argv, environ) == 0)
        try lifeline.readEnd.close()
        usleep(300_000)
        #expect(alive(pid))
        lifeline.release()
        var status: Int32 = 0
        var waited: pid_t = 0
        for _ in 0..<200 where waited == 0 {
            waited = waitpid(pid, &status, WNOHANG)
            if waited == 0 { usleep(10_000) }
        }
        #expect(waited == pid, "the child outlived its lifeline")
        #expect(status & 0x7f == SIGKILL)
    }

    @Test func aMissingToolIsReportedAsBefore() async throws {
        await #expect(throws: HarnessError.self) { try await Shell.capture("handover-no-such-tool", []) }
    }

    @Test func ownerTagsRoundTripAndTellTheLiveFromTheGone() throws {
        let me = RunOwner.current
        #expect(RunOwner(tag: me.tag) == me)
        #expect(me.status == .alive)
        var gone = me
        gone.startTime += 1
        #expect(gone.status == .gone, "a reused pid is not the owner")
        var elsewhere = me
        elsewhere.boot = elsewhere.boot == "00000000" ? "11111111" : "00000000"
        #expect(elsewhere.status == .otherBoot)
        #expect(RunOwner(tag: "12-x-abcdef01") == nil)
        #expect(RunOwner(tag: "handover-abc") == nil)
    }

    @Test func reapingRemovesOnlyTheDirectoriesOfGoneOwners() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-reap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let mine = try RunDirectory(parent: parent)
        let dead = try RunDirectory(parent: parent)
        var owner = RunOwner.current
        owner.startTime += 7
        try Data((owner.tag + "\n").utf8).write(to: dead.file("owner"))
        // A fresh directory without an owner record (an older handover's) is left alone.
        let ownerless = try RunDirectory(parent: parent)
        try FileManager.default.removeItem(at: ownerless.file("owner"))

        let reaped = RunDirectory.reapStale(parent: parent)
        #expect(reaped.map(\.directory.lastPathComponent) == [dead.url.lastPathComponent])
        #expect(FileManager.default.fileExists(atPath: mine.url.path))
        #expect(!FileManager.default.fileExists(atPath: dead.url.path))
        #expect(FileManager.default.fileExists(atPath: ownerless.url.path))
    }

    @Test func reapingStopsAProcessStillNamingTheDirectory() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-reap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let dead = try RunDirectory(parent: parent)
        var owner = RunOwner.current
        owner.startTime += 7
        try Data((owner.tag + "\n").utf8).write(to: dead.file("owner"))
        // A stray "QEMU": a process whose command line names a file in the directory.
        let stray = Process()
        stray.executableURL = URL(fileURLWithPath: "/bin/sh")
        stray.arguments = ["-c", "sleep 303.25; true", dead.file("console.sock").path]
        try stray.run()
        usleep(100_000)
        let reaped = RunDirectory.reapStale(parent: parent)
        #expect(reaped.first?.killed == [stray.processIdentifier])
        #expect(!alive(stray.processIdentifier), "the stray process lives on")
        // Its sleep (which does not name the directory) is this test's to end.
        for pid in StrayProcesses.referring(to: "303.25") { kill(pid, SIGKILL) }
    }
}
