import Foundation
import HandoverCore
import Mustache
import HandoverSupport
import HandoverResults

/// The matrix as one self-contained HTML page (inline CSS, inline SVG, no scripts): a header
/// with the overall result, the scenario × chain verdict table, the blackout charts and a
/// details section per cell. The page is rendered from Templates/report.html.mustache; this
/// file only prepares the values (all text goes through the template's HTML escaping).
public enum HTMLReport {
    public static func html(_ summary: MatrixSummary) throws -> String {
        let template = try MustacheTemplate(string: try templateText())
        return template.render(context(summary))
    }

    public static func write(_ summary: MatrixSummary, to url: URL) throws {
        try AtomicFile.write(try html(summary), to: url)
    }

    // MARK: - Template

    static let templateName = "report"
    static let templateExtension = "html.mustache"

    /// Where the template is in the resource bundle. `Bundle.module.url(forResource:...)`
    /// is tried first; the bundle's resource folder is searched as a fallback, for platforms
    /// where the lookup does not see subfolders of a copied resource.
    package static var resourceBundle: Bundle { Bundle.module }

    package static func templateURL() throws -> URL {
        let bundle = resourceBundle
        if let url = bundle.url(forResource: templateName, withExtension: templateExtension, subdirectory: "Templates") {
            return url
        }
        let file = "\(templateName).\(templateExtension)"
        for base in [bundle.resourceURL, bundle.bundleURL].compactMap({ $0 }) {
            for candidate in [base.appendingPathComponent("Templates").appendingPathComponent(file), base.appendingPathComponent(file)]
            where FileManager.default.fileExists(atPath: candidate.path) {
                return candidate
            }
            if let found = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)?
                .compactMap({ $0 as? URL }).first(where: { $0.lastPathComponent == file }) {
                return found
            }
        }
        throw HarnessError(.notFound, "report template \(file) is not in the resource bundle \(bundle.bundlePath)")
    }

    package static func templateText() throws -> String {
        let url = try templateURL()
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw HarnessError(.io, "cannot read the report template \(url.path): \(error.localizedDescription)")
        }
    }

    // MARK: - Context

    static func verdictLabel(_ cell: MatrixCell) -> String {
        cell.verdict == .unsupported && cell.unsupportedAllowed ? "unsupported (allowed)" : cell.verdict.rawValue
    }

    /// CSS classes of a verdict: "v-pass", "v-fail", "v-error", "v-unsupported" (grey when the
    /// matrix allows it) plus "v-unsupported-denied" (amber) when it does not.
    static func verdictClass(_ verdict: Verdict, allowed: Bool = true) -> String {
        verdict == .unsupported && !allowed ? "v-unsupported v-unsupported-denied" : "v-\(verdict.rawValue)"
    }

    static func observed(_ cell: MatrixCell) -> String {
        cell.verdict.rawValue + (cell.failureClass.map { " (\($0.rawValue))" } ?? "")
    }

    static func link(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
    }

    static func context(_ summary: MatrixSummary) -> [String: Any] {
        let scenarios = ReportData.scenarios(summary)
        let chains = ReportData.chains(summary)
        let anchors = Dictionary(summary.cells.indices.map { (index: Int) -> (String, String) in
            let cell = summary.cells[index]
            return ("\(cell.scenario)\u{0}\(cell.chain.joined(separator: "\u{0}"))", "cell-\(index + 1)")
        }, uniquingKeysWith: { first, _ in first })
        func anchor(_ cell: MatrixCell) -> String {
            anchors["\(cell.scenario)\u{0}\(cell.chain.joined(separator: "\u{0}"))"] ?? "top"
        }

        let exitCode = summary.exitCode
        let overall = exitCode == 0 ? "pass" : exitCode == 1 ? "fail" : "error"
        let counts = summary.counts
        let regressed = summary.cells.filter { !$0.regressions.isEmpty }.count
        let disagreements = summary.cells.filter(ReportData.predictionDisagrees).count
        var chips: [[String: Any]] = [["label": "cells", "count": String(summary.cells.count), "cls": "neutral"]]
        for verdict in [Verdict.pass, .fail, .unsupported, .error] {
            chips.append(["label": verdict.rawValue, "count": String(counts[verdict] ?? 0), "cls": (counts[verdict] ?? 0) == 0 ? "zero v-\(verdict.rawValue)" : "v-\(verdict.rawValue)"])
        }
        if regressed > 0 { chips.append(["label": "regressed", "count": String(regressed), "cls": "regression"]) }
        if disagreements > 0 { chips.append(["label": "prediction disagrees", "count": String(disagreements), "cls": "disagree"]) }
        if !summary.missingRuns.isEmpty { chips.append(["label": "runs missing", "count": String(summary.missingRuns.count), "cls": "v-error"]) }
        if !summary.disagreements.isEmpty { chips.append(["label": "scenario/selftest disagreements", "count": String(summary.disagreements.count), "cls": "v-fail"]) }

        var meta: [[String: Any]] = [
            ["key": "started", "value": ReportText.readableTime(summary.startedAt)],
            ["key": "duration", "value": ReportText.duration(summary.finishedAt.timeIntervalSince(summary.startedAt))],
            ["key": "host", "value": summary.host],
            ["key": "accelerator", "value": summary.accelerator],
            ["key": "handover", "value": summary.handoverVersion],
            ["key": "matrix file", "value": summary.matrixFile],
            ["key": "runs", "value": String(summary.cells.reduce(0) { $0 + $1.runs.count })],
        ]
        if let isolation = summary.isolation { meta.append(["key": "isolation", "value": isolation]) }
        meta.append(["key": "baseline", "value": summary.baseline.map { "\($0) (threshold \(String(format: "%.0f%%", summary.regressionThreshold * 100)))" } ?? "none"])

        // The verdict table: a row per chain, a column per scenario.
        let rows: [[String: Any]] = chains.map { chain in
            let first = summary.cells.first { $0.chain == chain }!
            let cells: [[String: Any]] = scenarios.map { scenario in
                guard let cell = summary.cells.first(where: { $0.scenario == scenario && $0.chain == chain }) else {
                    return ["present": false]
                }
                return [
                    "present": true,
                    "anchor": anchor(cell),
                    "cls": verdictClass(cell.verdict, allowed: cell.unsupportedAllowed),
                    "verdict": verdictLabel(cell),
                    "hasClass": cell.failureClass != nil,
                    "failureClass": cell.failureClass?.rawValue ?? "",
                    "hasBlackout": cell.blackout != nil,
                    "blackout": ReportText.milliseconds(cell.blackout?.median),
                    "hasVMBlackout": cell.vmBlackout != nil,
                    "vmBlackout": ReportText.milliseconds(cell.vmBlackout?.median),
                    "runs": "\(cell.runs.count) run\(cell.runs.count == 1 ? "" : "s")",
                    "regressed": !cell.regressions.isEmpty,
                    "disagrees": ReportData.predictionDisagrees(cell),
                    "title": "\(cell.name): \(verdictLabel(cell)) — \(ReportText.oneLine(cell.reason))",
                ]
            }
            return [
                "label": chain.joined(separator: " → "),
                "releases": first.releases.joined(separator: " → "),
                "direction": first.direction.rawValue,
                "cells": cells,
            ]
        }

        // Details: cells that need attention first, each group in matrix order.
        let ordered = summary.cells.filter { !$0.acceptable || ReportData.predictionDisagrees($0) }
        let rest = summary.cells.filter { $0.acceptable && !ReportData.predictionDisagrees($0) }
        let detailGroups: [[String: Any]] = [
            ["title": "Needs attention", "count": String(ordered.count), "cells": ordered.map { details($0, anchor: anchor($0)) }, "empty": ordered.isEmpty],
            ["title": "Acceptable", "count": String(rest.count), "cells": rest.map { details($0, anchor: anchor($0)) }, "empty": rest.isEmpty],
        ].filter { !($0["empty"] as! Bool) }

        let timelines = scenarios.compactMap { scenario in timeline(scenario: scenario, cells: summary.cells.filter { $0.scenario == scenario }) }
        return [
            "name": summary.name,
            "overall": overall.uppercased(),
            "overallClass": "v-\(overall)",
            "exitCode": String(exitCode),
            "exitMeaning": ReportData.exitMeaning(exitCode),
            "meta": meta,
            "chips": chips,
            "hasDisagreements": !summary.disagreements.isEmpty,
            "disagreements": summary.disagreements.map { ["chain": $0.chain.joined(separator: " → "), "message": $0.message] },
            "hasMissing": !summary.missingRuns.isEmpty,
            "missing": summary.missingRuns.map { ["id": $0] },
            "scenarios": scenarios.map { ["name": $0] },
            "rows": rows,
            "hasCells": !summary.cells.isEmpty,
            "detailGroups": detailGroups,
            "charts": scenarios.map { scenario in BlackoutChart.make(scenario: scenario, cells: summary.cells.filter { $0.scenario == scenario }, anchor: anchor) },
            "timelines": timelines,
            "hasTimelines": !timelines.isEmpty,
            "generated": ReportText.readableTime(summary.finishedAt),
        ]
    }

    /// One scenario's timeline chart: a row per chain, the run with the median blackout.
    static func timeline(scenario: String, cells: [MatrixCell]) -> [String: Any]? {
        let rows = cells.compactMap { cell -> TimelineChart.Row? in
            guard let run = cell.medianTimelineRun, let blackout = run.blackoutDetail else { return nil }
            let share = blackout.attributedShare.map { String(format: "ms, %.1f%% attributed", $0 * 100) } ?? "ms"
            return TimelineChart.Row(label: cell.chain.joined(separator: " → ") + " (run \(run.repeatIndex))", segments: blackout.timeline, note: share, total: blackout.total)
        }
        guard !rows.isEmpty else { return nil }
        return ["scenario": scenario, "svg": TimelineChart.svg(rows, title: "blackout timeline for \(scenario)")]
    }

    static func details(_ cell: MatrixCell, anchor: String) -> [String: Any] {
        let worst = ReportData.worstRun(cell)
        let prediction = cell.prediction
        var blackout = "not measured"
        if let stats = cell.blackout {
            blackout = "median \(ReportText.milliseconds(stats.median)) · min \(ReportText.milliseconds(stats.min)) · p95 \(ReportText.milliseconds(stats.p95)) · max \(ReportText.milliseconds(stats.max))"
                + (stats.count > 1 ? String(format: " · CV %.1f%%", stats.coefficientOfVariation * 100) : "")
                + " (\(stats.count) value\(stats.count == 1 ? "" : "s"))"
        }
        if let stats = cell.guestBlackout {
            blackout = "host clock: " + blackout
                + String(format: "; guest clock (icount, virtual time): median %.3f ms · min %.3f ms · max %.3f ms · spread %.3f%%",
                         stats.median * 1000, stats.min * 1000, stats.max * 1000, stats.spread * 100)
        }
        if let stats = cell.vmBlackout {
            blackout += "; the VM's own: median \(ReportText.milliseconds(stats.median)) · min \(ReportText.milliseconds(stats.min)) · max \(ReportText.milliseconds(stats.max))"
        }
        let runs: [[String: Any]] = cell.runs.sorted { $0.repeatIndex < $1.repeatIndex }.map { run in
            [
                "repeatIndex": String(run.repeatIndex),
                "cls": verdictClass(run.verdict, allowed: cell.unsupportedAllowed),
                "verdict": run.verdict.rawValue,
                "failureClass": run.failureClass?.rawValue ?? "",
                "blackout": ReportText.milliseconds(run.blackout),
                "vmBlackout": run.vmBlackout.map { "VM \(ReportText.milliseconds($0))" } ?? "",
                "hops": run.hopBlackouts.count > 1 && run.hopBlackouts.contains { $0 != nil } ? run.hopBlackouts.map { ReportText.milliseconds($0) }.joined(separator: " + ") : "",
                "hasHops": run.hopBlackouts.count > 1 && run.hopBlackouts.contains { $0 != nil },
                "wall": String(format: "%.1f s", run.wallSeconds),
                "vm": run.vmSeconds.map { String(format: "%.1f s", $0) } ?? "",
                "setup": run.setupSeconds.map { String(format: "%.2f s", $0) } ?? "",
                "contention": run.contention?.text ?? "-",
                "disturbed": run.contention?.disturbed ?? false,
                "reason": ReportText.displayable(run.reason),
                "resultPath": link(run.resultPath),
                "hasConsole": run.consolePath != nil,
                "consolePath": link(run.consolePath ?? ""),
                "isWorst": run.id == worst?.id && Set(cell.runs.map(\.verdict)).count > 1,
            ]
        }
        return [
            "anchor": anchor,
            "scenario": cell.scenario,
            "chain": cell.chain.joined(separator: " → "),
            "releases": cell.releases.joined(separator: " → "),
            "direction": cell.direction.rawValue,
            "cls": verdictClass(cell.verdict, allowed: cell.unsupportedAllowed),
            "verdict": verdictLabel(cell),
            "reason": ReportText.displayable(cell.reason),
            "hasEvidence": cell.evidence != nil,
            "evidence": ReportText.displayable(cell.evidence ?? ""),
            "predicted": prediction?.outcome.rawValue ?? "no prediction",
            "predictedClass": prediction.map { "p-\($0.outcome.rawValue)" } ?? "p-unknown",
            "observed": observed(cell),
            "disagrees": ReportData.predictionDisagrees(cell),
            "predictionReasons": (prediction?.reasons ?? []).map { ["text": ReportText.displayable($0)] },
            "hasPredictionReasons": !(prediction?.reasons.isEmpty ?? true),
            "differences": (prediction?.differences ?? []).map { ["family": $0.family, "from": $0.from ?? "none", "to": $0.to ?? "none"] },
            "hasDifferences": !(prediction?.differences.isEmpty ?? true),
            "blackout": blackout,
            "hasTimeline": cell.medianTimelineRun != nil,
            "timelineRun": cell.medianTimelineRun.map { "run \($0.repeatIndex), the median blackout" } ?? "",
            "timeline": cell.medianTimelineRun?.blackoutDetail.map { TimelineChart.text($0.timeline, total: $0.total).joined(separator: "\n") } ?? "",
            "hasAttributed": cell.attributedShare != nil,
            "attributed": cell.attributedShare.map { String(format: "%.1f%% of the blackout in named phases (median over the runs)", $0 * 100) } ?? "",
            "hasPayload": cell.runs.contains { $0.payload != nil },
            "payload": (cell.runs.lazy.compactMap(\.payload).first ?? []).map { "stage \($0.stage) (\($0.kernel)): \($0.initramfsBytes) bytes" }.joined(separator: " · "),
            "hasJudgement": cell.blackoutChange != nil,
            "judgement": cell.blackoutChange?.text ?? "",
            "hasRegressions": !cell.regressions.isEmpty,
            "regressions": cell.regressions.map { regression in
                [
                    "kind": regression.kind.rawValue,
                    "message": ReportText.displayable(regression.message),
                    "baselineValue": regression.baselineValue,
                    "newValue": regression.newValue,
                    "hasBaselineMatrix": regression.baselineMatrix != nil,
                    "baselineMatrix": regression.baselineMatrix ?? "",
                ] as [String: Any]
            },
            "runs": runs,
            "hasConsole": !(worst?.consoleTail.isEmpty ?? true),
            "consoleOpen": !cell.acceptable,
            "consoleRun": worst.map { "run \($0.repeatIndex)" } ?? "",
            "consoleTail": ReportText.displayable((worst?.consoleTail ?? []).joined(separator: "\n")),
        ]
    }
}

