import Foundation
@testable import HandoverCore
import Testing

#if canImport(FoundationXML)
import FoundationXML
@testable import HandoverImages
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverReports
@testable import HandoverMatrix
#endif


// MARK: - A matrix covering every kind of cell

private func prediction(_ outcome: String, reasons: [String] = [], differences: [(String, String?, String?)] = []) -> HandoverPrediction {
    let object: [String: Any] = [
        "from": "a", "to": "b", "outcome": outcome, "reasons": reasons, "shared": [],
        "differences": differences.map { difference -> [String: Any] in
            var entry: [String: Any] = ["family": difference.0]
            if let from = difference.1 { entry["from"] = from }
            if let to = difference.2 { entry["to"] = to }
            return entry
        },
    ]
    let data = try! JSONSerialization.data(withJSONObject: object)
    return try! JSONDecoder().decode(HandoverPrediction.self, from: data)
}

private func run(
    _ scenario: String, _ chain: [String], _ index: Int, _ verdict: Verdict, _ failureClass: FailureClass? = nil,
    reason: String = "all objects intact", evidence: String? = nil, blackout: Double?, tail: [String] = ["[    1.000000] Run /init as init process", "agent: resumed"]
) -> MatrixRunRecord {
    let folder = "\(scenario)/\(chain.joined(separator: "--"))/rep-\(index)"
    return MatrixRunRecord(
        id: folder, scenario: scenario, chain: chain, repeatIndex: index, verdict: verdict, failureClass: failureClass,
        reason: reason, evidence: evidence, blackout: blackout, hopBlackouts: chain.dropFirst().map { _ in blackout },
        wallSeconds: 10.25, resultPath: "\(folder)/result.json", consolePath: "\(folder)/console.log", consoleTail: tail)
}

private func cell(
    _ scenario: String, _ chain: [String], _ direction: Direction, runs: [MatrixRunRecord],
    prediction: HandoverPrediction? = nil, regressions: [Regression] = [], unsupportedAllowed: Bool = true
) -> MatrixCell {
    let worst = runs.max { $0.verdict < $1.verdict }!
    return MatrixCell(
        scenario: scenario, chain: chain, releases: chain.map { "\($0).0-handover" }, direction: direction,
        verdict: worst.verdict, failureClass: worst.failureClass, reason: worst.reason, evidence: worst.evidence,
        runs: runs, blackout: Statistics(runs.compactMap(\.blackout)), prediction: prediction,
        regressions: regressions, unsupportedAllowed: unsupportedAllowed)
}

private let up = ["v7.2", "v7.3"]
private let down = ["v7.3", "v7.2"]
private let chain3 = ["v7.1", "v7.2", "v7.3"]
private let mismatchReason = "page 3 of big differs: expected <0xaa> & got <0x55>"
private let evilTail = ["[    2.100000] liveupdate: retrieve memfd token 1", "weird ]]> marker and \u{1b}[31mred\u{1b}[0m text", "bell\u{07}here"]

