import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverResults
@testable import HandoverReports
@testable import HandoverMatrix


// MARK: - KernelCI's validator

/// scripts/kcidb-validate.py run with the project's virtual environment (.venv, made by
/// scripts/setup.sh), which holds KernelCI's kcidb-io.
enum KCIDBValidator {
    static let packageRoot: URL = {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while folder.path != "/" && !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            folder.deleteLastPathComponent()
        }
        return folder
    }()

    static var python: URL { packageRoot.appendingPathComponent(".venv/bin/python") }
    static var script: URL { packageRoot.appendingPathComponent("scripts/kcidb-validate.py") }

    /// Runs wherever the environment exists; with HANDOVER_E2E=1 (CI) a missing one fails.
    static var enabled: Bool {
        FileManager.default.isExecutableFile(atPath: python.path) || ProcessInfo.processInfo.environment["HANDOVER_E2E"] == "1"
    }

    static func validate(_ file: URL) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw HarnessError(.notFound, "\(python.path) is missing: run scripts/setup.sh")
        }
        let process = Process()
        process.executableURL = python
        process.arguments = [script.path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

// MARK: - A results folder covering every kind of KCIDB object

private func decode<T: Decodable>(_ type: T.Type, _ object: [String: Any]) throws -> T {
    let data = try JSONSerialization.data(withJSONObject: object)
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: data)
}

private var capabilities: [String: Any] { [
    "kexecFile": true, "relocatable": true, "kexecHandover": true, "liveUpdate": true, "memfdPreservation": true,
    "khoEnabledByDefault": false,
] }

private func image(_ recipe: String, release: String, key: String, source: [String: Any], patches: [[String: Any]]? = nil) -> [String: Any] {
    var object: [String: Any] = [
        "recipe": recipe, "recipeFile": "/src/Images/\(recipe).yaml", "key": key, "kernelRelease": release,
        "source": source, "baseConfig": "tinyconfig", "fragments": ["tiny-guest.config", "luo.config"],
        "compiler": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0", "capabilities": capabilities,
        "abi": ["byMacro": ["KHO_FDT_COMPATIBLE": "kho-v1", "LUO_ABI_COMPATIBLE": "luo-v5"]], "kexecLoadable": true, "cmdline": [],
        "builtAt": "2026-05-01T09:00:00Z", "buildSeconds": 241.5, "makeSeconds": 230.25, "compiledUnits": 812,
        "architecture": "x86_64", "configSHA256": String(repeating: "ab", count: 32),
    ]
    if let patches { object["patches"] = patches }
    return object
}

private var debian73: [String: Any] { ["kind": "debian", "package": "linux-source-7.3", "packageVersion": "7.3.2-1~bpo13+1", "suite": "trixie-backports"] }
private var patchRecords: [[String: Any]] { [
    ["file": "/src/Images/patches/luo-abi-v6.patch", "sha256": String(repeating: "1", count: 64), "output": "patching file"],
    ["file": "/src/Images/patches/boot-banner.patch", "sha256": String(repeating: "2", count: 64), "output": "patching file"],
] }

private func imageRef(_ recipe: String, _ release: String, _ key: String) -> [String: Any] {
    ["recipe": recipe, "kernelRelease": release, "version": "v", "key": key, "liveUpdate": true]
}

private var prediction: [String: Any] { ["from": "a", "to": "b", "outcome": "compatible", "reasons": [], "shared": [], "differences": []] }

private func result(_ scenario: String, from: [String: Any], to: [String: Any], via: [[String: Any]] = [], verdict: Verdict,
                    blackout: [String: Any]? = nil, hops: [[String: Any]] = [], selftests: [[String: Any]] = []) -> [String: Any] {
    var object: [String: Any] = [
        "schema": 1, "handoverVersion": "test", "scenario": scenario, "scenarioFile": "Scenarios/\(scenario).yaml",
        "scenarioDigest": "d", "from": from, "to": to, "via": via, "accelerator": "tcg", "acceleratorReason": "asked",
        "backend": "qemu", "verdict": verdict.rawValue, "reason": "r", "prediction": prediction,
        "startedAt": "2026-05-01T10:00:00Z", "wallSeconds": 12.5, "hops": hops, "selftests": selftests,
        "hellos": [], "steps": [], "objects": [], "checks": [], "consoleTail": [],
    ]
    if let blackout { object["blackout"] = blackout }
    return object
}

