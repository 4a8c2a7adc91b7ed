import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverResults
@testable import HandoverBisect


struct BisectSearchTests {
    @Test func halvesTowardsTheFirstBad() {
        // Candidates 0...8, the first bad is 6: 4 good, 6 bad, 5 good.
        var search = BisectSearch(count: 9)
        #expect(search.next == .test(4))
        search.verdicts[4] = .good
        #expect(search.next == .test(6))
        search.verdicts[6] = .bad
        #expect(search.next == .test(5))
        search.verdicts[5] = .good
        #expect(search.next == .found(6))
    }

    @Test func stepsAroundASkip() {
        var search = BisectSearch(count: 9)
        search.verdicts[4] = .skip
        // 3 and 5 are equally near the middle: the older one.
        #expect(search.next == .test(3))
        search.verdicts[3] = .good
        #expect(search.next == .test(5))
        search.verdicts[5] = .good
        #expect(search.next == .test(6))
        search.verdicts[6] = .bad
        #expect(search.next == .found(6))
    }

    @Test func onlySkippedCandidatesLeftIsAmbiguous() {
        var search = BisectSearch(count: 5)
        search.verdicts[2] = .bad
        search.verdicts[1] = .skip
        #expect(search.next == .ambiguous([1, 2]))
    }

    @Test func adjacentEndsNeedNoStep() {
        #expect(BisectSearch(count: 2).next == .found(1))
        #expect(BisectSearch(count: 2).stepsLeft == 0)
        #expect(BisectSearch(count: 9).stepsLeft == 3)
    }

    @Test func aGoodAfterTheFirstBadDoesNotMoveTheSearch() {
        // Inconsistent answers (flaky): the earliest bad bounds the search.
        var search = BisectSearch(count: 9)
        search.verdicts[4] = .bad
        search.verdicts[6] = .good
        #expect(search.firstKnownBad == 4)
        #expect(search.lastKnownGood == 0)
        #expect(search.next == .test(2))
    }
}

struct StepJudgeTests {
    static let image = KernelImage(
        recipe: "t", recipeFile: "t.yaml", key: "k", kernelRelease: "7.3.4",
        source: .init(kind: "tree"), baseConfig: "tinyconfig", fragments: [], compiler: "gcc",
        capabilities: Capabilities(config: KernelConfig(text: "CONFIG_KEXEC_HANDOVER=y\nCONFIG_LIVEUPDATE=y\nCONFIG_LIVEUPDATE_MEMFD=y\n")),
        abi: nil, kexecLoadable: true, cmdline: [], builtAt: Date())

    static func run(_ verdict: Verdict, _ failureClass: FailureClass? = nil, blackout: Double? = nil) -> RunResult {
        var result = RunResult(
            scenario: "memfd-basic", scenarioFile: "s.yaml", scenarioDigest: "d", from: ImageRef(image), to: ImageRef(image),
            accelerator: .tcg, acceleratorReason: "test", verdict: verdict, failureClass: failureClass,
            reason: "because", prediction: HandoverPrediction(from: image, to: image), startedAt: Date())
        result.blackout = blackout.map { Blackout(total: $0) }
        return result
    }

    @Test func passIsGoodFailIsBadTheRestSkip() {
        let criterion = BisectCriterion.verdict(failureClass: nil)
        #expect(StepJudge.judge([Self.run(.pass)], criterion: criterion, base: []).verdict == .good)
        #expect(StepJudge.judge([Self.run(.fail, .stateMismatch)], criterion: criterion, base: []).verdict == .bad)
        #expect(StepJudge.judge([Self.run(.unsupported)], criterion: criterion, base: []).verdict == .skip)
        #expect(StepJudge.judge([Self.run(.error, .infrastructure)], criterion: criterion, base: []).verdict == .skip)
        #expect(StepJudge.judge([], criterion: criterion, base: []).verdict == .skip)
        // One failing repeat among passes makes the step bad; an error among passes skips it.
        #expect(StepJudge.judge([Self.run(.pass), Self.run(.fail, .retrieveFailed)], criterion: criterion, base: []).verdict == .bad)
        #expect(StepJudge.judge([Self.run(.pass), Self.run(.error, .infrastructure)], criterion: criterion, base: []).verdict == .skip)
    }

    @Test func aClassFilterSkipsOtherFailures() {
        let criterion = BisectCriterion.verdict(failureClass: .stateMismatch)
        #expect(StepJudge.judge([Self.run(.fail, .stateMismatch)], criterion: criterion, base: []).verdict == .bad)
        let other = StepJudge.judge([Self.run(.fail, .newKernelPanic)], criterion: criterion, base: [])
        #expect(other.verdict == .skip)
        #expect(other.reason.contains("not a state-mismatch failure"))
    }

