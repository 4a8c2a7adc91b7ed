import Foundation
import HandoverCore
import HandoverResults

/// Flags what got worse in a cell against its baseline.
public enum RegressionCheck {
    /// The regressions of `cell` against `baseline`:
    /// - `.verdict` when the verdict is worse than the baseline's (pass → anything else,
    ///   unsupported → fail or error, fail → error), or when it is the same non-pass verdict with
    ///   another failure class;
    /// - `.blackout` when the blackout grew beyond `threshold` (0.10 = 10%) with confidence:
    ///   `BlackoutChange` judges the repeats of both sides (disturbed repeats left out) and flags
    ///   only when its interval of the ratio of medians lies entirely above 1 + threshold. A
    ///   faster cell is not a regression; without repeats on both sides there is nothing to compare.
    ///
    /// No baseline, no regressions.
    public static func regressions(cell: MatrixCell, baseline: StoredCell?, baselineLabel: String?, threshold: Double,
                                   sensitivity: Double? = nil) -> [Regression] {
        judge(cell: cell, baseline: baseline, baselineLabel: baselineLabel, threshold: threshold, sensitivity: sensitivity).regressions
    }

    /// The regressions and the blackout's judgement.
    /// `judgeDisturbed` keeps repeats taken under host contention in (`matrix --allow-contention`).
    /// When both sides carry guest-clock blackouts (guest timing), those are judged instead:
    /// deterministic, one repeat a side decides, against `threshold` or `absoluteThreshold`
    /// (seconds) as given; contention leaves nothing out there.
    public static func judge(cell: MatrixCell, baseline: StoredCell?, baselineLabel: String?, threshold: Double,
                             sensitivity: Double? = nil, judgeDisturbed: Bool = false,
                             absoluteThreshold: Double? = nil) -> (regressions: [Regression], change: BlackoutChange?) {
        guard let baseline else { return ([], nil) }
        return judge(
            cell: cell, baseVerdict: baseline.verdict, baseFailureClass: baseline.failureClass,
            baseSamples: baseline.cell.blackoutSamples, baseGuestSamples: baseline.cell.guestBlackoutSamples,
            baselineMatrix: baseline.matrixRunId, label: baselineLabel ?? baseline.matrixRunId, threshold: threshold,
            absoluteThreshold: absoluteThreshold, sensitivity: sensitivity, judgeDisturbed: judgeDisturbed)
    }

    static func judge(
        cell: MatrixCell, baseVerdict: Verdict, baseFailureClass: FailureClass?, baseSamples: [BlackoutSample],
        baseGuestSamples: [BlackoutSample] = [], baselineMatrix: String?, label: String, threshold: Double,
        absoluteThreshold: Double? = nil, sensitivity: Double?, judgeDisturbed: Bool = false
    ) -> (regressions: [Regression], change: BlackoutChange?) {
        var found: [Regression] = []
        let worse = cell.verdict > baseVerdict
        let otherClass = cell.verdict == baseVerdict && cell.verdict != .pass && cell.failureClass != baseFailureClass
        if worse || otherClass {
            let before = verdictText(baseVerdict, baseFailureClass)
            let after = verdictText(cell.verdict, cell.failureClass)
            found.append(Regression(
                kind: .verdict, message: "verdict \(before) → \(after) since \(label)",
                baselineMatrix: baselineMatrix, baselineValue: before, newValue: after))
        }
        let newGuestSamples = cell.guestBlackoutSamples
        if !baseGuestSamples.isEmpty, !newGuestSamples.isEmpty {
            let limit: BlackoutThreshold = absoluteThreshold.map { .seconds($0) } ?? .fraction(threshold)
            let judged = BlackoutChange(guestBase: baseGuestSamples, new: newGuestSamples, threshold: limit, sensitivity: sensitivity)
            if judged.finding == .regressed, let baseMedian = judged.baseMedian, let newMedian = judged.newMedian {
                found.append(Regression(
                    kind: .blackout,
                    message: "guest-clock blackout median \(guestMilliseconds(baseMedian)) → \(guestMilliseconds(newMedian)), \(judged.text), since \(label)",
                    baselineMatrix: baselineMatrix, baselineValue: guestMilliseconds(baseMedian), newValue: guestMilliseconds(newMedian)))
            }
            return (found, judged)
        }
        var baseSamples = baseSamples
        var newSamples = cell.blackoutSamples
        guard !baseSamples.isEmpty, !newSamples.isEmpty else { return (found, nil) }
        var threshold = threshold
        if let absoluteThreshold {
            threshold = BlackoutThreshold.seconds(absoluteThreshold).fraction(of: SampleMath.median(baseSamples.map(\.total)))
        }
        if judgeDisturbed {
            for index in baseSamples.indices { baseSamples[index].disturbed = false }
            for index in newSamples.indices { newSamples[index].disturbed = false }
        }
        let judged = BlackoutChange(base: baseSamples, new: newSamples, threshold: threshold, sensitivity: sensitivity)
        if judged.finding == .regressed, let baseMedian = judged.baseMedian, let newMedian = judged.newMedian {
            found.append(Regression(
                kind: .blackout,
                message: "blackout median \(milliseconds(baseMedian)) → \(milliseconds(newMedian)), \(judged.text), since \(label)",
                baselineMatrix: baselineMatrix, baselineValue: milliseconds(baseMedian), newValue: milliseconds(newMedian)))
        }
        return (found, judged)
    }

