import Foundation
import Testing

extension EndToEnd {
/// Resource exhaustion: a full disk under the results folder and a guest memory QEMU cannot
/// allocate are infrastructure errors that say what ran out, and leave earlier results whole.
@Suite("Resource exhaustion")
struct ResourceTests {
    /// A 1 MiB tmpfs with an earlier result in results/, full but for `spare` 4 KiB pages.
    func fullDisk(spare: Int) throws -> (mount: URL, results: URL, previous: Data, cleanup: () -> Void) {
        let mount = E2E.temporaryFolder()
        let run = { (tool: String, arguments: [String]) -> Int32 in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            try? process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.path]) == 0 else {
            throw E2E.PrerequisiteMissing(what: "cannot mount a tmpfs (root needed)")
        }
        let cleanup = {
            _ = run("/bin/umount", [mount.path])
            try? FileManager.default.removeItem(at: mount)
        }
        let results = mount.appendingPathComponent("results")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let previous = Data("{\"verdict\": \"pass\", \"earlier\": true}\n".utf8)
        try previous.write(to: results.appendingPathComponent("result.json"))
        for index in 0..<spare {
            try Data(repeating: 0, count: 4096).write(to: mount.appendingPathComponent("spare-\(index)"))
        }
        FileManager.default.createFile(atPath: mount.appendingPathComponent("filler").path, contents: nil)
        if let handle = FileHandle(forWritingAtPath: mount.appendingPathComponent("filler").path) {
            while (try? handle.write(contentsOf: Data(repeating: 0x41, count: 4096))) != nil {}
            try? handle.close()
        }
        for index in 0..<spare { try? FileManager.default.removeItem(at: mount.appendingPathComponent("spare-\(index)")) }
        return (mount, results, previous, cleanup)
    }

    @Test("a results folder on a full disk: refused before boot, earlier result intact, ENOSPC said")
    func fullBeforeTheRun() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let disk = try fullDisk(spare: 0)
        defer { disk.cleanup() }
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                  "--out", disk.results.path])
        #expect(output.status == 2)
        #expect(output.stderr.contains("ENOSPC"), "\(output.stderr)")
        #expect(try Data(contentsOf: disk.results.appendingPathComponent("result.json")) == disk.previous)
    }

    @Test("the disk fills during the run: the result write fails with ENOSPC, the earlier result is intact")
    func fullWhileWriting() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        // Room for the folder's probe and lock file, none for the result.
        let disk = try fullDisk(spare: 1)
        defer { disk.cleanup() }
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                  "--out", disk.results.path])
        #expect(output.status == 2, "\(output.stderr)")
        #expect(output.stderr.contains("ENOSPC"), "\(output.stderr)")
        #expect(output.stderr.contains("result.json"), "\(output.stderr)")
        #expect(try Data(contentsOf: disk.results.appendingPathComponent("result.json")) == disk.previous)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: disk.results.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test("guest memory QEMU cannot allocate: an infrastructure error with QEMU's own message")
    func guestMemoryTooLarge() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                  "--memory", "4000000", "--out", out.path, "--json"])
        #expect(output.status == 2)
        let result = try E2E.json(output.stdout)
        #expect(result["verdict"] as? String == "error")
        #expect(result["failureClass"] as? String == "infrastructure")
        #expect((result["reason"] as? String)?.contains("cannot set up guest memory") == true, "\(result["reason"] ?? "")")
    }
}
}