private func record(_ scenario: String, _ chain: [String], _ verdict: Verdict, _ failureClass: FailureClass? = nil,
                    blackout: Double? = nil, hopBlackouts: [Double?]? = nil) -> MatrixRunRecord {
    let folder = "runs/\(scenario)/\(chain.joined(separator: "--"))/rep-1"
    return MatrixRunRecord(
        id: "\(scenario)/\(chain.joined(separator: "--"))/rep-1", scenario: scenario, chain: chain, repeatIndex: 1,
        verdict: verdict, failureClass: failureClass, reason: "reason with a NUL\u{0} and \u{1b}[31mcolour\u{1b}[0m",
        evidence: verdict == .fail ? "[    1.2] luo: incompatible ABI" : nil, blackout: blackout,
        hopBlackouts: hopBlackouts ?? chain.dropFirst().map { _ in blackout }, wallSeconds: 12.5,
        resultPath: "\(folder)/result.json", consolePath: "\(folder)/console.log", consoleTail: ["last line \u{0}"])
}

private func cell(_ scenario: String, _ chain: [String], _ releases: [String], _ direction: Direction, kind: String = "memfd",
                  _ runs: [MatrixRunRecord], regressions: [Regression] = []) -> MatrixCell {
    let worst = runs.max { $0.verdict < $1.verdict }!
    return MatrixCell(
        scenario: scenario, kind: kind, chain: chain, releases: releases, direction: direction, verdict: worst.verdict,
        failureClass: worst.failureClass, reason: worst.reason, evidence: worst.evidence, runs: runs,
        blackout: Statistics(runs.compactMap(\.blackout)), prediction: nil, regressions: regressions, unsupportedAllowed: true)
}