    /// Fills every cell's regressions against its last good cell in the history (a matrix run
    /// that started before this one, under the same accelerator) and describes the baseline in
    /// `summary.baseline`. `excluding` names this run when it is already recorded, so it is not
    /// its own baseline.
    public static func apply(to summary: inout MatrixSummary, store: HistoryStore, threshold: Double, sensitivity: Double? = nil,
                             judgeDisturbed: Bool = false, excluding: String? = nil, absoluteThreshold: Double? = nil) throws {
        var sources: [String: Int] = [:]
        var without = 0
        for index in summary.cells.indices {
            let cell = summary.cells[index]
            let baseline = try store.lastGood(
                scenario: cell.scenario, chain: cell.chain, before: summary.startedAt,
                accelerator: summary.accelerator, excluding: excluding)
            if let baseline {
                sources[baseline.matrixRunId, default: 0] += 1
            } else {
                without += 1
            }
            let judged = judge(cell: cell, baseline: baseline, baselineLabel: baseline?.matrixRunId, threshold: threshold,
                               sensitivity: sensitivity, judgeDisturbed: judgeDisturbed, absoluteThreshold: absoluteThreshold)
            summary.cells[index].regressions = judged.regressions
            summary.cells[index].blackoutChange = judged.change
        }
        summary.regressionThreshold = threshold
        summary.baseline = describe(sources: sources, without: without, accelerator: summary.accelerator)
    }

    static func describe(sources: [String: Int], without: Int, accelerator: String) -> String {
        guard !sources.isEmpty else {
            return "no earlier good run of these cells under accelerator \(accelerator) in the history"
        }
        let runs = sources.sorted { $0.key < $1.key }.map { "\($0.key) (\(cells($0.value)))" }
        var text = sources.count == 1
            ? "last good run of each cell under accelerator \(accelerator): \(runs[0])"
            : "last good run of each cell under accelerator \(accelerator), from \(sources.count) matrix runs: \(runs.joined(separator: ", "))"
        if without > 0 { text += "; \(cells(without)) without a baseline" }
        return text
    }

    // MARK: Formatting

    /// Relative change (0.25 = 25% slower); nil without both values or with a zero baseline.
    static func change(from base: Double?, to new: Double?) -> Double? {
        guard let base, let new, base > 0 else { return nil }
        return (new - base) / base
    }

    static func verdictText(_ verdict: Verdict?, _ failureClass: FailureClass?) -> String {
        guard let verdict else { return "-" }
        guard let failureClass else { return verdict.rawValue }
        return "\(verdict.rawValue) (\(failureClass.rawValue))"
    }

    static func milliseconds(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        return String(format: "%.1f ms", seconds * 1000)
    }

    /// Guest-clock seconds, to the microsecond.
    static func guestMilliseconds(_ seconds: Double) -> String {
        String(format: "%.3f ms", seconds * 1000)
    }

    static func percent(_ fraction: Double) -> String {
        String(format: "%+.1f%%", fraction * 100)
    }

    private static func cells(_ count: Int) -> String { count == 1 ? "1 cell" : "\(count) cells" }
}
