import ArgumentParser
import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverRuns
import HandoverBisect

struct BisectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bisect",
        abstract: "Find the commit (or recipe) that breaks a handover or slows its blackout.",
        discussion: """
            Tree mode: handover bisect SCENARIO --tree PATH --good REV --bad REV [--from IMAGE | --to IMAGE]
            Recipe mode: handover bisect SCENARIO --recipes A,B,C [--from IMAGE | --to IMAGE]
            Exit status: 0 the first bad one was found, 1 skipped candidates hide it (it is one of those listed), \
            2 harness error or bad input, 3 the ends are not good and bad as given (nothing to bisect).
            Rerun the same command with the same --out to continue an interrupted bisection.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var acceleratorOption: AcceleratorOption
    @OptionGroup var backendOptions: BackendOptions
    @Argument(help: "The scenario file (Scenarios/NAME.yaml) or a scenario name.") var scenario: String
    @Option(help: "A git repository holding a kernel tree (never modified: handover builds from a worktree of its own).") var tree: String?
    @Option(help: "A revision of --tree that hands over well.") var good: String?
    @Option(help: "A later revision of --tree that fails (or is slow, with --blackout).") var bad: String?
    @Option(help: "Recipe mode: recipes in order (comma-separated or repeated), the first good, the last bad.") var recipes: [String] = []
    @Option(help: "The fixed first kernel (recipe name or image key): the bisected kernels are the new ones.") var from: String?
    @Option(help: "The fixed second kernel: the bisected kernels are the old ones.") var to: String?
    @Option(help: "Build --tree with this recipe's configuration (base, fragments, patches, cmdline).") var recipe: String?
    @Option(help: "Base configuration for --tree: tinyconfig (default), defconfig or a config file.") var config: String?
    @Option(help: "A configuration fragment for --tree (repeatable; a name in Images/fragments or a file). Default: tiny-guest and luo.") var fragment: [String] = []
    @Option(help: "A patch applied to every commit of --tree before building (repeatable).") var patch: [String] = []
    @Option(help: "Extra kernel command line words for --tree's kernels.") var cmdline: String?
    @Option(help: "Name the tree's kernels NAME@COMMIT (default: the tree folder's name).") var name: String?
    @Option(name: .customLong("class"), help: "Only a failure of this class is bad (another failure is skipped).") var failureClass: String?
    @Flag(help: "Judge by the blackout against the good end's (needs --repeat 3 or more).") var blackout = false
    @Option(help: "With --blackout: the growth in percent that makes a step bad (default 20).") var threshold: Double?
    @Option(help: "Runs per step.") var `repeat`: Int = 1
    @Flag(help: "Judge blackouts taken under host CPU contention like the others (each result records the pressure).") var allowContention = false
    @Option(help: "Results folder (default: results/<time>-bisect-<scenario>); the same folder continues a bisection.") var out: String?
    @Option(help: "The clock blackouts are measured on: guest (icount, one vCPU; TCG only) or host. Default: guest under TCG on the qemu backend, else host.") var timing: Timing?
    @Option(help: "Guest memory in MiB (default: enough for the scenario).") var memory: Int?
    @Option(help: "Seconds to wait for the new kernel's agent after the kexec.") var kexecTimeout: Double = 120

    var options: BisectOptions {
        var options = BisectOptions()
        options.tree = tree
        options.good = good
        options.bad = bad
        options.recipes = recipes.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        options.from = from
        options.to = to
        options.recipe = recipe
        options.config = config
        options.fragments = fragment
        options.patches = patch
        options.cmdline = cmdline
        options.failureClass = failureClass
        options.blackout = blackout
        options.threshold = threshold
        options.repeats = self.repeat
        return options
    }

    func run() async throws {
        ChildProcesses.shared.installSignalHandlers()
        let record: BisectRecord = try await reportingErrors {
            let options = self.options
            let (mode, criterion) = try options.check()
            let parsed = try Scenario.load(from: try ScenarioCatalog.locate().file(for: scenario))
            var preflight = Preflight(scenario: parsed, kernels: 2)
            preflight.repeats = self.repeat
            preflight.memoryMiB = memory
            try preflight.check()
            try checkImageName(from, option: "--from")
            try checkImageName(to, option: "--to")
            if !["kvm", "tcg", "auto"].contains(acceleratorOption.accel) {
                throw BisectInputError(option: "--accel", "expected kvm, tcg or auto, got '\(acceleratorOption.accel)'")
            }
            if timing == .guest {
                if let refusal = Timing.guest.refusal(on: backendOptions.value) { throw BisectInputError(option: "--timing", refusal) }
                if acceleratorOption.accel == "kvm" { throw BisectInputError(option: "--timing", Timing.guest.refusal(under: .kvm)!) }
            }
            let builder = ImageBuilder(paths: global.paths, progress: global.progress)

            // Everything about the candidates is checked before any image is built.
            var candidates: [BisectCandidate]
            var treeRoot: URL?
            var configuration: String?
            var stepBuilder: TreeStepBuilder?
            var recipeList: [Recipe] = []
            switch mode {
            case .tree:
                let root = try await GitHistory.topLevel(of: URL(fileURLWithPath: tree!).standardizedFileURL)
                for marker in ["Makefile", "Kconfig", "arch/x86/Kconfig", "scripts/kconfig"]
                where !FileManager.default.fileExists(atPath: root.appendingPathComponent(marker).path) {
                    throw BisectInputError(option: "--tree", "expected a kernel source tree; \(root.path) has no \(marker)")
                }
                let goodHash = try await GitHistory.resolve(good!, in: root, option: "--good")
                let badHash = try await GitHistory.resolve(bad!, in: root, option: "--bad")
                guard goodHash != badHash else { throw BisectInputError(option: "--bad", "is the same commit as --good (\(goodHash.prefix(12))); nothing lies between them") }
                let line = try await GitHistory.firstParentLine(good: goodHash, bad: badHash, in: root)
                guard !line.isEmpty else {
                    throw BisectInputError(option: "--good", "\(good!) (\(goodHash.prefix(12))) is not an ancestor of --bad \(bad!) (\(badHash.prefix(12))) along first parents; expected an older revision of the same line")
                }
                candidates = [try await GitHistory.commit(goodHash, in: root)] + line
                let recipe = try options.treeRecipe(tree: root, name: name ?? root.lastPathComponent, catalog: global.catalog)
                let workspace = try BisectWorkspace(tree: root, recipe: recipe, paths: global.paths)
                configuration = workspace.root.lastPathComponent
                stepBuilder = TreeStepBuilder(builder: builder, recipe: recipe, workspace: workspace)
                treeRoot = root
            case .recipes:
                for name in options.recipes {
                    do { recipeList.append(try global.catalog.load(name)) } catch {
                        throw BisectInputError(option: "--recipes", "expected recipe names or files; \(error)")
                    }
                }
                candidates = recipeList.map { BisectCandidate(hash: $0.name, subject: $0.description ?? $0.name, author: "") }
            }

            let side: BisectSide
            if let from { side = .newKernel(from: try await global.image(named: from)) }
            else if let to { side = .oldKernel(to: try await global.image(named: to)) }
            else { side = .both }
            let request = BisectRequest(
                scenario: parsed.name, scenarioDigest: parsed.digest, mode: mode == .tree ? "tree" : "recipes",
                tree: treeRoot?.path, configuration: configuration, side: side.label, fixedImage: side.fixed?.key,
                criterion: criterion, repeats: self.repeat, allowContention: allowContention)
            let folder = URL(fileURLWithPath: out ?? "results/\(ResultsFolder.timestamp())-bisect-\(parsed.name)")
            try ResultsFolder.prepare(folder)

            var runOptions = RunOptions(accelerator: .tcg, acceleratorReason: "")
            runOptions.memoryMiB = memory
            runOptions.kexecTimeout = kexecTimeout
            runOptions.backend = backendOptions.value
            runOptions.machines = Handover.machines
            let accelerator = acceleratorOption
            let global = self.global
            var bisector = Bisector(
                scenario: parsed, request: request, candidates: candidates, side: side, options: runOptions,
                accelerator: { [timing] image in try await accelerator.choose(image: image, global: global, timing: timing) },
                folder: folder, progress: global.progress,
                image: { [stepBuilder, recipeList, candidates] index, failedLog in
                    if let stepBuilder {
                        return try await stepBuilder.image(for: candidates[index], failedLog: failedLog)
                    }
                    return try await Self.recipeImage(recipeList[index], builder: builder)
                })
            bisector.timing = timing
            // A folder holding another bisection is refused here, before the first build.
            _ = try bisector.loadPrevious()
            if let stepBuilder {
                let lock = try await stepBuilder.workspace.open(progress: global.progress)
                defer { lock.release() }
                let record = try await bisector.run()
                print(BisectText.summary(record, folder: folder))
                return record
            }
            let record = try await bisector.run()
            print(BisectText.summary(record, folder: folder))
            return record
        }
        switch record.status {
        case .found: return
        case .ambiguous: throw ExitCode(1)
        case .refused: throw ExitCode(3)
        case .running: throw ExitCode(2)
        }
    }

    func checkImageName(_ name: String?, option: String) throws {
        guard let name else { return }
        if name.hasSuffix(".yaml") || name.contains("/") || global.catalog.names().contains(name) { return }
        if (try? ImageStore(paths: global.paths).locate(name)) != nil { return }
        let known = global.catalog.names().joined(separator: ", ")
        throw BisectInputError(option: option, "expected a recipe name (\(known)) or the key of a cached image; '\(name)' is neither")
    }

    static func recipeImage(_ recipe: Recipe, builder: ImageBuilder) async throws -> StepImage {
        let started = Date()
        do {
            let (image, cached) = try await builder.buildReportingCache(recipe)
            return .ready(image, StepBuildRecord(imageKey: image.key, seconds: cached ? 0 : Date().timeIntervalSince(started),
                                                 incremental: false, cached: cached, compiledUnits: image.compiledUnits,
                                                 log: image.folder?.appendingPathComponent("build.log").path))
        } catch let error as HarnessError where error.code == .buildFailed {
            return .unbuildable("does not build: \(error.message)", StepBuildRecord(
                imageKey: nil, seconds: Date().timeIntervalSince(started), incremental: false, cached: false, compiledUnits: nil, log: nil))
        }
    }
}
