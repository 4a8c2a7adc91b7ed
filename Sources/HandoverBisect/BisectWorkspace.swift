import Foundation
import HandoverSupport
import HandoverImages

/// The worktree and build folder handover owns for one (tree, configuration), under
/// `<cache>/bisect/<slug>/`: `src` is a detached git worktree of the user's repository that
/// moves from commit to commit (git rewrites only the files that differ, so the others keep
/// their timestamps), `build` is the build folder kept between steps, a direct subfolder of
/// `src` (see `CompilerCache`: the compiler cache then serves files an image build of the same
/// source compiled), untracked and left alone by git's clean. kbuild
/// records every command line with its paths, so the paths must stay the same from step to
/// step and from one bisection to the next: one workspace per tree and configuration.
/// The user's checkout is never touched (only git's list of worktrees gains this one).
public struct BisectWorkspace: Sendable {
    /// The top of the user's repository.
    public var tree: URL
    public var root: URL
    public var source: URL { root.appendingPathComponent("src") }
    public var build: IncrementalBuild

    public init(tree: URL, recipe: Recipe, paths: CachePaths) throws {
        self.tree = tree
        let root = paths.root.appendingPathComponent("bisect").appendingPathComponent(try Self.slug(tree: tree, recipe: recipe))
        self.root = root
        build = IncrementalBuild.make(folder: root.appendingPathComponent("src").appendingPathComponent(Self.buildFolderName), paths: paths)
    }

    static let buildFolderName = ".handover-build"

    /// The tree's path and what configures the build (base, fragments and patches by content).
    static func slug(tree: URL, recipe: Recipe) throws -> String {
        var lines = [tree.path, recipe.base.label]
        if case .file(let url) = recipe.base { lines[1] = "file:\(try Digest.sha256(file: url))" }
        lines += try recipe.fragments.map { "\($0.lastPathComponent):\(try Digest.sha256(file: $0))" }
        lines += try recipe.patches.map { "patch \($0.lastPathComponent):\(try Digest.sha256(file: $0))" }
        return String(Digest.sha256(Data(lines.joined(separator: "\n").utf8)).prefix(16))
    }

    /// Takes the workspace for this process (a second bisection of the same tree and
    /// configuration waits), and makes the worktree when it is missing.
    public func open(progress: ProgressReporter) async throws -> CacheLock {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let lock = try await CacheLock.acquire(
            root.appendingPathComponent(".lock"),
            waiting: "another handover is building in \(root.path); waiting for it", progress: progress)
        if try await !isWorktreeOfTree() {
            try? FileManager.default.removeItem(at: source)
            progress.step("making a worktree of \(tree.path) in \(source.path) (once per tree and configuration)")
            // --force: git may still list a worktree at this path whose folder was removed.
            try await Shell.check("git", ["-C", tree.path, "worktree", "add", "--force", "--detach", "--quiet", source.path, "HEAD"])
        }
        try await removeStaleGitLocks(progress: progress)
        return lock
    }

    /// A bisection killed while git moved the worktree (SIGKILL reaches git through its
    /// lifeline) leaves git's lock files behind, and every later checkout then fails with
    /// "Unable to create .../index.lock: File exists". Only handover uses this worktree, and
    /// only under the workspace lock this process now holds, so any lock file there is stale.
    func removeStaleGitLocks(progress: ProgressReporter) async throws {
        let output = try await Shell.capture("git", ["-C", source.path, "rev-parse", "--absolute-git-dir"])
        guard output.succeeded else { return }
        let gitDirectory = URL(fileURLWithPath: output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for name in ["index.lock", "HEAD.lock"] {
            let file = gitDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            try FileManager.default.removeItem(at: file)
            progress.step("removed \(file.path), left by a bisection that was killed while git ran")
        }
    }

    func isWorktreeOfTree() async throws -> Bool {
        guard FileManager.default.fileExists(atPath: source.appendingPathComponent(".git").path) else { return false }
        let ours = try? await GitHistory.commonDirectory(of: source)
        let theirs = try await GitHistory.commonDirectory(of: tree)
        return ours == theirs
    }

    /// Moves the worktree to `commit` (only changed files are rewritten) and applies the
    /// recipe's patches on top.
    public func checkout(_ commit: String, patches: [URL], recipeFile: URL) async throws {
        try await Shell.check("git", ["-C", source.path, "checkout", "--quiet", "--force", "--detach", commit])
        try await Shell.check("git", ["-C", source.path, "clean", "-fdq", "-e", "/\(Self.buildFolderName)"])
        for (index, patch) in patches.enumerated() {
            let output = try await Shell.capture("patch", ["-p1", "--forward", "--batch", "-d", source.path, "-i", patch.path])
            guard output.succeeded else {
                throw InputError(file: recipeFile.path, keyPath: "patches[\(index)]",
                                 message: "\(patch.lastPathComponent) does not apply at \(commit.prefix(12)): \((output.stdout + output.stderr).trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
    }
}
