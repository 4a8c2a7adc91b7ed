import Foundation
import HandoverCore
import HandoverSupport
import HandoverResults

/// The matrix as JUnit XML, for CI systems: one `<testsuite>` per scenario and one
/// `<testcase>` per cell (scenario × chain, all repeats together).
public enum JUnitReport {
    public static func xml(_ summary: MatrixSummary) -> String {
        var suites: [String] = []
        var totals = Tally()
        for scenario in ReportData.scenarios(summary) {
            let cells = summary.cells.filter { $0.scenario == scenario }
            var tally = Tally()
            var cases: [String] = []
            for cell in cells {
                let outcome = ReportOutcome(cell)
                tally.add(outcome, time: cell.runs.reduce(0) { $0 + $1.wallSeconds })
                cases.append(testcase(cell, outcome: outcome))
            }
            totals.merge(tally)
            suites.append(suite(name: scenario, tally: tally, summary: summary, body: cases.joined()))
        }
        if !summary.missingRuns.isEmpty {
            // An interrupted matrix: runs the plan had that left no result. Their absence is
            // an infrastructure problem (and makes the exit status 2), so CI must see it.
            var tally = Tally()
            var cases: [String] = []
            for id in summary.missingRuns {
                tally.add(.error(type: "infrastructure", message: ""), time: 0)
                cases.append("    <testcase \(attribute("classname", "handover.missing")) \(attribute("name", id)) time=\"0.000\">\n"
                    + "      <error type=\"infrastructure\" message=\"no result: the run did not finish (interrupted matrix)\"/>\n"
                    + "    </testcase>\n")
            }
            totals.merge(tally)
            suites.append(suite(name: "missing-runs", tally: tally, summary: summary, body: cases.joined()))
        }
        let attributes = [
            attribute("name", summary.name),
            attribute("tests", String(totals.tests)),
            attribute("failures", String(totals.failures)),
            attribute("errors", String(totals.errors)),
            attribute("time", ReportText.seconds(summary.finishedAt.timeIntervalSince(summary.startedAt))),
        ].joined(separator: " ")
        // testsuites carries only the attributes the common JUnit schema allows there; skipped
        // counts and the timestamp are on each testsuite.
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites \(attributes)>\n" + suites.joined() + "</testsuites>\n"
    }

    public static func write(_ summary: MatrixSummary, to url: URL) throws {
        try AtomicFile.write(xml(summary), to: url)
    }

    // MARK: - Pieces

    struct Tally {
        var tests = 0, failures = 0, errors = 0, skipped = 0
        var time = 0.0

        mutating func add(_ outcome: ReportOutcome, time: Double) {
            tests += 1
            self.time += time
            switch outcome {
            case .pass: break
            case .failure: failures += 1
            case .error: errors += 1
            case .skipped: skipped += 1
            }
        }

        mutating func merge(_ other: Tally) {
            tests += other.tests
            failures += other.failures
            errors += other.errors
            skipped += other.skipped
            time += other.time
        }
    }

    static func attribute(_ name: String, _ value: String) -> String {
        "\(name)=\"\(ReportText.xmlEscape(value, attribute: true))\""
    }

    static func suite(name: String, tally: Tally, summary: MatrixSummary, body: String) -> String {
        let attributes = [
            attribute("name", name),
            attribute("tests", String(tally.tests)),
            attribute("failures", String(tally.failures)),
            attribute("errors", String(tally.errors)),
            attribute("skipped", String(tally.skipped)),
            attribute("time", ReportText.seconds(tally.time)),
            attribute("timestamp", ReportText.timestamp(summary.startedAt)),
            attribute("hostname", summary.host),
        ].joined(separator: " ")
        var properties = [
            property("matrix", summary.name),
            property("matrix.file", summary.matrixFile),
            property("accelerator", summary.accelerator),
            property("handover.version", summary.handoverVersion),
            property("regression.threshold", String(summary.regressionThreshold)),
        ]
        if let baseline = summary.baseline { properties.append(property("baseline", baseline)) }
        return "  <testsuite \(attributes)>\n    <properties>\n"
            + properties.map { "      \($0)\n" }.joined()
            + "    </properties>\n" + body + "  </testsuite>\n"
    }

    static func property(_ name: String, _ value: String) -> String {
        "<property \(attribute("name", name)) \(attribute("value", value))/>"
    }

    static func testcase(_ cell: MatrixCell, outcome: ReportOutcome) -> String {
        let time = cell.runs.reduce(0) { $0 + $1.wallSeconds }
        let attributes = [
            attribute("classname", "handover.\(cell.scenario)"),
            attribute("name", cell.chain.joined(separator: " -> ") + (cell.arch.map { " [\($0)]" } ?? "")),
            attribute("time", ReportText.seconds(time)),
        ].joined(separator: " ")
        var text = "    <testcase \(attributes)>\n"

        // The common schema has no properties on a testcase: what describes the cell goes
        // into its system-out, ahead of the console tail.
        var facts = [
            "runs: \(cell.runs.count)",
            "direction: \(cell.direction.rawValue)",
            "releases: \(cell.releases.joined(separator: " -> "))",
            "verdict: \(cell.verdict.rawValue)",
        ]
        if let blackout = cell.blackout {
            facts.append(String(format: "blackout median: %.3f ms, max %.3f ms", blackout.median * 1000, blackout.max * 1000))
        }
        if let prediction = cell.prediction { facts.append("prediction: \(prediction.outcome.rawValue)") }

        switch outcome {
        case .pass:
            break
        case .failure(let type, let message):
            text += "      <failure \(attribute("type", type)) \(attribute("message", message))>"
                + ReportText.xmlEscape(details(cell)) + "</failure>\n"
        case .error(let type, let message):
            text += "      <error \(attribute("type", type)) \(attribute("message", message))>"
                + ReportText.xmlEscape(details(cell)) + "</error>\n"
        case .skipped(let message):
            text += "      <skipped \(attribute("message", message))/>\n"
        }

        var out = facts
        if let worst = ReportData.worstRun(cell), !worst.consoleTail.isEmpty {
            out += ["console tail of \(worst.id):"] + worst.consoleTail
        }
        text += "      <system-out>" + ReportText.cdata(out.joined(separator: "\n") + "\n") + "</system-out>\n"
        return text + "    </testcase>\n"
    }

    /// The body of a failure: everything a person needs without opening the HTML report.
    static func details(_ cell: MatrixCell) -> String {
        var lines = ["\(cell.verdict.rawValue)\(cell.failureClass.map { " (\($0.rawValue))" } ?? ""): \(cell.reason)"]
        if let evidence = cell.evidence { lines.append("evidence: \(evidence)") }
        for regression in cell.regressions {
            lines.append("regression (\(regression.kind.rawValue)): \(regression.message) [baseline \(regression.baselineValue), now \(regression.newValue)]")
        }
        if let prediction = cell.prediction {
            lines.append("predicted: \(prediction.outcome.rawValue)" + (prediction.reasons.isEmpty ? "" : " (\(prediction.reasons.joined(separator: "; ")))"))
        }
        for run in cell.runs {
            var line = "run \(run.repeatIndex): \(run.verdict.rawValue)"
            if let failureClass = run.failureClass { line += " (\(failureClass.rawValue))" }
            if let blackout = run.blackout { line += ", blackout \(ReportText.milliseconds(blackout))" }
            if run.verdict != .pass { line += ": \(run.reason)" }
            line += " [\(run.resultPath)]"
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
