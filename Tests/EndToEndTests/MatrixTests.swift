import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverResults
@testable import HandoverReports
@testable import HandoverHistory

extension EndToEnd {
@Suite("Matrix runs and reports")
struct MatrixTests {
    func writeMatrix(_ text: String, in folder: URL) throws -> URL {
        let file = folder.appendingPathComponent("matrix.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func runTool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("all ordered pairs of 7.2 and 7.3 plus a chain, two scenarios, --jobs 2, every report format")
    func fullMatrix() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = try writeMatrix("""
            name: e2e
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic, memfd-properties]
            pairs: all
            chains:
              - [linux-7.2, linux-7.3, linux-7.2]
            repeats: 1
            timeout: 300
            accel: tcg
            """, in: folder)
        let out = folder.appendingPathComponent("results")
        let output = try E2E.run(["matrix", matrix.path, "--jobs", "2", "--out", out.path, "--no-history", "--kcidb"], timeout: 1200)
        #expect(output.status == 0, "stdout: \(output.stdout)\nstderr: \(output.stderr)")
        for file in ["summary.json", "junit.xml", "report.ktap", "report.html", "plan.json", "kcidb.json",
                     "images/linux-7.2.json", "images/linux-7.3.config"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "missing \(file)")
        }
        let summary = try JSONCoding.decode(MatrixSummary.self, from: out.appendingPathComponent("summary.json"))
        #expect(summary.cells.count == 10)
        let notPassed = summary.cells.filter { $0.verdict != .pass }.map { "\($0.name): \($0.verdict.rawValue) \($0.reason)" }
        #expect(notPassed.isEmpty, "\(notPassed)")
        #expect(summary.missingRuns.isEmpty)
        #expect(Set(summary.cells.map(\.direction)) == [.upgrade, .rollback, .same, .chain])

        let xmllint = try #require(tool("xmllint"), "xmllint is needed to validate the JUnit report")
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Schemas/junit.xsd")
        let (valid, log) = try runTool(xmllint, ["--noout", "--schema", schema.path, out.appendingPathComponent("junit.xml").path])
        #expect(valid == 0, "JUnit does not validate: \(log)")

        let ktap = try String(contentsOf: out.appendingPathComponent("report.ktap"), encoding: .utf8)
        #expect(ktap.hasPrefix("KTAP version 1"))
        #expect(ktap.contains("ok 1 linux-7.2_to_linux-7.2_to") == false)
        #expect(ktap.components(separatedBy: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("ok ") }.count >= 10)

        let chromium = try #require(tool("chromium") ?? tool("chromium-browser"), "chromium is needed to open the HTML report")
        let page = "file://" + out.appendingPathComponent("report.html").path
        let screenshot = folder.appendingPathComponent("report.png")
        let (shot, shotLog) = try runTool(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                     "--screenshot=\(screenshot.path)", "--window-size=1300,1600", page])
        #expect(shot == 0, "chromium failed: \(shotLog)")
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4e, 0x47]) && png.count > 20_000, "no real screenshot (\(png.count) bytes)")
        let (dumped, dom) = try runTool(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page])
        #expect(dumped == 0)
        #expect(dom.contains("<table"), "the rendered page has no table")
        #expect(dom.contains("<svg"), "the rendered page has no chart")
        #expect(dom.contains("linux-7.2") && dom.contains("memfd-properties"))

        try checkKCIDB(out: out, folder: folder)
    }

    /// The matrix's kcidb.json validates with KernelCI's kcidb-io and says what the run did;
    /// `handover report --kcidb` writes the same under another origin, also valid.
    func checkKCIDB(out: URL, folder: URL) throws {
        let python = E2E.packageRoot.appendingPathComponent(".venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "\(python) is needed to validate KCIDB (scripts/setup.sh)")
        let validator = E2E.packageRoot.appendingPathComponent("scripts/kcidb-validate.py").path
        let kcidb = out.appendingPathComponent("kcidb.json")
        let (valid, log) = try runTool(python, [validator, kcidb.path])
        #expect(valid == 0, "kcidb-io rejects the matrix's KCIDB file: \(log)")

        let data = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: kcidb)) as? [String: Any])
        let checkouts = data["checkouts"] as? [[String: Any]] ?? []
        let builds = data["builds"] as? [[String: Any]] ?? []
        let tests = data["tests"] as? [[String: Any]] ?? []
        #expect(checkouts.count == 2 && checkouts.allSatisfy { ($0["id"] as? String)?.hasPrefix("handover:checkout:debian:linux-source-7.") == true },
                "\(checkouts)")
        #expect(builds.count == 2)
        for build in builds {
            #expect(build["architecture"] as? String == "x86_64")
            #expect((build["duration"] as? Double ?? 0) > 0)
            #expect(((build["misc"] as? [String: Any])?["config_sha256"] as? String)?.count == 64)
            let config = try #require(build["config_url"] as? String)
            #expect(FileManager.default.fileExists(atPath: try #require(URL(string: config)).path), "\(config) is not there")
        }
        // One test per run, its status the run's verdict in KCIDB's terms; one DONE blackout
        // per measured hop. (Counted from summary.json, so the check holds whatever the runs said.)
        let summary = try JSONCoding.decode(MatrixSummary.self, from: out.appendingPathComponent("summary.json"))
        let runs = summary.cells.flatMap(\.runs)
        let mainTests = tests.filter { $0["number"] == nil }
        #expect(mainTests.count == runs.count, "one test per run: \(mainTests.count)")
        #expect(mainTests.compactMap { $0["status"] as? String }.sorted() == runs.map { KCIDBReport.status($0.verdict) }.sorted())
        #expect(mainTests.contains { $0["path"] as? String == "handover.memfd-basic.linux-7_2" })
        #expect(mainTests.contains { $0["path"] as? String == "handover.memfd-properties.linux-7_2--linux-7_3" })
        let blackouts = tests.filter { ($0["path"] as? String)?.hasSuffix(".blackout") == true }
        let measured = runs.map { $0.chain.count == 2 ? ($0.blackout == nil ? 0 : 1) : $0.hopBlackouts.compactMap { $0 }.count }.reduce(0, +)
        #expect(measured >= 8 && blackouts.count == measured, "one blackout per measured hop: \(blackouts.count) of \(measured)")
        #expect(blackouts.allSatisfy { $0["status"] as? String == "DONE" && (($0["number"] as? [String: Any])?["value"] as? Double ?? 0) > 0 })
        #expect(tests.contains { ($0["path"] as? String)?.hasSuffix(".blackout.kernel_boot") == true })
        for test in mainTests {
            let log = try #require(test["log_url"] as? String)
            #expect(FileManager.default.fileExists(atPath: try #require(URL(string: log)).path), "\(log) is not there")
        }

        let other = folder.appendingPathComponent("lab.kcidb.json")
        let report = try E2E.run(["report", out.path, "--no-history", "--kcidb", other.path, "--kcidb-origin", "lab_2",
                                  "--kcidb-artifacts-url", "https://ci.example.org/jobs/1/artifacts/raw/results/"])
        #expect(report.status == 0, "\(report.stderr)")
        let (otherValid, otherLog) = try runTool(python, [validator, other.path])
        #expect(otherValid == 0, "kcidb-io rejects report --kcidb: \(otherLog)")
        let text = try String(contentsOf: other, encoding: .utf8)
        #expect(text.contains("\"lab_2:") && !text.contains("\"handover:") && !text.contains("file://"))
        let bad = try E2E.run(["report", out.path, "--no-history", "--kcidb", other.path, "--kcidb-origin", "Lab-2"])
        #expect(bad.status != 0 && bad.stderr.contains("kcidb-origin"), "an origin KCIDB would refuse is refused: \(bad.stderr)")
    }

    @Test("a matrix interrupted halfway finishes with --resume without redoing finished runs")
    func resume() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = try writeMatrix("""
            name: resume
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic]
            pairs:
              - {from: linux-7.2, to: linux-7.3}
              - {from: linux-7.3, to: linux-7.2}
            repeats: 2
            timeout: 300
            accel: tcg
            """, in: folder)
        let out = folder.appendingPathComponent("results")
        let running = try E2E.start(["matrix", matrix.path, "--jobs", "1", "--out", out.path, "--no-history"])
        func results() -> [URL] {
            let walker = FileManager.default.enumerator(at: out.appendingPathComponent("runs"), includingPropertiesForKeys: nil)
            return (walker?.allObjects as? [URL] ?? []).filter { $0.lastPathComponent == "result.json" }
        }
        let deadline = Date().addingTimeInterval(240)
        while results().count < 2 && Date() < deadline && running.process.isRunning { usleep(100_000) }
        running.process.interrupt()
        let first = running.finish()
        #expect(first.status == 130, "stderr: \(first.stderr)")
        let finished = results()
        try #require(finished.count >= 2 && finished.count < 4, "interrupt came too late or too early: \(finished.count) results")
        var stamps: [URL: Date] = [:]
        for url in finished { stamps[url] = try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date }
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").isEmpty)

        let second = try E2E.run(["matrix", matrix.path, "--jobs", "1", "--out", out.path, "--resume", "--no-history"], timeout: 600)
        #expect(second.status == 0, "stderr: \(second.stderr)")
        #expect(results().count == 4)
        for (url, stamp) in stamps {
            let now = try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
            #expect(now == stamp, "\(url.path) was run again")
        }
        let summary = try JSONCoding.decode(MatrixSummary.self, from: out.appendingPathComponent("summary.json"))
        #expect(summary.missingRuns.isEmpty)
        #expect(summary.cells.flatMap(\.runs).count == 4)
    }

    @Test("SIGTERM during a matrix tears the VMs down, keeps finished results and exits 143")
    func terminatedMatrix() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = try writeMatrix("""
            name: sigterm
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic]
            pairs: all
            timeout: 300
            accel: tcg
            """, in: folder)
        let out = folder.appendingPathComponent("results")
        let running = try E2E.start(["matrix", matrix.path, "--jobs", "2", "--out", out.path, "--no-history"])
        let summaryFile = out.appendingPathComponent("summary.json")
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline && running.process.isRunning {
            if let summary = try? JSONCoding.decode(MatrixSummary.self, from: summaryFile), !summary.cells.isEmpty { break }
            usleep(100_000)
        }
        running.process.terminate()
        let output = running.finish()
        #expect(output.status == 143, "stderr: \(output.stderr)")
        usleep(300_000)
        #expect(E2E.processes(containing: "qemu-system-x86_64 -name handover").isEmpty, "QEMU survived SIGTERM")
        let summary = try JSONCoding.decode(MatrixSummary.self, from: summaryFile)
        #expect(!summary.cells.isEmpty, "finished results were lost")
        #expect(!summary.missingRuns.isEmpty, "the matrix was not interrupted")
        for record in summary.cells.flatMap(\.runs) {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(record.resultPath).path))
        }
    }

    @Test("a history holding a faster baseline flags a blackout regression in every report")
    func regressionAgainstCraftedHistory() throws {
        try E2E.requirePrerequisites()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let history = folder.appendingPathComponent("history.sqlite")
        let store = try HistoryStore(path: history)
        // Three repeats a side: fewer are not judged.
        let fastRuns = [0.010, 0.011, 0.012]
        let fast = Statistics(fastRuns)!
        let baselineRuns = fastRuns.enumerated().map { index, value in
            MatrixRunRecord(
                id: "memfd-basic/linux-7.2--linux-7.3/rep-\(index + 1)", scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"],
                repeatIndex: index + 1, verdict: .pass, failureClass: nil, reason: "crafted", evidence: nil, blackout: value,
                hopBlackouts: [value], wallSeconds: 1, resultPath: "x/result.json", consolePath: nil, consoleTail: [])
        }
        let baseline = MatrixSummary(
            name: "crafted", matrixFile: "crafted.yaml", startedAt: Date().addingTimeInterval(-86_400), finishedAt: Date().addingTimeInterval(-86_000),
            accelerator: "tcg", host: "test", handoverVersion: HandoverVersion.tool, regressionThreshold: 0.1, baseline: nil,
            cells: [MatrixCell(scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], releases: [], direction: .upgrade,
                               verdict: .pass, failureClass: nil, reason: "crafted", evidence: nil, runs: baselineRuns,
                               blackout: fast, prediction: nil, regressions: [], unsupportedAllowed: true)],
            missingRuns: [])
        try store.record(baseline, id: "crafted-baseline")

        let matrix = try writeMatrix("""
            name: regression
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic]
            pairs:
              - {from: linux-7.2, to: linux-7.3}
            repeats: 3
            accel: tcg
            """, in: folder)
        let out = folder.appendingPathComponent("results")
        // Other tests' VMs may contend for the host: judge their blackouts anyway.
        let output = try E2E.run(["matrix", matrix.path, "--out", out.path, "--history", history.path, "--allow-contention"], timeout: 900)
        #expect(output.status == 1, "a regression must fail the matrix; stdout: \(output.stdout)")
        #expect(output.stdout.contains("REGRESSION"))
        let summary = try JSONCoding.decode(MatrixSummary.self, from: out.appendingPathComponent("summary.json"))
        let cell = try #require(summary.cells.first)
        #expect(cell.verdict == .pass)
        #expect(cell.regressions.map(\.kind) == [.blackout])
        #expect(cell.blackoutChange?.finding == .regressed)
        #expect(cell.runs.allSatisfy { $0.contention != nil }, "every run records the host's CPU contention")
        #expect(output.stdout.contains("3 vs 3 repeats"))
        let junit = try String(contentsOf: out.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("regression-blackout"))
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("regress"))
        let ktap = try String(contentsOf: out.appendingPathComponent("report.ktap"), encoding: .utf8)
        #expect(ktap.contains("not ok"))
    }
}
}
