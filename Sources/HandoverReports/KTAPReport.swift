import Foundation
import HandoverCore
import HandoverSupport
import HandoverResults

/// The matrix in the kernel's own test format (KTAP version 1): one subtest per scenario,
/// one test per cell inside it, named by its chain ("linux-7.2_to_linux-7.3").
public enum KTAPReport {
    /// Console lines repeated as diagnostics under a failed or broken cell.
    static let consoleLines = 10

    public static func text(_ summary: MatrixSummary) -> String {
        var lines = ["KTAP version 1"]
        lines.append("# handover matrix \(ReportText.oneLine(summary.name)) on \(ReportText.oneLine(summary.host)) (\(ReportText.oneLine(summary.accelerator)), handover \(ReportText.oneLine(summary.handoverVersion)))")
        let scenarios = ReportData.scenarios(summary)
        lines.append("1..\(scenarios.count + (summary.missingRuns.isEmpty ? 0 : 1))")

        var totals: [String: Int] = ["pass": 0, "fail": 0, "skip": 0, "error": 0]
        for (index, scenario) in scenarios.enumerated() {
            let cells = summary.cells.filter { $0.scenario == scenario }
            let outcomes = cells.map(ReportOutcome.init)
            let name = testName(scenario)
            lines.append(indent(1, "KTAP version 1"))
            lines.append(indent(1, "# Subtest: \(name)"))
            lines.append(indent(1, "1..\(cells.count)"))
            for (number, (cell, outcome)) in zip(cells, outcomes).enumerated() {
                lines += test(number: number + 1, cell: cell, outcome: outcome).map { indent(1, $0) }
                switch outcome {
                case .pass: totals["pass"]! += 1
                case .failure: totals["fail"]! += 1
                case .error: totals["error"]! += 1
                case .skipped: totals["skip"]! += 1
                }
            }
            // The scenario fails when one of its cells does; it is skipped only when all were.
            let failed = outcomes.filter { if case .failure = $0 { true } else if case .error = $0 { true } else { false } }
            let skipped = outcomes.allSatisfy { if case .skipped = $0 { true } else { false } }
            if !failed.isEmpty {
                lines.append("# \(name): \(failed.count) of \(cells.count) not ok")
                lines.append("not ok \(index + 1) \(name)")
            } else if skipped && !cells.isEmpty {
                lines.append("ok \(index + 1) \(name) # SKIP every chain unsupported")
            } else {
                lines.append("ok \(index + 1) \(name)")
            }
        }
        if !summary.missingRuns.isEmpty {
            lines.append("# runs without a result (interrupted matrix):")
            lines += summary.missingRuns.map { "#   \(ReportText.oneLine($0))" }
            lines.append("not ok \(scenarios.count + 1) missing_runs # ERROR \(summary.missingRuns.count) runs did not finish")
            totals["error"]! += 1
        }
        lines.append("# Totals: pass:\(totals["pass"]!) fail:\(totals["fail"]!) xfail:0 xpass:0 skip:\(totals["skip"]!) error:\(totals["error"]!)")
        return lines.joined(separator: "\n") + "\n"
    }

    public static func write(_ summary: MatrixSummary, to url: URL) throws {
        try AtomicFile.write(text(summary), to: url)
    }

    // MARK: - Pieces

    /// A KTAP test name: no '#', no line breaks, no spaces.
    static func testName(_ text: String) -> String {
        var name = ReportText.oneLine(text)
        for character in [" ", "#", "\t"] { name = name.replacingOccurrences(of: character, with: "_") }
        return name.isEmpty ? "unnamed" : name
    }

    static func indent(_ level: Int, _ line: String) -> String {
        String(repeating: "  ", count: level) + line
    }

    /// A diagnostic line: "# " and one line of text.
    static func diagnostic(_ text: String) -> String { "# " + ReportText.oneLine(text) }

    /// The diagnostic lines and the result line of one cell.
    static func test(number: Int, cell: MatrixCell, outcome: ReportOutcome) -> [String] {
        let name = testName(cell.chain.joined(separator: "_to_"))
        var lines: [String] = []
        var info = "\(cell.direction.rawValue) \(cell.releases.joined(separator: " -> "))\(cell.arch.map { " (\($0))" } ?? ""), \(cell.runs.count) run\(cell.runs.count == 1 ? "" : "s")"
        if let blackout = cell.blackout { info += ", blackout median \(ReportText.milliseconds(blackout.median))" }
        lines.append(diagnostic(info))
        switch outcome {
        case .pass:
            lines.append("ok \(number) \(name)")
        case .skipped(let message):
            lines.append("ok \(number) \(name) # SKIP \(ReportText.oneLine(message))")
        case .failure(let type, let message), .error(let type, let message):
            // A regression has its own line below; other outcomes are stated here.
            if cell.regressions.isEmpty || !type.hasPrefix("regression-") { lines.append(diagnostic("\(type): \(message)")) }
            if let evidence = cell.evidence { lines.append(diagnostic("evidence: \(evidence)")) }
            for regression in cell.regressions {
                lines.append(diagnostic("regression (\(regression.kind.rawValue)): \(regression.message); baseline \(regression.baselineValue), now \(regression.newValue)"))
            }
            if let prediction = cell.prediction {
                lines.append(diagnostic("predicted: \(prediction.outcome.rawValue)\(ReportData.predictionDisagrees(cell) ? " (prediction disagrees)" : "")"))
            }
            for run in cell.runs where run.verdict != .pass {
                lines.append(diagnostic("run \(run.repeatIndex): \(run.verdict.rawValue)\(run.failureClass.map { " (\($0.rawValue))" } ?? "") \(run.resultPath)"))
            }
            if let worst = ReportData.worstRun(cell) {
                lines += worst.consoleTail.suffix(consoleLines).map { diagnostic("console: \($0)") }
            }
            if case .error = outcome {
                lines.append("not ok \(number) \(name) # ERROR \(ReportText.oneLine(message))")
            } else {
                lines.append("not ok \(number) \(name)")
            }
        }
        return lines
    }
}