/// A results folder with recorded images (Debian with and without patches, a git tree with an
/// https remote, a prebuilt), results with blackout phases, a chain, a selftest scenario, every
/// verdict and a planned run without a result.
private func sampleFolder(recordImages: Bool = true, writeResults: Bool = true) throws -> (URL, MatrixSummary) {
    let fm = FileManager.default
    let folder = fm.temporaryDirectory.appendingPathComponent("kcidb tests \(UUID().uuidString)")
    try fm.createDirectory(at: folder, withIntermediateDirectories: true)
    let ref72 = imageRef("linux-7.2", "7.2.0", "k72"), ref73 = imageRef("linux-7.3", "7.3.2", "k73")
    let refv6 = imageRef("linux-7.3-luo-v6", "7.3.2", "kv6"), refGit = imageRef("my-tree", "7.4.0-rc1", "kgit")

    if recordImages {
        let images = [
            image("linux-7.2", release: "7.2.0", key: "k72", source: ["kind": "debian", "package": "linux-source-7.2", "packageVersion": "7.2.1-1", "suite": "sid"]),
            image("linux-7.3", release: "7.3.2", key: "k73", source: debian73),
            image("linux-7.3-luo-v6", release: "7.3.2", key: "kv6", source: debian73, patches: patchRecords),
            image("my-tree", release: "7.4.0-rc1", key: "kgit", source: [
                "kind": "tree", "tree": "/home/dev/src/linux next", "commit": String(repeating: "c", count: 40), "dirty": false,
                "remote": "https://git.kernel.org/pub/scm/linux/kernel/git/next/linux-next.git", "branch": "master",
            ]),
            image("linux-7.3-again", release: "7.3.2", key: "k73b", source: debian73),
        ]
        for object in images {
            let decoded = try decode(KernelImage.self, object)
            try AtomicFile.writeJSON(decoded, to: folder.appendingPathComponent("images/\(decoded.recipe).json"))
            try AtomicFile.write("CONFIG_LIVEUPDATE=y\n", to: folder.appendingPathComponent("images/\(decoded.recipe).config"))
        }
        try AtomicFile.write("make output\n", to: folder.appendingPathComponent("images/linux-7.3.build.log"))
        for name in ["01-luo-abi-v6.patch", "02-boot-banner.patch"] {
            try AtomicFile.write("--- a\n+++ b\n", to: folder.appendingPathComponent("images/linux-7.3-luo-v6.patches/\(name)"))
        }
    }

    let phases: [String: Any] = ["total": 0.412, "shutdown": 0.101, "kernelBoot": 0.2, "agentStart": 0.05, "restore": 0.04, "unaccounted": 0.021]
    let up = record("memfd-basic", ["linux-7.2", "linux-7.3"], .pass, blackout: 0.412)
    let down = record("memfd-basic", ["linux-7.3", "linux-7.2"], .fail, .stateMismatch, blackout: 0.5)
    let abi = record("memfd-basic", ["linux-7.3", "linux-7.3-luo-v6"], .fail, .abiIncompatible, blackout: 0.6)
    let git = record("memfd-basic", ["linux-7.3", "my-tree"], .error, .infrastructure)
    let unsupported = record("iommufd-basic", ["linux-7.2", "linux-7.3"], .unsupported)
    let chain = record("memfd-basic", ["linux-7.2", "linux-7.3", "linux-7.2"], .pass, blackout: 0.4, hopBlackouts: [0.4, 0.45])
    let selftest = record("upstream-selftests", ["linux-7.2", "linux-7.3"], .fail, .stateMismatch)
    if writeResults {
        let results: [(MatrixRunRecord, [String: Any])] = [
            (up, result("memfd-basic", from: ref72, to: ref73, verdict: .pass, blackout: phases,
                        hops: [["from": "linux-7.2", "to": "linux-7.3", "toRelease": "7.3.2", "blackout": phases, "objectsIntact": 2, "objectsTotal": 2, "checks": []]])),
            (down, result("memfd-basic", from: ref73, to: ref72, verdict: .fail, blackout: ["total": 0.5])),
            (abi, result("memfd-basic", from: ref73, to: refv6, verdict: .fail, blackout: ["total": 0.6])),
            (git, result("memfd-basic", from: ref73, to: refGit, verdict: .error)),
            (unsupported, result("iommufd-basic", from: ref72, to: ref73, verdict: .unsupported)),
            (chain, result("memfd-basic", from: ref72, to: ref72, via: [ref73], verdict: .pass, blackout: ["total": 0.4], hops: [
                ["from": "linux-7.2", "to": "linux-7.3", "toRelease": "7.3.2", "blackout": ["total": 0.4, "shutdown": 0.1], "objectsIntact": 2, "objectsTotal": 2, "checks": []],
                ["from": "linux-7.3", "to": "linux-7.2", "toRelease": "7.2.0", "blackout": ["total": 0.45], "objectsIntact": 2, "objectsTotal": 2, "checks": []],
            ])),
            (selftest, result("upstream-selftests", from: ref72, to: ref73, verdict: .fail, selftests: [
                ["test": "luo_kexec_simple", "kind": "two-stage", "kernels": ["linux-7.2", "linux-7.3"], "status": "pass", "message": "ok",
                 "stages": [], "subtests": [["name": "stage 1", "status": "pass"]], "blackout": 0.3],
                ["test": "luo_multi.session", "kind": "two-stage", "kernels": ["linux-7.2", "linux-7.3"], "status": "fail", "message": "session lost",
                 "failureClass": "state-mismatch", "evidence": "not ok 1 session", "stages": [], "subtests": []],
                ["test": "liveupdate", "kind": "ioctl-suite", "kernels": ["linux-7.3"], "status": "skip", "message": "no ioctl", "stages": [], "subtests": []],
            ])),
        ]
        for (record, object) in results {
            let decoded = try decode(RunResult.self, object)
            try AtomicFile.writeJSON(decoded, to: folder.appendingPathComponent(record.resultPath))
            try AtomicFile.write("console\n", to: folder.appendingPathComponent(record.consolePath!))
            try AtomicFile.write("transcript\n", to: folder.appendingPathComponent(record.resultPath).deletingLastPathComponent().appendingPathComponent("transcript.jsonl"))
        }
    }

    let regression = Regression(kind: .blackout, message: "blackout median 412 ms is 60% above the baseline 257 ms",
                                baselineMatrix: "nightly-41", baselineValue: "257 ms", newValue: "412 ms")
    let cells = [
        cell("memfd-basic", ["linux-7.2", "linux-7.3"], ["7.2.0", "7.3.2"], .upgrade, [up], regressions: [regression]),
        cell("memfd-basic", ["linux-7.3", "linux-7.2"], ["7.3.2", "7.2.0"], .rollback, [down]),
        cell("memfd-basic", ["linux-7.3", "linux-7.3-luo-v6"], ["7.3.2", "7.3.2"], .same, [abi]),
        cell("memfd-basic", ["linux-7.3", "my-tree"], ["7.3.2", "7.4.0-rc1"], .upgrade, [git]),
        cell("iommufd-basic", ["linux-7.2", "linux-7.3"], ["7.2.0", "7.3.2"], .upgrade, [unsupported]),
        cell("memfd-basic", ["linux-7.2", "linux-7.3", "linux-7.2"], ["7.2.0", "7.3.2", "7.2.0"], .chain, [chain]),
        cell("upstream-selftests", ["linux-7.2", "linux-7.3"], ["7.2.0", "7.3.2"], .upgrade, kind: "selftest", [selftest]),
    ]
    // A plan with one more run than has results: the matrix was interrupted.
    let plan: [String: Any] = [
        "name": "nightly", "matrixFile": "Matrices/nightly.yaml", "createdAt": "2026-05-01T09:59:00Z", "regressionThreshold": 0.1,
        "allowUnsupported": true,
        "cells": [["scenario": "memfd-many", "kind": "memfd", "scenarioFile": "Scenarios/memfd-many.yaml", "chain": ["linux-7.2", "linux-7.3"],
                   "releases": ["7.2.0", "7.3.2"], "direction": "upgrade", "prediction": prediction]],
        "runs": [["id": "memfd-many/linux-7.2--linux-7.3/rep-1", "cell": 0, "repeatIndex": 1, "folder": "runs/memfd-many/linux-7.2--linux-7.3/rep-1"]],
    ]
    try AtomicFile.writeJSON(try decode(MatrixPlan.self, plan), to: folder.appendingPathComponent("plan.json"))
    let summary = MatrixSummary(
        name: "nightly", matrixFile: "Matrices/nightly.yaml", startedAt: Date(timeIntervalSince1970: 1_777_629_600),
        finishedAt: Date(timeIntervalSince1970: 1_777_631_400), accelerator: "tcg", host: "lab-host-1", handoverVersion: "test",
        regressionThreshold: 0.1, baseline: "nightly-41", cells: cells, missingRuns: ["memfd-many/linux-7.2--linux-7.3/rep-1"])
    return (folder, summary)
}

