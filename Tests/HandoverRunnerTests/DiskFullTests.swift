import Foundation
import Testing
@testable import HandoverSupport

/// A full file system while writing results: the previous file stays whole, and the error says
/// what ran out. Needs root to mount a small tmpfs (CI and developers' machines run as root).
@Suite(.enabled(if: getuid() == 0)) struct DiskFullTests {
    @Test func aFullFileSystemKeepsThePreviousResultAndSaysWhatRanOut() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("handover-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: mountPoint) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mountPoint.path]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "cannot mount a tmpfs")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint.path]
            try? umount.run()
            umount.waitUntilExit()
        }
        let result = mountPoint.appendingPathComponent("results/result.json")
        let previous = Data(("{\"verdict\": \"pass\"}\n").utf8)
        try AtomicFile.write(previous, to: result)
        // Fill what is left.
        let filler = mountPoint.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let block = Data(repeating: 0x41, count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        try? handle.close()

        do {
            try AtomicFile.write(Data(repeating: 0x42, count: 64 * 1024), to: result)
            Issue.record("a write to a full file system succeeded")
        } catch let error as HarnessError {
            #expect(error.description.contains("ENOSPC"), "\(error)")
            #expect(error.description.contains(result.path), "\(error)")
        }
        #expect(try Data(contentsOf: result) == previous, "the previous result was damaged")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: result.deletingLastPathComponent().path)
        #expect(leftovers == ["result.json"], "temporary files left: \(leftovers)")
    }
}
