import Foundation
import HandoverSupport
import HandoverImages

/// A step's kernel, or why there is none.
public enum StepImage: Sendable {
    case ready(KernelImage, StepBuildRecord)
    /// The candidate does not build (or its configuration or patches fail): a skip.
    case unbuildable(String, StepBuildRecord)
}

/// Builds the tree's kernel at one commit in the workspace. The image goes into the image
/// cache under the key a tree recipe at that commit has (the user's tree path and the
/// commit, the configuration, the compiler), so a resumed or later bisection, or one of
/// another history sharing the commit, finds it there instead of building it again; the
/// results folder records which image each step ran (`images/`, and each result.json).
public struct TreeStepBuilder: Sendable {
    public var builder: ImageBuilder
    /// A tree recipe whose source is the user's tree; its name labels the step images.
    public var recipe: Recipe
    public var workspace: BisectWorkspace

    public init(builder: ImageBuilder, recipe: Recipe, workspace: BisectWorkspace) {
        self.builder = builder
        self.recipe = recipe
        self.workspace = workspace
    }

    /// The cache key of the tree's kernel at `commit`.
    func inputs(for commit: String) async throws -> (ImageKeyInputs, ResolvedSource) {
        let source = ResolvedSource(
            identity: "tree:\(workspace.tree.path)@\(commit)",
            info: .init(kind: "tree", tree: workspace.tree.path, commit: commit, dirty: false))
        return (try await builder.key(for: recipe, source: source), source)
    }

    /// Builds (or finds in the cache) the kernel at `commit`; a failed build's log is copied
    /// to `failedLog`.
    public func image(for commit: BisectCandidate, failedLog: URL) async throws -> StepImage {
        let started = Date()
        let (inputs, source) = try await inputs(for: commit.hash)
        let folder = builder.paths.images.appendingPathComponent(inputs.key)
        if let cached = try? KernelImage.load(from: folder) {
            return .ready(cached, StepBuildRecord(imageKey: inputs.key, seconds: 0, incremental: false, cached: true,
                                                  compiledUnits: nil, log: nil))
        }
        let lock = try await CacheLock.acquire(
            builder.paths.images.appendingPathComponent(".lock-\(inputs.key)"),
            waiting: "\(commit.short): another handover is building this image; waiting for it", progress: builder.progress)
        defer { lock.release() }
        if let cached = try? KernelImage.load(from: folder) {
            return .ready(cached, StepBuildRecord(imageKey: inputs.key, seconds: 0, incremental: false, cached: true,
                                                  compiledUnits: nil, log: nil))
        }
        let incremental = workspace.build.hasFinishedBuild
        func failed(_ reason: String, units: Int? = nil) -> StepImage {
            .unbuildable(reason, StepBuildRecord(imageKey: nil, seconds: Date().timeIntervalSince(started), incremental: incremental,
                                                 cached: false, compiledUnits: units, log: failedLog.path))
        }
        var stepRecipe = recipe
        stepRecipe.name = "\(recipe.name)@\(commit.short)"
        do {
            try await workspace.checkout(commit.hash, patches: recipe.patches, recipeFile: recipe.file)
        } catch let error as InputError {
            return failed("the recipe's patches do not apply: \(error.message)")
        }

        let fm = FileManager.default
        ImageBuilder.removeLeftovers(in: builder.paths.images, prefix: ".staging-\(inputs.key)-")
        let staging = builder.paths.images.appendingPathComponent(".staging-\(inputs.key)-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        do {
            var image = try await builder.compile(stepRecipe, tree: workspace.source, inputs: inputs, source: source,
                                                  staging: staging, reuse: workspace.build)
            image.buildSeconds = Date().timeIntervalSince(started)
            let installed = try builder.install(image, from: staging, into: folder)
            try workspace.build.markFinished(commit: commit.hash)
            return .ready(installed, StepBuildRecord(
                imageKey: inputs.key, seconds: image.buildSeconds!, incremental: incremental, cached: false,
                compiledUnits: image.compiledUnits, log: folder.appendingPathComponent("build.log").path))
        } catch let error as HarnessError where error.code == .buildFailed {
            keepLog(from: staging, to: failedLog)
            return failed("does not build: " + Self.firstError(in: error.tail, otherwise: error.message))
        } catch let error as InputError {
            keepLog(from: staging, to: failedLog)
            return failed("its configuration fails: \(error.message)")
        }
    }

    func keepLog(from staging: URL, to destination: URL) {
        guard let data = try? Data(contentsOf: staging.appendingPathComponent("build.log")) else { return }
        try? FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? AtomicFile.write(data, to: destination)
    }

    /// The compiler's first "error:" line in a build's last lines, the whole message otherwise.
    static func firstError(in tail: [String], otherwise message: String) -> String {
        tail.first { $0.contains("error:") || $0.contains("Error ") }?.trimmingCharacters(in: .whitespaces) ?? message
    }
}