private func json(_ file: URL) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
}

private func objects(_ data: [String: Any], _ kind: String) -> [[String: Any]] { data[kind] as? [[String: Any]] ?? [] }

// MARK: - Tests

@Suite struct KCIDBTests {
    @Test func statusesAreKCIDBs() {
        #expect(KCIDBReport.status(Verdict.pass) == "PASS")
        #expect(KCIDBReport.status(Verdict.fail) == "FAIL")
        #expect(KCIDBReport.status(Verdict.error) == "ERROR")
        #expect(KCIDBReport.status(Verdict.unsupported) == "SKIP")
    }

    @Test func pathsKeepOneLevelPerName() {
        #expect(KCIDBReport.path(scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"]) == "handover.memfd-basic.linux-7_2")
        #expect(KCIDBReport.path(scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3", "linux-7.2"]) == "handover.memfd-basic.linux-7_2--linux-7_3")
        #expect(KCIDBReport.pathSegment("a b/c.d") == "a_b_c_d")
        #expect(KCIDBReport.pathSegment("") == "_")
    }

    @Test func remotesAreRecordedWithoutCredentials() {
        #expect(ResolvedSource.withoutCredentials("https://me:ghp_secret@github.com/me/linux.git") == "https://github.com/me/linux.git")
        #expect(ResolvedSource.withoutCredentials("https://oauth2@gitlab.example.org/k/linux.git") == "https://gitlab.example.org/k/linux.git")
        #expect(ResolvedSource.withoutCredentials("https://git.kernel.org/pub/scm/linux.git") == "https://git.kernel.org/pub/scm/linux.git")
        #expect(ResolvedSource.withoutCredentials("git@github.com:me/linux.git") == "git@github.com:me/linux.git")
    }

