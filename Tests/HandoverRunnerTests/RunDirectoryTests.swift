import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverMachines

@Suite struct RunDirectoryTests {
    @Test func runDirectoriesAndSocketsArePrivate() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-rundir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let directory = try RunDirectory(parent: parent)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: directory.url.path)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o700)
        let parentMode = try #require(FileManager.default.attributesOfItem(atPath: parent.path)[.posixPermissions] as? Int)
        #expect(parentMode & 0o077 == 0, "the parent of run directories is readable by others: \(String(parentMode, radix: 8))")
        let listener = try UnixListener(path: directory.file("agent.sock"))
        defer { listener.close() }
        let socketMode = try #require(FileManager.default.attributesOfItem(atPath: directory.file("agent.sock").path)[.posixPermissions] as? Int)
        #expect(socketMode & 0o077 == 0)
        directory.remove()
        #expect(!FileManager.default.fileExists(atPath: directory.url.path))
    }

    @Test func twoRunsGetTwoDirectories() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-rundir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let a = try RunDirectory(parent: parent)
        let b = try RunDirectory(parent: parent)
        #expect(a.url != b.url)
    }

    @Test func aNewRunDirectoryAlreadyNamesItsOwner() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-rundir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let directory = try RunDirectory(parent: parent)
        #expect(directory.url.lastPathComponent.hasPrefix("run-"))
        let owner = try String(contentsOf: directory.file(RunDirectory.ownerFile), encoding: .utf8)
        #expect(owner.trimmingCharacters(in: .whitespacesAndNewlines) == RunOwner.current.tag)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == [directory.url.lastPathComponent])
        #expect(RunDirectory.reapStale(parent: parent).isEmpty, "a live runner's directory was reaped")
    }

    @Test func aStagingFolderLeftByAKilledRunnerGoesAfterAMinute() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("handover-rundir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let old = parent.appendingPathComponent(RunDirectory.stagingPrefix + "abc123")
        let fresh = parent.appendingPathComponent(RunDirectory.stagingPrefix + "def456")
        for url in [old, fresh] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        let then = Date().addingTimeInterval(-Double(RunDirectory.stagingLifetime + 30))
        try FileManager.default.setAttributes([.modificationDate: then], ofItemAtPath: old.path)
        let reaped = RunDirectory.reapStale(parent: parent)
        #expect(reaped.map { $0.directory.lastPathComponent } == [old.lastPathComponent])
        #expect(!FileManager.default.fileExists(atPath: old.path))
        #expect(FileManager.default.fileExists(atPath: fresh.path))
    }
}
