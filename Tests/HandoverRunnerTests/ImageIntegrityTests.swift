import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages

/// A tree that is not a git checkout is versioned by its content, not called dirty; a cached
/// image whose files changed since the build is refused by name.
@Suite struct ImageIntegrityTests {
    func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-integrity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    func image(in folder: URL, commit: String?, dirty: Bool?) -> KernelImage {
        var image = KernelImage(
            recipe: "a-recipe-name-longer-than-fourteen", recipeFile: "x.yaml", key: String(repeating: "0", count: 24), kernelRelease: "7.3.4",
            source: KernelImage.SourceInfo(kind: "tree", tree: "/src", commit: commit, dirty: dirty), baseConfig: "tinyconfig",
            fragments: [], compiler: "gcc", capabilities: Capabilities(config: KernelConfig(text: "")), abi: nil,
            kexecLoadable: true, cmdline: [], builtAt: Date())
        image.folder = folder
        return image
    }

    @Test func aTreeWithoutGitIsVersionedByContentAndNotDirty() async throws {
        let tree = try scratch()
        defer { try? FileManager.default.removeItem(at: tree) }
        try Data("obj-y += x.o\n".utf8).write(to: tree.appendingPathComponent("Makefile"))
        let state = try await ResolvedSource.treeState(tree)
        #expect(state.dirty == false)
        #expect(state.commit.hasPrefix(KernelImage.contentPrefix))
        let label = image(in: tree, commit: state.commit, dirty: state.dirty).versionLabel
        #expect(!label.contains("dirty"), "\(label)")
        #expect(label.hasPrefix("no git"), "\(label)")
        // Its content is its version: a changed file is another version.
        try Data("obj-y += y.o\n".utf8).write(to: tree.appendingPathComponent("Makefile"))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(10)], ofItemAtPath: tree.appendingPathComponent("Makefile").path)
        #expect(try await ResolvedSource.treeState(tree).commit != state.commit)
    }

    @Test func aTruncatedOrAlteredFileIsRefusedByName() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in KernelImage.digestedFiles { try Data(repeating: 7, count: 8192).write(to: folder.appendingPathComponent(name)) }
        var built = image(in: folder, commit: "abc", dirty: false)
        built.digests = try KernelImage.digests(in: folder)
        try AtomicFile.writeJSON(built, to: folder.appendingPathComponent("image.json"))
        #expect(throws: Never.self) { try KernelImage.load(from: folder) }

        let bzImage = folder.appendingPathComponent("bzImage")
        try Data(repeating: 7, count: 4096).write(to: bzImage)
        do {
            _ = try KernelImage.load(from: folder)
            Issue.record("a truncated bzImage was accepted")
        } catch let damage as CacheDamage {
            #expect(damage.file.path == bzImage.path)
            #expect(damage.description.contains("truncated or altered"))
        }
        #expect(try KernelImage.load(from: folder, verifying: false).isIntact == false)
    }

    @Test func aCorruptRecordIsAnErrorNamingTheFile() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let record = folder.appendingPathComponent("image.json")
        try Data("{\"recipe\": ".utf8).write(to: record)
        do {
            _ = try KernelImage.load(from: folder)
            Issue.record("a corrupt image.json was read")
        } catch let error as HarnessError {
            #expect(error.description.contains(record.path), "\(error)")
        }
    }
}