    /// A real git tree: the branch, and the URL of the remote it tracks rather than origin's.
    @Test func remoteOfAGitTree() async throws {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("remote-tree-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tree) }
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        for arguments in [["init", "-q", "-b", "next"], ["remote", "add", "origin", "https://example.org/origin/linux.git"],
                          ["remote", "add", "upstream", "https://tok@example.org/next/linux-next.git"],
                          ["config", "branch.next.remote", "upstream"]] {
            _ = try await Shell.check("git", ["-C", tree.path] + arguments)
        }
        let (remote, branch) = await ResolvedSource.remote(of: tree)
        #expect(branch == "next")
        #expect(remote == "https://example.org/next/linux-next.git")
        #expect(KCIDBReport.Builder.treeName(remote: remote, tree: tree.path) == "linux-next")
        let none = await ResolvedSource.remote(of: FileManager.default.temporaryDirectory)
        #expect(none.remote == nil)
    }

    @Test func originsFollowKCIDBsPattern() {
        #expect(KCIDBOptions.isValidOrigin("handover"))
        #expect(KCIDBOptions.isValidOrigin("lab_2"))
        #expect(!KCIDBOptions.isValidOrigin("Lab"))
        #expect(!KCIDBOptions.isValidOrigin("lab-2"))
        #expect(!KCIDBOptions.isValidOrigin(""))
        #expect(KCIDBOptions.isAbsoluteURL("https://ci.example.org/a/"))
        #expect(!KCIDBOptions.isAbsoluteURL("artifacts/a"))
    }

    @Test func mapsCheckoutsBuildsAndTests() throws {
        let (folder, summary) = try sampleFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("kcidb.json")
        try KCIDBReport.write(summary, folder: folder, options: KCIDBOptions(), to: file)
        let data = try json(file)
        #expect((data["version"] as? [String: Int]) == ["major": 5, "minor": 3])

        // Checkouts: one per source; the patched 7.3 is a checkout of its own.
        let checkouts = objects(data, "checkouts")
        #expect(checkouts.count == 4)
        let debian73 = try #require(checkouts.first { $0["id"] as? String == "handover:checkout:debian:linux-source-7.3=7.3.2-1~bpo13+1" })
        #expect(debian73["tree_name"] as? String == "debian")
        #expect(debian73["patchset_hash"] as? String == "")
        #expect(((debian73["misc"] as? [String: Any])?["recipes"] as? [String]) == ["linux-7.3", "linux-7.3-again"])
        let patched = try #require(checkouts.first { ($0["id"] as? String)?.contains("+patches:") == true })
        let expectedHash = Digest.sha256(Data((String(repeating: "1", count: 64) + "\n" + String(repeating: "2", count: 64) + "\n").utf8))
        #expect(patched["patchset_hash"] as? String == expectedHash)
        #expect((patched["patchset_files"] as? [[String: String]])?.map { $0["name"]! } == ["01-luo-abi-v6.patch", "02-boot-banner.patch"])
        let git = try #require(checkouts.first { $0["git_commit_hash"] != nil })
        #expect(git["git_repository_url"] as? String == "https://git.kernel.org/pub/scm/linux/kernel/git/next/linux-next.git")
        #expect(git["tree_name"] as? String == "linux-next")
        #expect(git["git_repository_branch"] as? String == "master")

        // Builds: one per image, with what was recorded at build time.
        let builds = objects(data, "builds")
        #expect(builds.count == 5)
        let build73 = try #require(builds.first { $0["id"] as? String == "handover:build:linux-7.3:k73" })
        #expect(build73["checkout_id"] as? String == debian73["id"] as? String)
        #expect(build73["architecture"] as? String == "x86_64")
        #expect(build73["config_name"] as? String == "tinyconfig+tiny-guest+luo")
        #expect(build73["duration"] as? Double == 241.5)
        #expect(build73["status"] as? String == "PASS")
        #expect((build73["misc"] as? [String: Any])?["config_sha256"] as? String == String(repeating: "ab", count: 32))
        #expect((build73["config_url"] as? String)?.hasPrefix("file:///") == true)
        #expect((build73["config_url"] as? String)?.contains("kcidb%20tests%20") == true)
        #expect((build73["log_url"] as? String)?.hasSuffix("/images/linux-7.3.build.log") == true)

        // Tests: on the build updated to, every verdict mapped, MISS for the run without result.
        let tests = objects(data, "tests")
        func main(_ path: String) -> [[String: Any]] { tests.filter { $0["path"] as? String == path } }
        let upgrade = try #require(main("handover.memfd-basic.linux-7_2").first { ($0["misc"] as? [String: Any])?["to"] as? String == "linux-7.3" })
        #expect(upgrade["build_id"] as? String == "handover:build:linux-7.3:k73")
        #expect(upgrade["status"] as? String == "PASS")
        #expect((upgrade["log_url"] as? String)?.hasSuffix("/console.log") == true)
        #expect((upgrade["output_files"] as? [[String: String]])?.map { $0["name"]! } == ["result.json", "transcript.jsonl"])
        #expect(((upgrade["misc"] as? [String: Any])?["regressions"] as? [Any])?.count == 1)
        #expect((upgrade["id"] as? String)?.hasPrefix("handover:lab-host-1:") == true)
        #expect(main("handover.memfd-basic.linux-7_3").compactMap { $0["status"] as? String }.sorted() == ["ERROR", "FAIL", "FAIL"])
        #expect(main("handover.iommufd-basic.linux-7_2").first?["status"] as? String == "SKIP")
        #expect(main("handover.memfd-many.linux-7_2").first?["status"] as? String == "MISS")
        let failed = try #require(main("handover.memfd-basic.linux-7_3").first { $0["status"] as? String == "FAIL" && ($0["misc"] as? [String: Any])?["failure_class"] as? String == "abi-incompatible" })
        #expect(failed["build_id"] as? String == "handover:build:linux-7.3-luo-v6:kv6")
        #expect((failed["log_excerpt"] as? String)?.contains("incompatible ABI") == true)
        #expect((failed["comment"] as? String)?.contains("\u{0}") == false)

        // The blackout and its phases, as DONE tests with numbers in seconds.
        let blackout = try #require(main("handover.memfd-basic.linux-7_2.blackout").first)
        #expect(blackout["status"] as? String == "DONE")
        #expect((blackout["number"] as? [String: Any])?["value"] as? Double == 0.412)
        #expect((blackout["number"] as? [String: Any])?["unit"] as? String == "s")
        for phase in ["shutdown", "kernel_boot", "agent_start", "restore", "unaccounted"] {
            #expect(main("handover.memfd-basic.linux-7_2.blackout.\(phase)").first?["status"] as? String == "DONE", "\(phase)")
        }
        #expect((main("handover.memfd-basic.linux-7_2.blackout.kernel_boot").first?["number"] as? [String: Any])?["value"] as? Double == 0.2)
        // A chain reports each hop; its tests are on the last kernel's build.
        let hop2 = try #require(main("handover.memfd-basic.linux-7_2--linux-7_3.hop2.blackout").first)
        #expect((hop2["number"] as? [String: Any])?["value"] as? Double == 0.45)
        #expect(hop2["build_id"] as? String == "handover:build:linux-7.2:k72")
        #expect(main("handover.memfd-basic.linux-7_2--linux-7_3.hop1.blackout.shutdown").count == 1)

        // The kernel's selftests, one test each.
        #expect(main("handover.upstream-selftests.linux-7_2.luo_kexec_simple").first?["status"] as? String == "PASS")
        #expect(main("handover.upstream-selftests.linux-7_2.luo_multi_session").first?["status"] as? String == "FAIL")
        #expect(main("handover.upstream-selftests.linux-7_2.liveupdate").first?["status"] as? String == "SKIP")

        // Every id is unique and carries the origin.
        for kind in ["checkouts", "builds", "tests"] {
            let ids = objects(data, kind).compactMap { $0["id"] as? String }
            #expect(Set(ids).count == ids.count, "\(kind) ids repeat")
            #expect(ids.allSatisfy { $0.hasPrefix("handover:") })
        }
    }

    @Test func originAndArtifactsURLAreTheCallers() throws {
        let (folder, summary) = try sampleFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = KCIDBReport.make(summary, folder: folder, options: KCIDBOptions(origin: "lab_2", artifactsURL: "https://ci.example.org/jobs/7/artifacts/raw/results"))
        #expect(data.checkouts.allSatisfy { $0.origin == "lab_2" && $0.id.hasPrefix("lab_2:") })
        #expect(data.tests.allSatisfy { $0.origin == "lab_2" && $0.id.hasPrefix("lab_2:") && $0.build_id.hasPrefix("lab_2:") })
        let log = try #require(data.tests.first { $0.log_url != nil }?.log_url)
        #expect(log.hasPrefix("https://ci.example.org/jobs/7/artifacts/raw/results/runs/"))
    }

    @Test(.enabled(if: KCIDBValidator.enabled)) func kcidbIoAcceptsTheReport() throws {
        let (folder, summary) = try sampleFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for options in [KCIDBOptions(), KCIDBOptions(origin: "lab_2", artifactsURL: "https://ci.example.org/jobs/7/artifacts/raw/results/")] {
            let file = folder.appendingPathComponent("kcidb.json")
            try KCIDBReport.write(summary, folder: folder, options: options, to: file)
            let (status, output) = try KCIDBValidator.validate(file)
            #expect(status == 0, "kcidb-io rejects the report: \(output)")
        }
    }

    @Test(.enabled(if: KCIDBValidator.enabled)) func kcidbIoAcceptsASummaryWithoutRecordedImagesOrResults() throws {
        let (folder, summary) = try sampleFolder(recordImages: false, writeResults: false)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("kcidb.json")
        try KCIDBReport.write(summary, folder: folder, options: KCIDBOptions(), to: file)
        let data = try json(file)
        #expect(objects(data, "builds").count == 4)
        #expect(objects(data, "tests").contains { $0["status"] as? String == "MISS" })
        let (status, output) = try KCIDBValidator.validate(file)
        #expect(status == 0, "kcidb-io rejects the report: \(output)")
        // An empty matrix is valid too.
        var empty = summary
        empty.cells = []
        empty.missingRuns = []
        let emptyFolder = folder.appendingPathComponent("empty")
        try KCIDBReport.write(empty, folder: emptyFolder, options: KCIDBOptions(), to: file)
        #expect(try KCIDBValidator.validate(file).status == 0)
    }

    /// The validator is no rubber stamp: each of these mutations of a valid report fails it.
    @Test(.enabled(if: KCIDBValidator.enabled), arguments: [
        "a test without its origin", "a test with an unknown status", "a build whose id has no origin", "a number without a value",
        "a relative log URL", "a path with a space", "an unknown field", "a newer schema version", "a test on a build not in the file",
    ])
    func kcidbIoRejectsMutatedReports(_ mutation: String) throws {
        let (folder, summary) = try sampleFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("kcidb.json")
        try KCIDBReport.write(summary, folder: folder, options: KCIDBOptions(), to: file)
        #expect(try KCIDBValidator.validate(file).status == 0)
        var data = try json(file)
        var tests = objects(data, "tests")
        var builds = objects(data, "builds")
        switch mutation {
        case "a test without its origin": tests[0].removeValue(forKey: "origin")
        case "a test with an unknown status": tests[0]["status"] = "UNSUPPORTED"
        case "a build whose id has no origin": builds[0]["id"] = "build-1"
        case "a number without a value":
            let index = try #require(tests.firstIndex { $0["number"] != nil })
            tests[index]["number"] = ["unit": "s"]
        case "a relative log URL": tests[0]["log_url"] = "runs/x/console.log"
        case "a path with a space": tests[0]["path"] = "handover.memfd basic"
        case "an unknown field": tests[0]["blackout"] = 0.4
        case "a newer schema version": data["version"] = ["major": 5, "minor": 99]
        default: tests[0]["build_id"] = "handover:build:nowhere"
        }
        data["tests"] = tests
        data["builds"] = builds
        try JSONSerialization.data(withJSONObject: data).write(to: file)
        let (status, output) = try KCIDBValidator.validate(file)
        #expect(status == 1, "kcidb-validate accepted \(mutation): \(output)")
    }

    @Test func matrixReportsWriteKCIDBOnlyWhenAsked() throws {
        let (folder, summary) = try sampleFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try MatrixReports.writeAll(summary, to: folder)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("kcidb.json").path))
        #expect(MatrixReports.files(kcidb: nil) == MatrixReports.files)
        try MatrixReports.writeAll(summary, to: folder, kcidb: KCIDBOptions(origin: "lab_2"))
        let data = try json(folder.appendingPathComponent("kcidb.json"))
        #expect(objects(data, "tests").allSatisfy { ($0["id"] as? String)?.hasPrefix("lab_2:") == true })
        #expect(MatrixReports.files(kcidb: KCIDBOptions()).last == "kcidb.json")
        // Written atomically: nothing but the reports is left beside them.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// The images a matrix ran go into its results folder, with what was recorded at build
    /// time, and what an older image.json lacks filled from the very files.
    @Test func recordedImagesKeepConfigLogAndMatchingPatches() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("recorded-images-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache/k73")
        try AtomicFile.write("CONFIG_LIVEUPDATE=y\n", to: cache.appendingPathComponent("config"))
        try AtomicFile.write("  CC init/main.o\n", to: cache.appendingPathComponent("build.log"))
        let good = root.appendingPathComponent("good.patch"), changed = root.appendingPathComponent("changed.patch")
        try AtomicFile.write("--- a\n+++ b\n", to: good)
        try AtomicFile.write("edited since the build\n", to: changed)
        var object = image("linux-7.3-luo-v6", release: "7.3.2", key: "k73", source: debian73, patches: [
            ["file": good.path, "sha256": Digest.sha256(Data("--- a\n+++ b\n".utf8)), "output": ""],
            ["file": changed.path, "sha256": String(repeating: "0", count: 64), "output": ""],
        ])
        object.removeValue(forKey: "configSHA256")
        object.removeValue(forKey: "architecture")
        var kernel = try decode(KernelImage.self, object)
        kernel.folder = cache
        let results = root.appendingPathComponent("results")
        try RecordedImages.write([kernel], to: results)

