import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages


extension EndToEnd {
/// `handover bisect` on a real kernel history made at test time from Debian's linux-source-7.3
/// (scripts/bisect-fixture.sh): the memfd branch breaks memfd restore at one commit (and does
/// not build at another), the slow branch adds an 8 s busy wait at boot. The shipped linux-7.3
/// image is the first kernel; the tree gives the second. The fixture and its build folder stay
/// in the cache, so a later run rebuilds only what it must.
@Suite("Bisect")
struct BisectTests {
    static let fixtureName = "bisect-linux-7.3"

    /// The fixture repository, made from the source tree the linux-7.3 recipe unpacks (the
    /// same download and unpacking as an image build; nothing is built here).
    static func fixture() async throws -> URL {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let paths = CachePaths.fromEnvironment()
        let builder = ImageBuilder(paths: paths, progress: ProgressReporter(mode: .quiet))
        let recipe = try RecipeCatalog(folder: E2E.packageRoot.appendingPathComponent("Images")).load("linux-7.3")
        let (_, source) = try await builder.key(for: recipe, refresh: false)
        let debian = try #require(source.debian)
        let tree = try await builder.unpackedTree(package: debian.package, version: debian.version, suite: debian.suite)
        let destination = paths.root.appendingPathComponent("fixtures").appendingPathComponent(fixtureName)
        let script = E2E.packageRoot.appendingPathComponent("scripts/bisect-fixture.sh").path
        let made = try await Shell.capture("bash", [script, tree.path, destination.path])
        guard made.succeeded else { throw E2E.PrerequisiteMissing(what: "the bisect fixture: \(made.stderr)") }
        return destination
    }

    static func git(_ arguments: [String], in tree: URL) async throws -> String {
        try await Shell.check("git", ["-C", tree.path] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func record(_ folder: URL) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("bisect.json").path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func steps(_ record: [String: Any]?) -> [[String: Any]] { record?["steps"] as? [[String: Any]] ?? [] }

    /// Among the steps that built something, every build after the first was incremental.
    static func expectIncremental(_ steps: [[String: Any]]) {
        let builds = steps.compactMap { $0["build"] as? [String: Any] }.filter { $0["cached"] as? Bool == false }
        for build in builds.dropFirst() {
            #expect(build["incremental"] as? Bool == true, "a step after the first build was not incremental: \(build)")
        }
    }

    /// Finds the commit that breaks memfd restore; the commit that does not build is skipped;
    /// killed after its first step, the same command continues without redoing it.
    @Test func findsTheCommitThatBreaksMemfdRestore() async throws {
        let tree = try await Self.fixture()
        let headBefore = try await Self.git(["rev-parse", "HEAD"], in: tree)
        let culprit = try await Self.git(["rev-parse", "fixture-memfd-bad~2"], in: tree)
        let broken = try await Self.git(["rev-parse", "fixture-memfd-bad~4"], in: tree)
        let out = E2E.temporaryFolder()
        let arguments = ["bisect", "memfd-basic", "--tree", tree.path, "--good", "fixture-base", "--bad", "fixture-memfd-bad",
                         "--from", "linux-7.3", "--accel", "tcg", "--out", out.path]

        let first = try E2E.start(arguments)
        let deadline = Date().addingTimeInterval(3600)
        while first.process.isRunning, Date() < deadline, Self.steps(Self.record(out)).count < 3 { usleep(500_000) }
        #expect(first.process.isRunning, "the bisection ended before its first step: \(first.stderrText)")
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.finish()
        let judgedBefore = Self.steps(Self.record(out))
        #expect(judgedBefore.count >= 3)

        let second = try E2E.run(arguments, timeout: 3600)
        #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
        #expect(second.stderr.contains("continuing the bisection"))
        #expect(second.stdout.contains("first bad commit: \(culprit)"))
        let record = try #require(Self.record(out))
        #expect((record["firstBad"] as? [String: Any])?["hash"] as? String == culprit)
        let steps = Self.steps(record)
        // Nothing judged before the kill was judged again.
        let indices = steps.compactMap { $0["index"] as? Int }
        #expect(Set(indices).count == indices.count)
        for (before, after) in zip(judgedBefore, steps) {
            #expect(before["index"] as? Int == after["index"] as? Int)
            #expect(before["reason"] as? String == after["reason"] as? String)
            #expect(before["seconds"] as? Double == after["seconds"] as? Double)
        }
        let skipped = try #require(steps.first { ($0["candidate"] as? [String: Any])?["hash"] as? String == broken })
        #expect(skipped["verdict"] as? String == "skip")
        #expect((skipped["reason"] as? String)?.contains("does not build") == true)
        let bad = try #require(steps.first { ($0["candidate"] as? [String: Any])?["hash"] as? String == culprit })
        #expect(bad["verdict"] as? String == "bad")
        Self.expectIncremental(steps)
        for step in steps where step["verdict"] as? String != "skip" {
            let folder = out.appendingPathComponent(try #require(step["results"] as? String))
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("result.json").path))
        }
        let log = try String(contentsOf: out.appendingPathComponent("bisect.log"), encoding: .utf8)
        #expect(log.hasPrefix("git bisect start '--first-parent'"))
        #expect(log.contains("git bisect skip \(broken)"))
        #expect(log.contains("# first bad commit: [\(culprit)]"))
        // The user's checkout did not move and has nothing new in it.
        #expect(try await Self.git(["rev-parse", "HEAD"], in: tree) == headBefore)
        #expect(try await Self.git(["status", "--porcelain"], in: tree) == "")
    }

    /// Finds the commit whose busy wait at boot lengthens the blackout. The threshold sits
    /// between what three TCG repeats on a shared host vary (a harmless step measured +17%,
    /// interval up to +21%) and the busy wait's growth (+200% and more).
    @Test func findsTheCommitThatSlowsTheBlackout() async throws {
        let tree = try await Self.fixture()
        let culprit = try await Self.git(["rev-parse", "fixture-slow-bad~2"], in: tree)
        let out = E2E.temporaryFolder()
        let result = try E2E.run(["bisect", "memfd-basic", "--tree", tree.path, "--good", "fixture-base", "--bad", "fixture-slow-bad",
                                  "--from", "linux-7.3", "--blackout", "--repeat", "3", "--threshold", "50", "--allow-contention",
                                  "--accel", "tcg", "--out", out.path], timeout: 3600)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("first bad commit: \(culprit)"))
        let steps = Self.steps(Self.record(out))
        let bad = try #require(steps.first { ($0["candidate"] as? [String: Any])?["hash"] as? String == culprit })
        #expect(bad["verdict"] as? String == "bad")
        #expect((bad["blackout"] as? [String: Any])?["finding"] as? String == "regressed")
        #expect((bad["reason"] as? String)?.contains("Mann–Whitney p") == true)
        Self.expectIncremental(steps)
    }