    @Test func blackoutGrowthIsBadAndSimilarIsGood() {
        let base = [6.0, 6.2, 6.1, 5.9].map { BlackoutSample(total: $0) }
        let criterion = BisectCriterion.blackout(threshold: 0.2)
        let slow = StepJudge.judge([9.1, 9.0, 9.3].map { Self.run(.pass, blackout: $0) }, criterion: criterion, base: base)
        #expect(slow.verdict == .bad)
        #expect(slow.blackout?.finding == .regressed)
        #expect(slow.reason.contains("regressed"))
        let same = StepJudge.judge([6.1, 6.0, 6.3].map { Self.run(.pass, blackout: $0) }, criterion: criterion, base: base)
        #expect(same.verdict == .good)
        // A failed run has no blackout worth judging.
        let failed = StepJudge.judge([Self.run(.pass, blackout: 9), Self.run(.fail, .stateMismatch)], criterion: criterion, base: base)
        #expect(failed.verdict == .skip)
        // Too few repeats to judge.
        #expect(StepJudge.judge([Self.run(.pass, blackout: 9)], criterion: criterion, base: base).verdict == .skip)
    }

    @Test func anIntervalStraddlingTheThresholdSkips() {
        let base = [6.0, 6.1, 6.2].map { BlackoutSample(total: $0) }
        let straddling = StepJudge.judge([6.1, 7.6, 9.0].map { Self.run(.pass, blackout: $0) },
                                         criterion: .blackout(threshold: 0.2), base: base)
        #expect(straddling.verdict == .skip)
    }

    @Test func aNoisyStepClearlyBelowTheBadEndIsGood() {
        // Measured on a busy host: one repeat of a harmless step took 60% longer.
        let base = [4.13, 4.23, 4.77].map { BlackoutSample(total: $0) }
        let badEnd = [11.24, 13.54, 11.97].map { BlackoutSample(total: $0) }
        let runs = [4.71, 4.1, 6.76].map { Self.run(.pass, blackout: $0) }
        let criterion = BisectCriterion.blackout(threshold: 0.5)
        #expect(StepJudge.judge(runs, criterion: criterion, base: base).verdict == .skip)
        let judged = StepJudge.judge(runs, criterion: criterion, base: base, badEnd: badEnd)
        #expect(judged.verdict == .good)
        #expect(judged.againstBadEnd?.finding == .improved)
        #expect(judged.reason.contains("against the bad end"))
        // Halfway between the ends is neither.
        let halfway = [8.0, 8.2, 8.1].map { Self.run(.pass, blackout: $0) }
        #expect(StepJudge.judge(halfway, criterion: criterion, base: base, badEnd: badEnd).verdict != .good)
    }

    @Test func theEndsMustBracketTheChange() {
        let request = BisectRequest(scenario: "s", scenarioDigest: "d", mode: "tree", tree: "/t", configuration: nil, side: "to",
                                    fixedImage: nil, criterion: .verdict(failureClass: nil), repeats: 1)
        let a = BisectCandidate(hash: String(repeating: "a", count: 40), subject: "a", author: "x")
        let b = BisectCandidate(hash: String(repeating: "b", count: 40), subject: "b", author: "x")
        var record = BisectRecord(request: request, candidates: [a, b], startedAt: Date())
        func step(_ index: Int, _ verdict: StepVerdict) -> BisectStep {
            BisectStep(index: index, candidate: index == 0 ? a : b, role: index == 0 ? .goodEnd : .badEnd, verdict: verdict,
                       reason: "r", build: nil, results: nil, blackout: nil, samples: [], startedAt: Date(), seconds: 0)
        }
        record.steps = [step(0, .bad), step(1, .bad)]
        #expect(Bisector.checkEnds(record)?.contains("the good end aaaaaaaaaaaa (a) is not good") == true)
        record.steps = [step(0, .good), step(1, .skip)]
        #expect(Bisector.checkEnds(record)?.contains("the bad end") == true)
        record.steps = [step(0, .good), step(1, .bad)]
        #expect(Bisector.checkEnds(record) == nil)
        record.status = .found
        record.firstBad = b
        let log = record.gitBisectLog
        #expect(log.hasPrefix("git bisect start '--first-parent' '\(b.hash)' '\(a.hash)'\n"))
        #expect(log.contains("git bisect good \(a.hash)\n"))
        #expect(log.contains("# first bad commit: [\(b.hash)] b"))
    }
}

struct BisectOptionsTests {
    func treeOptions() -> BisectOptions {
        var options = BisectOptions()
        options.tree = "/src/linux"
        options.good = "v7.2"
        options.bad = "v7.3"
        options.from = "linux-7.2"
        return options
    }

    func refusal(_ options: BisectOptions) -> BisectInputError? {
        do { _ = try options.check(); return nil } catch { return error }
    }

    @Test func aTreeBisectionByVerdict() throws {
        let (mode, criterion) = try treeOptions().check()
        #expect(mode == .tree)
        #expect(criterion == .verdict(failureClass: nil))
    }

