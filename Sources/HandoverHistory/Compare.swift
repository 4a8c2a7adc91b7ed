import Foundation
import HandoverCore
import HandoverSupport
import HandoverResults

/// One cell of two matrix runs side by side.
public struct CellComparison: Codable, Sendable, Equatable {
    public var scenario: String
    public var chain: [String]
    /// Nil when the cell is not in the base run.
    public var baseVerdict: Verdict?
    /// Nil when the cell is not in the new run.
    public var newVerdict: Verdict?
    public var baseFailureClass: FailureClass?
    public var newFailureClass: FailureClass?
    /// Median blackouts in seconds.
    public var baseMedian: Double?
    public var newMedian: Double?
    /// Change of the median blackout in percent (25 = 25% slower, -10 = 10% faster).
    public var change: Double?
    public var regressions: [Regression]
    /// The blackout judged with its interval, when both sides have repeats with a blackout.
    public var blackoutChange: BlackoutChange? = nil
    /// The clock the medians and the change are on: guest when both sides were guest-timed.
    public var clock: BlackoutClock? = nil
    /// "added", "removed", "regressed (…)", "improved (…)" or "unchanged".
    public var note: String

    public var name: String { "\(scenario): \(chain.joined(separator: " -> "))" }
}

/// `handover compare BASE NEW`: two matrix runs cell by cell.
public enum MatrixComparison {
    /// Every cell of `new` in its order, then the cells only `base` has. Regressions are judged
    /// as against a baseline (see `RegressionCheck`), with `base` as the baseline of every cell.
    /// `absoluteThreshold` (seconds), when given, replaces the fraction `threshold`.
    public static func compare(base: MatrixSummary, new: MatrixSummary, threshold: Double, sensitivity: Double? = nil,
                               absoluteThreshold: Double? = nil) -> [CellComparison] {
        var baseCells: [String: MatrixCell] = [:]
        for cell in base.cells where baseCells[key(cell)] == nil { baseCells[key(cell)] = cell }
        let label = "\(base.name) of \(timestamp(base.startedAt))"
        var seen = Set<String>()
        var comparisons: [CellComparison] = []
        for cell in new.cells where seen.insert(key(cell)).inserted {
            guard let old = baseCells[key(cell)] else {
                comparisons.append(CellComparison(
                    scenario: cell.scenario, chain: cell.chain, baseVerdict: nil, newVerdict: cell.verdict,
                    baseFailureClass: nil, newFailureClass: cell.failureClass, baseMedian: nil,
                    newMedian: cell.blackout?.median, change: nil, regressions: [], note: "added"))
                continue
            }
            let (regressions, judged) = RegressionCheck.judge(
                cell: cell, baseVerdict: old.verdict, baseFailureClass: old.failureClass, baseSamples: old.blackoutSamples,
                baseGuestSamples: old.guestBlackoutSamples, baselineMatrix: base.name, label: label, threshold: threshold,
                absoluteThreshold: absoluteThreshold, sensitivity: sensitivity)
            // Judged on the guest clock: the medians shown are the guest clock's too.
            let guest = judged?.clock == .guest
            let baseMedian = guest ? judged?.baseMedian : old.blackout?.median
            let newMedian = guest ? judged?.newMedian : cell.blackout?.median
            let change = RegressionCheck.change(from: baseMedian, to: newMedian)
            comparisons.append(CellComparison(
                scenario: cell.scenario, chain: cell.chain, baseVerdict: old.verdict, newVerdict: cell.verdict,
                baseFailureClass: old.failureClass, newFailureClass: cell.failureClass, baseMedian: baseMedian,
                newMedian: newMedian, change: change.map { $0 * 100 }, regressions: regressions, blackoutChange: judged,
                clock: guest ? .guest : .host, note: note(old: old, new: cell, judged: judged, regressions: regressions)))
        }
        for cell in base.cells where seen.insert(key(cell)).inserted {
            comparisons.append(CellComparison(
                scenario: cell.scenario, chain: cell.chain, baseVerdict: cell.verdict, newVerdict: nil,
                baseFailureClass: cell.failureClass, newFailureClass: nil, baseMedian: cell.blackout?.median,
                newMedian: nil, change: nil, regressions: [], note: "removed"))
        }
        return comparisons
    }