    /// Recipe mode names the first recipe the fixed kernel cannot hand over to (linux-7.3-luo-v6
    /// reads another LUO format); shipped images only, nothing is built.
    @Test func namesTheFirstBadRecipe() throws {
        try E2E.requirePrerequisites(images: ["linux-7.2", "linux-7.3", "linux-7.3-luo-v6"])
        let out = E2E.temporaryFolder()
        let result = try E2E.run(["bisect", "memfd-basic", "--recipes", "linux-7.2,linux-7.3,linux-7.3-luo-v6", "--from", "linux-7.3",
                                  "--accel", "tcg", "--out", out.path], timeout: 1800)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("first bad recipe: linux-7.3-luo-v6"))
        let steps = Self.steps(Self.record(out))
        #expect(steps.map { $0["verdict"] as? String } == ["good", "bad", "good"])
        #expect(steps.allSatisfy { ($0["build"] as? [String: Any])?["cached"] as? Bool == true })
    }

    /// Bad options are refused before anything builds, naming the option.
    @Test func refusesBadOptions() async throws {
        let tree = try await Self.fixture()
        let cases: [([String], String)] = [
            (["--tree", "/", "--good", "a", "--bad", "b", "--from", "linux-7.3"], "--tree:"),
            (["--tree", tree.path, "--good", "no-such-rev", "--bad", "fixture-memfd-bad", "--from", "linux-7.3"], "--good:"),
            (["--tree", tree.path, "--good", "fixture-memfd-bad", "--bad", "fixture-base", "--from", "linux-7.3"], "--good:"),
            (["--tree", tree.path, "--good", "fixture-base", "--bad", "fixture-memfd-bad", "--from", "no-such-image"], "--from:"),
            (["--tree", tree.path, "--good", "fixture-base", "--bad", "fixture-memfd-bad", "--blackout"], "--repeat:"),
        ]
        for (options, expected) in cases {
            let result = try E2E.run(["bisect", "memfd-basic"] + options + ["--out", E2E.temporaryFolder().path])
            #expect(result.status == 2, "\(options): \(result.stderr)")
            #expect(result.stderr.contains(expected), "\(options): \(result.stderr)")
        }
    }
}
}