/// The numbers of one scenario's blackout chart: a horizontal range/box plot per chain, in
/// milliseconds. The template draws the SVG elements from these.
enum BlackoutChart {
    static let width = 1000.0
    static let plotLeft = 290.0
    static let plotRight = 880.0
    static let rowHeight = 26.0
    static let headerHeight = 24.0
    static let top = 8.0
    static let axisHeight = 34.0

    static let directionOrder: [Direction] = [.upgrade, .rollback, .same, .chain]

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A round axis end and step covering `maximum` in about five ticks.
    static func axis(maximum: Double) -> (end: Double, step: Double) {
        guard maximum > 0 else { return (1, 0.2) }
        let rough = maximum / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        return (ceil(maximum / step) * step, step)
    }

    static func tickLabel(_ value: Double, step: Double) -> String {
        step >= 1 ? String(format: "%.0f", value) : step >= 0.1 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    }

    static func make(scenario: String, cells: [MatrixCell], anchor: (MatrixCell) -> String) -> [String: Any] {
        let values = cells.flatMap { $0.runs.compactMap(\.blackout) }.map { $0 * 1000 }
        let (end, step) = axis(maximum: values.max() ?? 0)
        func x(_ ms: Double) -> Double { plotLeft + (plotRight - plotLeft) * ms / end }

        var y = top
        var headers: [[String: Any]] = []
        var bars: [[String: Any]] = []
        var empty: [[String: Any]] = []
        for direction in directionOrder {
            let group = cells.filter { $0.direction == direction }
            guard !group.isEmpty else { continue }
            headers.append(["y": f(y + 16), "label": direction.rawValue, "direction": direction.rawValue,
                            "lineY": f(y + 12), "lineX2": f(width - 8)])
            y += headerHeight
            for cell in group {
                let middle = y + rowHeight / 2
                let label: [String: Any] = [
                    "label": cell.chain.joined(separator: " → "),
                    "anchor": anchor(cell),
                    "direction": direction.rawValue,
                    "verdictClass": HTMLReport.verdictClass(cell.verdict, allowed: cell.unsupportedAllowed),
                    "verdict": cell.verdict.rawValue,
                    "textY": f(middle + 4.5),
                    "dotY": f(middle),
                    "cy": f(middle),
                ]
                let sorted = cell.runs.compactMap(\.blackout).map { $0 * 1000 }.sorted()
                let disturbed = Set(cell.runs.filter { $0.contention?.disturbed == true }.compactMap(\.blackout).map { $0 * 1000 })
                guard !sorted.isEmpty else {
                    empty.append(label.merging(["noteX": f(plotLeft + 4), "note": "no blackout measured (\(cell.verdict.rawValue))"]) { a, _ in a })
                    y += rowHeight
                    continue
                }
                let minimum = sorted.first!, maximum = sorted.last!
                let q1 = ReportData.quantile(sorted, 0.25), median = ReportData.quantile(sorted, 0.5), q3 = ReportData.quantile(sorted, 0.75)
                bars.append(label.merging([
                    "minX": f(x(minimum)), "maxX": f(x(maximum)),
                    "capY1": f(middle - 5), "capY2": f(middle + 5),
                    "boxX": f(x(q1)), "boxWidth": f(max(x(q3) - x(q1), 1.5)),
                    "boxY": f(middle - 7), "boxHeight": f(14),
                    "medianX": f(x(median)), "medianY1": f(middle - 10), "medianY2": f(middle + 10),
                    "medianLabel": ReportText.milliseconds(median / 1000),
                    "medianLabelX": f(max(x(maximum), x(median)) + 8),
                    "points": sorted.map { ["px": f(x($0)), "disturbed": disturbed.contains($0)] as [String: Any] },
                    "tooltip": "\(cell.chain.joined(separator: " → ")): median \(ReportText.milliseconds(median / 1000)), p25 \(ReportText.milliseconds(q1 / 1000)), p75 \(ReportText.milliseconds(q3 / 1000)), min \(ReportText.milliseconds(minimum / 1000)), max \(ReportText.milliseconds(maximum / 1000)), \(sorted.count) run\(sorted.count == 1 ? "" : "s")",
                ]) { a, _ in a })
                y += rowHeight
            }
        }
        let plotBottom = y + 4
        guard !values.isEmpty else {
            // Nothing measured: no axis to draw, only the rows and their notes.
            return ["scenario": scenario, "width": f(width), "height": f(plotBottom + 4), "ticks": [[String: Any]](),
                    "headers": headers, "bars": bars, "empty": empty, "hasValues": false]
        }
        var ticks: [[String: Any]] = []
        var value = 0.0
        while value <= end + step / 1000 {
            ticks.append(["x": f(x(value)), "label": tickLabel(value, step: step)])
            value += step
        }
        return [
            "scenario": scenario,
            "width": f(width),
            "height": f(plotBottom + axisHeight),
            "plotLeft": f(plotLeft), "plotRight": f(plotRight),
            "gridTop": f(top), "gridBottom": f(plotBottom),
            "tickLabelY": f(plotBottom + 16),
            "axisLabelY": f(plotBottom + 30),
            "axisLabelX": f((plotLeft + plotRight) / 2),
            "ticks": ticks,
            "headers": headers,
            "bars": bars,
            "empty": empty,
            "hasValues": !values.isEmpty,
        ]
    }
}