    /// A table, one line per cell, then the regressions spelled out.
    public static func text(_ comparisons: [CellComparison]) -> String {
        let header = ["CELL", "BASE", "NEW", "BASE MEDIAN", "NEW MEDIAN", "CLOCK", "CHANGE", "NOTE"]
        let rows = comparisons.map {
            [
                $0.name,
                RegressionCheck.verdictText($0.baseVerdict, $0.baseFailureClass),
                RegressionCheck.verdictText($0.newVerdict, $0.newFailureClass),
                RegressionCheck.milliseconds($0.baseMedian),
                RegressionCheck.milliseconds($0.newMedian),
                ($0.clock ?? .host).rawValue,
                $0.blackoutChange?.interval != nil ? $0.blackoutChange!.changeText : $0.change.map { String(format: "%+.1f%%", $0) } ?? "-",
                $0.note,
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ fields: [String]) -> String {
            fields.enumerated().map { column, field in
                column == fields.count - 1 ? field : field.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines = [line(header)] + rows.map(line)
        let regressed = comparisons.filter { !$0.regressions.isEmpty }
        let added = comparisons.filter { $0.baseVerdict == nil }.count
        let removed = comparisons.filter { $0.newVerdict == nil }.count
        lines.append("")
        lines.append("\(comparisons.count) cells: \(regressed.count) regressed, \(added) added, \(removed) removed")
        let judged = comparisons.filter { $0.blackoutChange != nil }
        if !judged.isEmpty {
            lines.append("Blackouts (guest clock: the medians against the threshold; host clock: bootstrap interval of the ratio of medians and Mann–Whitney, disturbed repeats left out):")
            for comparison in judged { lines.append("  \(comparison.name): \(comparison.blackoutChange!.text)") }
        }
        if !regressed.isEmpty {
            lines.append("Regressions:")
            for comparison in regressed {
                for regression in comparison.regressions { lines.append("  \(comparison.name): \(regression.message)") }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A results folder (with summary.json inside), a summary.json file, or a matrix run id in
    /// the history (the summary rebuilt from the stored rows).
    public static func loadSummary(_ reference: String, store: HistoryStore?) throws -> MatrixSummary {
        let manager = FileManager.default
        let url = URL(fileURLWithPath: reference)
        var file: URL?
        if manager.isDirectory(url) {
            let inside = url.appendingPathComponent("summary.json")
            if manager.fileExists(atPath: inside.path) { file = inside }
        } else if reference.hasSuffix(".json"), manager.fileExists(atPath: url.path) {
            file = url
        }
        if let file {
            do {
                return try JSONCoding.decode(MatrixSummary.self, from: file)
            } catch {
                throw HarnessError(.io, "cannot read the matrix summary \(file.path): \(error)")
            }
        }
        if let store, let stored = try store.summary(id: reference) {
            return stored.summary
        }
        if manager.isDirectory(url) {
            throw HarnessError(.notFound, "\(reference) has no summary.json and is no matrix run in the history")
        }
        let history = store.map { "the history \($0.path.path)" } ?? "the history (none was opened)"
        throw HarnessError(.notFound, "\(reference) is neither a results folder with summary.json nor a matrix run in \(history)")
    }

    // MARK: Helpers

    private static func key(_ cell: MatrixCell) -> String {
        HistoryStore.cellKey(scenario: cell.scenario, chain: cell.chain)
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    private static func note(old: MatrixCell, new: MatrixCell, judged: BlackoutChange?, regressions: [Regression]) -> String {
        if !regressions.isEmpty {
            return "regressed (\(regressions.map(\.kind.rawValue).joined(separator: ", ")))"
        }
        var better: [String] = []
        if new.verdict < old.verdict { better.append("verdict") }
        if judged?.finding == .improved { better.append("blackout") }
        if !better.isEmpty { return "improved (\(better.joined(separator: ", ")))" }
        if judged?.finding == .inconclusive { return "inconclusive (blackout)" }
        return "unchanged"
    }
}