private func sampleSummary(missing: [String] = []) -> MatrixSummary {
    let cells = [
        // 1: pass, upgrade, three runs.
        cell("memfd-basic", up, .upgrade, runs: [
            run("memfd-basic", up, 1, .pass, blackout: 0.412),
            run("memfd-basic", up, 2, .pass, blackout: 0.431),
            run("memfd-basic", up, 3, .pass, blackout: 0.455),
        ], prediction: prediction("compatible")),
        // 2: fail state-mismatch, rollback; nasty reason and console.
        cell("memfd-basic", down, .rollback, runs: [
            run("memfd-basic", down, 1, .pass, blackout: 0.502),
            run("memfd-basic", down, 2, .fail, .stateMismatch, reason: mismatchReason,
                evidence: "memfd big: sha256 1234 != 5678", blackout: 0.540, tail: evilTail),
            run("memfd-basic", down, 3, .pass, blackout: 0.611),
        ], prediction: prediction("compatible")),
        // 3: unsupported, allowed, chain of three.
        cell("memfd-basic", chain3, .chain, runs: [
            run("memfd-basic", chain3, 1, .unsupported, reason: "v7.1 has no LIVEUPDATE_MEMFD", blackout: nil),
        ], prediction: prediction("incompatible", reasons: ["v7.1 (the first kernel) has no LIVEUPDATE_MEMFD"])),
        // 4: pass but blackout regressed; prediction said incompatible (disagrees).
        cell("memfd-large", up, .upgrade, runs: [
            run("memfd-large", up, 1, .pass, blackout: 1.210),
            run("memfd-large", up, 2, .pass, blackout: 1.350),
        ], prediction: prediction("incompatible", reasons: ["memfd format differs"], differences: [("memfd", "memfd-v1", "memfd-v2")]),
        regressions: [Regression(kind: .blackout, message: "blackout median 1.28 s is 60% above the baseline 0.80 s",
                                 baselineMatrix: "nightly-41", baselineValue: "800 ms", newValue: "1280 ms")]),
        // 5: fail abi-incompatible, prediction compatible (disagrees).
        cell("memfd-large", down, .rollback, runs: [
            run("memfd-large", down, 1, .fail, .abiIncompatible, reason: "the new kernel rejected the preserved state",
                evidence: "[    1.234567] luo: incompatible ABI 'luo-v4', expected 'luo-v5'", blackout: 0.9),
        ], prediction: prediction("compatible")),
        // 6: error.
        cell("memfd-large", chain3, .chain, runs: [
            run("memfd-large", chain3, 1, .error, .infrastructure, reason: "qemu exited: cannot allocate memory", blackout: nil),
        ]),
        // 7: unsupported where the matrix does not allow it.
        cell("memfd-sealed", up, .upgrade, runs: [
            run("memfd-sealed", up, 1, .unsupported, reason: "seals cannot be preserved", blackout: nil),
        ], unsupportedAllowed: false),
    ]
    return MatrixSummary(
        name: "nightly-42", matrixFile: "matrices/nightly.yaml",
        startedAt: Date(timeIntervalSince1970: 1_780_000_000), finishedAt: Date(timeIntervalSince1970: 1_780_000_000 + 1834),
        accelerator: "kvm", host: "builder-3", handoverVersion: "0.4.0", regressionThreshold: 0.2,
        baseline: "nightly-41", cells: cells, missingRuns: missing)
}

private func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("report-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Everything in `folder` other than `name`: leftovers of a write.
private func others(in folder: URL, than name: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != name }
}

// MARK: - Tests

@Suite struct ReportTests {
    // MARK: JUnit

    @Test func junitParsesWithTheRightCounts() throws {
        let xml = JUnitReport.xml(sampleSummary())
        let document = try XMLDocument(xmlString: xml, options: [])
        let root = try #require(document.rootElement())
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == "7")
        #expect(root.attribute(forName: "failures")?.stringValue == "4")
        #expect(root.attribute(forName: "errors")?.stringValue == "1")
        // The common JUnit schema allows no skipped count or timestamp on testsuites.
        #expect(root.attribute(forName: "skipped") == nil)
        #expect(root.attribute(forName: "timestamp") == nil)

        let suites = root.elements(forName: "testsuite")
        #expect(suites.map { $0.attribute(forName: "name")?.stringValue } == ["memfd-basic", "memfd-large", "memfd-sealed"])
        let basic = suites[0]
        #expect(basic.attribute(forName: "tests")?.stringValue == "3")
        #expect(basic.attribute(forName: "failures")?.stringValue == "1")
        #expect(basic.attribute(forName: "skipped")?.stringValue == "1")
        #expect(basic.attribute(forName: "errors")?.stringValue == "0")
        #expect(basic.attribute(forName: "time")?.stringValue == "71.750")

