import Foundation
import Testing
@testable import HandoverImages
@testable import HandoverSupport

@Suite("Images/versions.lock")
struct VersionLockTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("a written lock reads back the same; no file is an empty lock")
    func roundTrip() throws {
        let recipes = try folder()
        defer { try? FileManager.default.removeItem(at: recipes) }
        #expect(try VersionLock.load(recipes: recipes) == VersionLock())
        let lock = VersionLock(versions: [.init(package: "linux-source-7.3", pattern: "7.3.*", suite: "trixie-backports"): "7.3.4-1~bpo13+1",
                                          .init(package: "linux-source-7.2", pattern: "7.2.*", suite: "sid"): "7.2.13-1"])
        try lock.write(recipes: recipes)
        #expect(try VersionLock.load(recipes: recipes) == lock)
        #expect(lock.version(package: "linux-source-7.3", pattern: "7.3.*", suite: "trixie-backports") == "7.3.4-1~bpo13+1")
        #expect(lock.version(package: "linux-source-7.3", pattern: "7.*", suite: "trixie-backports") == nil)
    }

    @Test("a line of another shape is refused, naming the file and the line")
    func badLine() throws {
        let recipes = try folder()
        defer { try? FileManager.default.removeItem(at: recipes) }
        for bad in ["linux-source-7.3 7.3.* = 7.3.4-1", "linux-source-7.3 7.3.* trixie =", "just words"] {
            try "# comment\n\(bad)\n".write(to: VersionLock.file(in: recipes), atomically: true, encoding: .utf8)
            do {
                _ = try VersionLock.load(recipes: recipes)
                Issue.record("accepted: \(bad)")
            } catch {
                #expect(error.line == 2 && error.file.hasSuffix("versions.lock"), "\(error)")
            }
        }
    }

    @Test("a lock pins the recipe whose package, pattern and suite it names, and no other")
    func pinned() throws {
        let recipes = try folder()
        defer { try? FileManager.default.removeItem(at: recipes) }
        try VersionLock(versions: [.init(package: "linux-source-7.3", pattern: "7.3.*", suite: "trixie-backports"): "7.3.1-1"]).write(recipes: recipes)
        func recipe(_ pattern: String) throws -> Recipe {
            let file = recipes.appendingPathComponent("r.yaml")
            try "source: {debian: {package: linux-source-7.3, version: \"\(pattern)\", suite: trixie-backports}}\nconfig: {base: tinyconfig}\n"
                .write(to: file, atomically: true, encoding: .utf8)
            return try Recipe.load(from: file)
        }
        #expect(try VersionLock.pinned(recipe("7.3.*")) == "7.3.1-1")
        #expect(try VersionLock.pinned(recipe("7.3.4*")) == nil)
    }
}