        let recorded = try #require(RecordedImages.load(from: results)["linux-7.3-luo-v6"])
        #expect(recorded.configSHA256 == Digest.sha256(Data("CONFIG_LIVEUPDATE=y\n".utf8)))
        #expect(recorded.architecture == "x86_64")
        #expect(RecordedImages.config(of: "linux-7.3-luo-v6", in: results) == "images/linux-7.3-luo-v6.config")
        #expect(RecordedImages.buildLog(of: "linux-7.3-luo-v6", in: results) == "images/linux-7.3-luo-v6.build.log")
        // Only the patch that still matches its recorded digest is copied.
        #expect(RecordedImages.patches(of: "linux-7.3-luo-v6", in: results) == ["images/linux-7.3-luo-v6.patches/01-good.patch"])
        // And then the checkout lists no patch files (it cannot link all of them), but keeps the hash.
        let summary = MatrixSummary(
            name: "m", matrixFile: "m.yaml", startedAt: Date(), finishedAt: Date(), accelerator: "tcg", host: "h",
            handoverVersion: "test", regressionThreshold: 0.1, baseline: nil, cells: [], missingRuns: [])
        let data = KCIDBReport.make(summary, folder: results, options: KCIDBOptions())
        let checkout = try #require(data.checkouts.first)
        #expect(checkout.patchset_files == nil)
        #expect(checkout.patchset_hash?.count == 64)
        #expect(data.builds.first?.config_url?.hasSuffix("/images/linux-7.3-luo-v6.config") == true)
    }
}