        let cases = basic.elements(forName: "testcase")
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue } == ["v7.2 -> v7.3", "v7.3 -> v7.2", "v7.1 -> v7.2 -> v7.3"])
        #expect(cases.allSatisfy { $0.attribute(forName: "classname")?.stringValue == "handover.memfd-basic" })
        #expect(cases[0].attribute(forName: "time")?.stringValue == "30.750")
        #expect(cases[0].elements(forName: "failure").isEmpty)

        // The failure: class as type, reason as message, round-tripped through escaping.
        let failure = try #require(cases[1].elements(forName: "failure").first)
        #expect(failure.attribute(forName: "type")?.stringValue == "state-mismatch")
        #expect(failure.attribute(forName: "message")?.stringValue == mismatchReason)
        // Console tail of the worst run, "]]>" intact, the escape sequence gone.
        let out = try #require(cases[1].elements(forName: "system-out").first?.stringValue)
        #expect(out.contains("weird ]]> marker and red text"))
        #expect(!out.contains("\u{1b}"))
        #expect(out.contains("bellhere"))

        let skipped = try #require(cases[2].elements(forName: "skipped").first)
        #expect(skipped.attribute(forName: "message")?.stringValue == "unsupported: v7.1 has no LIVEUPDATE_MEMFD")

        // No properties on a testcase (the schema has none there): the facts are in system-out.
        #expect(cases[0].elements(forName: "properties").isEmpty)
        let facts = try #require(cases[0].elements(forName: "system-out").first?.stringValue)
        #expect(facts.contains("runs: 3"))
        #expect(facts.contains("blackout median: 431.000 ms"))

        let large = suites[1].elements(forName: "testcase")
        #expect(large[0].elements(forName: "failure").first?.attribute(forName: "type")?.stringValue == "regression-blackout")
        #expect(large[1].elements(forName: "failure").first?.attribute(forName: "type")?.stringValue == "abi-incompatible")
        let error = try #require(large[2].elements(forName: "error").first)
        #expect(error.attribute(forName: "type")?.stringValue == "infrastructure")
        #expect(error.attribute(forName: "message")?.stringValue == "qemu exited: cannot allocate memory")

        let sealed = suites[2].elements(forName: "testcase")
        #expect(sealed[0].elements(forName: "failure").first?.attribute(forName: "type")?.stringValue == "unsupported")
    }

    @Test func junitEscapesAndStripsIllegalCharacters() throws {
        var summary = sampleSummary()
        summary.cells[0].scenario = "quote\"apos'amp&lt<gt>\u{0}\u{1b}\u{fffe}"
        summary.cells[0].verdict = .fail
        summary.cells[0].reason = "line one\nline two\ttab \u{8}backspace"
        let xml = JUnitReport.xml(summary)
        #expect(!xml.contains("\u{0}"))
        #expect(!xml.contains("\u{8}"))
        let document = try XMLDocument(xmlString: xml, options: [])
        let first = try #require(document.rootElement()?.elements(forName: "testsuite").first)
        #expect(first.attribute(forName: "name")?.stringValue == "quote\"apos'amp&lt<gt>")
        let failure = first.elements(forName: "testcase").first?.elements(forName: "failure").first
        #expect(failure?.attribute(forName: "message")?.stringValue == "line one\nline two\ttab backspace")
    }

    @Test func cdataSplitsTheTerminator() {
        #expect(ReportText.cdata("a]]>b") == "<![CDATA[a]]]]><![CDATA[>b]]>")
        #expect(ReportText.stripEscapes("\u{1b}[1;31mred\u{1b}[0m \u{1b}]0;title\u{07}x") == "red x")
    }

    @Test func junitReportsMissingRuns() throws {
        let summary = sampleSummary(missing: ["memfd-basic/v7.2--v7.3/rep-4"])
        #expect(summary.exitCode == 2)
        let document = try XMLDocument(xmlString: JUnitReport.xml(summary), options: [])
        let root = try #require(document.rootElement())
        #expect(root.attribute(forName: "tests")?.stringValue == "8")
        #expect(root.attribute(forName: "errors")?.stringValue == "2")
        let missing = try #require(root.elements(forName: "testsuite").last)
        #expect(missing.attribute(forName: "name")?.stringValue == "missing-runs")
        #expect(missing.elements(forName: "testcase").first?.attribute(forName: "name")?.stringValue == "memfd-basic/v7.2--v7.3/rep-4")
    }

    // MARK: KTAP

    @Test func ktapHasPlansResultsAndSkips() {
        let text = KTAPReport.text(sampleSummary())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "KTAP version 1")
        #expect(lines.filter { $0 == "1..3" }.count == 1) // three scenarios
        #expect(lines.filter { $0 == "  1..3" }.count == 2) // memfd-basic and memfd-large have three cells each
        #expect(lines.contains("  1..1"))
        #expect(lines.filter { $0 == "  KTAP version 1" }.count == 3)
        #expect(lines.contains("  # Subtest: memfd-basic"))
        #expect(lines.contains("  ok 1 v7.2_to_v7.3"))
        #expect(lines.contains("  not ok 2 v7.3_to_v7.2"))
        #expect(lines.contains("  ok 3 v7.1_to_v7.2_to_v7.3 # SKIP unsupported: v7.1 has no LIVEUPDATE_MEMFD"))
        #expect(lines.contains("  not ok 1 v7.2_to_v7.3")) // memfd-large: regressed
        #expect(lines.contains("  not ok 3 v7.1_to_v7.2_to_v7.3 # ERROR qemu exited: cannot allocate memory"))
        #expect(lines.contains("not ok 1 memfd-basic"))
        #expect(lines.contains("not ok 2 memfd-large"))
        #expect(lines.contains("not ok 3 memfd-sealed"))
        #expect(lines.contains("# Totals: pass:1 fail:4 xfail:0 xpass:0 skip:1 error:1"))

        // Diagnostics come before the result line they explain, and are single lines.
        let failed = lines.firstIndex(of: "  not ok 2 v7.3_to_v7.2")!
        let diagnostics = lines[..<failed].reversed().prefix { $0.hasPrefix("  # ") }
        #expect(diagnostics.contains("  # state-mismatch: \(mismatchReason)"))
        #expect(diagnostics.contains("  # evidence: memfd big: sha256 1234 != 5678"))
        #expect(diagnostics.contains { $0.hasPrefix("  # console: weird ]]> marker and red text") })
        #expect(!text.contains("\u{1b}"))
        #expect(!text.contains("\u{07}"))
        #expect(lines.allSatisfy { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix("KTAP version 1") || trimmed.hasPrefix("1..")
                || trimmed.hasPrefix("ok ") || trimmed.hasPrefix("not ok ")
        })

        // The project's own parser reads the top level.
        let parsed = KTAPParser.parse(lines)
        #expect(parsed.results.map(\.name) == ["memfd-basic", "memfd-large", "memfd-sealed"])
        #expect(parsed.results.map(\.status) == [.fail, .fail, .fail])
        #expect(parsed.totals["skip"] == 1)
    }

    @Test func ktapNamesHaveNoHashOrSpaces() {
        var summary = sampleSummary()
        summary.cells = [summary.cells[0]]
        summary.cells[0].scenario = "odd # name\nwith break"
        summary.cells[0].chain = ["a b", "c#d"]
        let text = KTAPReport.text(summary)
        #expect(text.contains("  ok 1 a_b_to_c_d\n"))
        #expect(text.contains("\nok 1 odd___name_with_break\n"))
    }

    @Test func ktapAllSkippedScenarioIsSkippedAndMissingRunsAreErrors() {
        var summary = sampleSummary(missing: ["memfd-sealed/v7.2--v7.3/rep-2"])
        summary.cells = [summary.cells[2]]
        let lines = KTAPReport.text(summary).split(separator: "\n").map(String.init)
        #expect(lines.contains("1..2"))
        #expect(lines.contains("ok 1 memfd-basic # SKIP every chain unsupported"))
        #expect(lines.contains { $0.hasPrefix("not ok 2 missing_runs # ERROR") })
        #expect(lines.contains("#   memfd-sealed/v7.2--v7.3/rep-2"))
    }

    // MARK: HTML

    @Test func templateIsFoundInTheBundle() throws {
        // The lookup the report uses first; the fallback search covers platforms where it fails.
        let direct = HTMLReport.resourceBundle.url(forResource: "report", withExtension: "html.mustache", subdirectory: "Templates")
        #expect(direct != nil, "Bundle.url(forResource:withExtension:subdirectory:) does not find the template")
        let url = try HTMLReport.templateURL()
        #expect(url.lastPathComponent == "report.html.mustache")
        #expect(try HTMLReport.templateText().contains("{{#charts}}"))
    }

    @Test func htmlShowsVerdictsEscapedTextChartsAndLinks() throws {
        let html = try HTMLReport.html(sampleSummary())
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for cls in ["v-pass", "v-fail", "v-unsupported\"", "v-unsupported v-unsupported-denied\"", "v-error"] {
            #expect(html.contains("class=\"cell \(cls)"), "no table cell of class \(cls)")
        }
        #expect(html.contains("nightly-42"))
        #expect(html.contains("builder-3"))
        #expect(html.contains("kvm"))
        #expect(html.contains("0.4.0"))
        #expect(html.contains("exit status 2")) // an error cell: the harness broke somewhere

        // Result text is escaped.
        #expect(!html.contains("<0xaa>"))
        #expect(!html.contains("<0x55>"))
        #expect(html.contains("expected &lt;0xaa&gt; &amp; got &lt;0x55&gt;"))
        #expect(html.contains("weird ]]&gt; marker and red text"))
        #expect(!html.contains("\u{1b}"))
        #expect(html.contains("bell^Ghere"))

        // One chart per scenario, with the median labels.
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.contains("431 ms"))
        #expect(html.contains("class=\"box\""))
        #expect(html.contains("blackout (ms)"))

        // Links to the run files, relative to the results folder.
        #expect(html.contains("href=\"memfd-basic/v7.3--v7.2/rep-2/result.json\""))
        #expect(html.contains("href=\"memfd-basic/v7.3--v7.2/rep-2/console.log\""))
        // Table cells link to their details.
        #expect(html.contains("href=\"#cell-2\""))
        #expect(html.contains("id=\"cell-2\""))

        // Prediction against observation.
        let abiCell = try section(html, "cell-5")
        #expect(abiCell.contains("predicted: <b class=\"p-compatible\">compatible</b> · observed: <b>fail (abi-incompatible)</b>"))
        #expect(abiCell.contains("prediction disagrees"))
        #expect(abiCell.contains("luo: incompatible ABI &#39;luo-v4&#39;"))
        let passingButPredictedIncompatible = try section(html, "cell-4")
        #expect(passingButPredictedIncompatible.contains("prediction disagrees"))
        #expect(passingButPredictedIncompatible.contains("regressed") || passingButPredictedIncompatible.contains("regression"))
        #expect(passingButPredictedIncompatible.contains("memfd-v1 → memfd-v2"))
        #expect(try !section(html, "cell-1").contains("prediction disagrees"))
        #expect(try !section(html, "cell-2").contains("prediction disagrees"))
        #expect(try section(html, "cell-2").contains("<pre class=\"console\">"))
    }

    /// The details section with the given id.
    private func section(_ html: String, _ id: String) throws -> String {
        let start = try #require(html.range(of: "id=\"\(id)\""))
        let end = try #require(html.range(of: "</section>", range: start.upperBound..<html.endIndex))
        return String(html[start.lowerBound..<end.lowerBound])
    }

    @Test func htmlShowsTheHostContentionAndTheJudgement() throws {
        var summary = sampleSummary()
        summary.isolation = Isolation.gated.description(jobs: 2, cpus: 2, cores: 2)
        summary.cells[0].runs[1].contention = HostContention(window: 6.2, cpuSomeShare: 0.85, cpuSomeAvg10: 0.6, steal: 0.002)
        summary.cells[0].runs[0].contention = HostContention(window: 6.0, cpuSomeShare: 0.05, cpuSomeAvg10: 0.02, steal: 0)
        summary.cells[0].blackoutChange = BlackoutChange(
            base: [0.40, 0.41, 0.42].map { BlackoutSample(total: $0) }, new: summary.cells[0].blackoutSamples, threshold: 0.2)
        let html = try HTMLReport.html(summary)
        #expect(html.contains("blackouts one at a time, other VMs idle meanwhile (2 VMs of 2 vCPUs on 2 host cores)"))
        #expect(html.contains("CPU pressure 85% of the window (avg10 60%), steal 0.2%: disturbed"))
        #expect(html.contains("<td class=\"disturbed\">"))
        #expect(html.contains("CPU pressure 5% of the window"))
        #expect(html.contains("class=\"point disturbed\""))
        #expect(html.contains("against the baseline</dt><dd>not judged: 3 and 2 undisturbed repeats"))
        #expect(html.contains("1 disturbed repeat left out"))
    }

    @Test func htmlDrawsTheMedianRunsTimelineWithItsPhasesAndPayload() throws {
        var summary = sampleSummary()
        for (index, total) in [0.412, 0.431, 0.455].enumerated() {
            var blackout = Blackout(total: total, shutdown: 0.1, kernelBoot: total - 0.2, agentStart: 0.05, restore: 0.04, unaccounted: 0.01)
            blackout.oldKernel = 0.02
            blackout.jump = 0.08
            blackout.attributedShare = 1 - 0.01 / total
            blackout.kernelBootSteps = [BootStep(name: "early boot (to the first initcall)", kind: .early, seconds: 0.1),
                                        BootStep(name: "initcall run_\(index)", kind: .initcall, seconds: total - 0.3)]
            summary.cells[0].runs[index].blackoutDetail = blackout
            summary.cells[0].runs[index].payload = [StagePayload(stage: 1, kernel: "v7.2", initramfsBytes: 34_280_472),
                                                    StagePayload(stage: 2, kernel: "v7.3", initramfsBytes: 15_996_744)]
        }
        let html = try HTMLReport.html(summary)
        #expect(html.contains("Blackout timeline per pair"))
        #expect(html.contains("aria-label=\"blackout timeline for memfd-basic\""))
        #expect(html.contains("v7.2 → v7.3 (run 2)"))  // the median of 412, 431 and 455 ms
        #expect(html.contains("kernel boot: initcall run_1: 131.0 ms"))
        #expect(!html.contains("initcall run_0"))
        #expect(html.contains("<dt>attributed</dt><dd>97.7% of the blackout in named phases"))
        #expect(html.contains("stage 1 (v7.2): 34280472 bytes · stage 2 (v7.3): 15996744 bytes"))
        #expect(html.contains("old kernel: quiesce to &quot;Starting new kernel&quot;"))
        // Cells without phases draw no timeline.
        #expect(try !HTMLReport.html(sampleSummary()).contains("Blackout timeline per pair"))
    }

    @Test func htmlOfAnEmptyMatrixRenders() throws {
        var summary = sampleSummary(missing: ["memfd-basic/v7.2--v7.3/rep-1"])
        summary.cells = []
        let html = try HTMLReport.html(summary)
        #expect(html.contains("No cell of this matrix has a result."))
        #expect(html.contains("memfd-basic/v7.2--v7.3/rep-1"))
        #expect(html.contains("exit status 2"))
    }

    // MARK: Writing

    @Test func writersGoThroughAtomicFile() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let summary = sampleSummary()
        for (name, write, expected) in [
            ("junit.xml", JUnitReport.write, JUnitReport.xml(summary)),
            ("results.ktap", KTAPReport.write, KTAPReport.text(summary)),
            ("report.html", HTMLReport.write, try HTMLReport.html(summary)),
        ] as [(String, (MatrixSummary, URL) throws -> Void, String)] {
            let sub = folder.appendingPathComponent(name + ".d")
            let url = sub.appendingPathComponent(name)
            try write(summary, url)
            #expect(try String(contentsOf: url, encoding: .utf8) == expected)
            #expect(try others(in: sub, than: name).isEmpty, "leftovers beside \(name)")
            // Overwriting works the same way.
            try write(summary, url)
            #expect(try others(in: sub, than: name).isEmpty)
        }
    }
}