    @Test func eachProblemNamesItsOption() {
        var options = treeOptions()
        options.good = nil
        #expect(refusal(options)?.option == "--good")
        options = treeOptions()
        options.to = "linux-7.3"
        #expect(refusal(options)?.option == "--to")
        options = treeOptions()
        options.failureClass = "wrong"
        #expect(refusal(options)?.option == "--class")
        #expect(refusal(options)?.message.contains("state-mismatch") == true)
        options = treeOptions()
        options.blackout = true
        #expect(refusal(options)?.option == "--repeat")
        options.repeats = 3
        options.failureClass = "state-mismatch"
        #expect(refusal(options)?.option == "--class")
        options = treeOptions()
        options.threshold = 20
        #expect(refusal(options)?.option == "--threshold")
        options = treeOptions()
        options.recipes = ["linux-7.2", "linux-7.3"]
        #expect(refusal(options)?.option == "--tree")
        options = treeOptions()
        options.recipe = "linux-7.3"
        options.fragments = ["kvm"]
        #expect(refusal(options)?.option == "--recipe")
        options = treeOptions()
        options.repeats = 0
        #expect(refusal(options)?.option == "--repeat")
        #expect(refusal(BisectOptions())?.option == "--tree")
    }

    @Test func recipeMode() throws {
        var options = BisectOptions()
        options.recipes = ["linux-7.2", "linux-7.3"]
        options.to = "linux-7.3"
        #expect(try options.check().0 == .recipes)
        options.good = "x"
        #expect(refusal(options)?.option == "--good")
        options.good = nil
        options.recipes = ["linux-7.2"]
        #expect(refusal(options)?.option == "--recipes")
        options.recipes = ["linux-7.2", "linux-7.2"]
        #expect(refusal(options)?.option == "--recipes")
    }

    @Test func blackoutThresholdIsAFraction() throws {
        var options = treeOptions()
        options.blackout = true
        options.repeats = 3
        #expect(try options.check().1 == .blackout(threshold: 0.2))
        options.threshold = 50
        #expect(try options.check().1 == .blackout(threshold: 0.5))
        options.threshold = 0
        #expect(refusal(options)?.option == "--threshold")
    }

    @Test func theTreeRecipeDefaultsToTheLightConfiguration() throws {
        let catalog = RecipeCatalog(folder: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Images"))
        let recipe = try treeOptions().treeRecipe(tree: URL(fileURLWithPath: "/src/linux"), name: "linux", catalog: catalog)
        #expect(recipe.base == .tinyconfig)
        #expect(recipe.fragments.map(\.lastPathComponent) == ["tiny-guest.config", "luo.config"])
        #expect(recipe.source == .tree(path: URL(fileURLWithPath: "/src/linux")))
        var options = treeOptions()
        options.fragments = ["no-such-fragment"]
        #expect(throws: BisectInputError.self) { try options.treeRecipe(tree: URL(fileURLWithPath: "/src/linux"), name: "linux", catalog: catalog) }
        options = treeOptions()
        options.recipe = "linux-7.3"
        let fromRecipe = try options.treeRecipe(tree: URL(fileURLWithPath: "/src/linux"), name: "linux", catalog: catalog)
        #expect(fromRecipe.fragments.map(\.lastPathComponent).contains("iommu-kvm.config"))
        #expect(fromRecipe.source == .tree(path: URL(fileURLWithPath: "/src/linux")))
    }
}

/// A bisection killed while git moved its worktree leaves git's index.lock behind; the next
/// bisection of the same tree must not fail on it (seen in CI: "Unable to create
/// .../worktrees/src/index.lock: File exists" after the kill-and-resume test).
struct BisectWorkspaceLockTests {
    private func git(_ arguments: [String], in folder: URL) async throws -> String {
        try await Shell.check("git", ["-C", folder.path, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aStaleIndexLockInTheWorktreeIsRemovedWhenTheWorkspaceIsTaken() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("handover-bisect-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let tree = root.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        _ = try await git(["init", "--quiet"], in: tree)
        try "one\n".write(to: tree.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        _ = try await git(["add", "file"], in: tree)
        _ = try await git(["commit", "--quiet", "-m", "one"], in: tree)
        let first = try await git(["rev-parse", "HEAD"], in: tree)
        try "two\n".write(to: tree.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        _ = try await git(["commit", "--quiet", "-am", "two"], in: tree)

        let recipe = Recipe(name: "t", file: tree, source: .tree(path: tree), base: .tinyconfig, fragments: [], cmdline: [])
        let workspace = try BisectWorkspace(tree: tree, recipe: recipe, paths: CachePaths(root: root.appendingPathComponent("cache")))
        let progress = ProgressReporter(mode: .quiet, isTerminal: false)
        try await workspace.open(progress: progress).release()
        let gitDirectory = try await git(["rev-parse", "--absolute-git-dir"], in: workspace.source)
        let lock = URL(fileURLWithPath: gitDirectory).appendingPathComponent("index.lock")
        FileManager.default.createFile(atPath: lock.path, contents: nil)
        await #expect(throws: (any Error).self) { try await workspace.checkout(first, patches: [], recipeFile: tree) }

        let held = try await workspace.open(progress: progress)
        defer { held.release() }
        #expect(!FileManager.default.fileExists(atPath: lock.path))
        try await workspace.checkout(first, patches: [], recipeFile: tree)
        #expect(try String(contentsOf: workspace.source.appendingPathComponent("file"), encoding: .utf8) == "one\n")
    }
}
