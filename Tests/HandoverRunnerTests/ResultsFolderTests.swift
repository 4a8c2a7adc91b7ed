import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverRuns

@Suite struct ResultsFolderTests {
    @Test func aFolderHeldByAnotherProcessIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-results-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let lockPath = folder.appendingPathComponent(ResultsFolder.lockFile).path
        // Another process (flock(1)) holds the folder's lock.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["-n", lockPath, "-c", "echo 4242 > \(lockPath); sleep 30"]
        try holder.run()
        defer { holder.terminate() }
        for _ in 0..<100 where (try? String(contentsOfFile: lockPath, encoding: .utf8))?.contains("4242") != true { usleep(20_000) }
        do {
            try ResultsFolder.prepare(folder)
            Issue.record("a folder in use was taken")
        } catch let error as HarnessError {
            #expect(error.description.contains("in use by another handover"), "\(error)")
            #expect(error.description.contains("4242"), "\(error)")
        }
    }

    @Test func theSameProcessMayPrepareItsFolderAgain() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-results-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ResultsFolder.prepare(folder)
        try ResultsFolder.prepare(folder)
    }
}
