import Foundation
import HandoverCore
import HandoverResults

/// `compare`'s phase by phase view: for each cell both runs have, the median-blackout run of
/// each side, segment against segment, as text and as a standalone HTML page with the two
/// timelines drawn on one axis.
public enum CompareTimeline {
    public struct Pair: Sendable {
        public var name: String
        public var base: Blackout
        public var new: Blackout
    }

    /// Guest-clock timelines when both sides have them (guest timing), else the host clock's.
    public static func pairs(base: MatrixSummary, new: MatrixSummary) -> [Pair] {
        new.cells.compactMap { cell in
            guard let old = base.cells.first(where: { $0.scenario == cell.scenario && $0.chain == cell.chain }) else { return nil }
            if let a = old.medianGuestTimeline, let b = cell.medianGuestTimeline { return Pair(name: cell.name + " (guest clock)", base: a, new: b) }
            guard let a = old.medianTimelineRun?.blackoutDetail, let b = cell.medianTimelineRun?.blackoutDetail else { return nil }
            return Pair(name: cell.name, base: a, new: b)
        }
    }

    /// Segments matched by kind (a label carries figures that differ between the sides, such
    /// as the initramfs unpack time in the kernel boot's), by name only for the kinds a
    /// timeline has several of (initcalls, the gaps between them), in the new run's order,
    /// then those only the base has.
    static func rows(_ pair: Pair) -> [(name: String, base: Double?, new: Double?)] {
        func key(_ segment: TimelineSegment) -> String {
            switch segment.kind {
            case .initcall, .between: "\(segment.kind.rawValue): \(segment.name)"
            default: segment.kind.rawValue
            }
        }
        let old = pair.base.timeline, now = pair.new.timeline
        var rows = now.map { segment in (name: segment.name, base: old.first { key($0) == key(segment) }?.seconds, new: Optional(segment.seconds)) }
        for segment in old where !now.contains(where: { key($0) == key(segment) }) {
            rows.append((segment.name, segment.seconds, nil))
        }
        return rows
    }

    public static func text(_ pairs: [Pair]) -> String {
        guard !pairs.isEmpty else { return "" }
        var lines = ["Phases side by side (the run with the median blackout of each side; ms):"]
        func ms(_ value: Double?) -> String { value.map { String(format: "%9.1f", $0 * 1000) } ?? "        -" }
        for pair in pairs {
            lines.append("  \(pair.name)")
            lines.append("         BASE       NEW     CHANGE  PHASE")
            for row in rows(pair) {
                let change = row.base.flatMap { b in row.new.map { String(format: "%+9.1f", ($0 - b) * 1000) } } ?? "        -"
                lines.append("    \(ms(row.base)) \(ms(row.new))  \(change)  \(row.name)")
            }
            lines.append("    \(ms(pair.base.total)) \(ms(pair.new.total))  \(String(format: "%+9.1f", (pair.new.total - pair.base.total) * 1000))  blackout"
                         + (pair.base.attributedShare.flatMap { a in pair.new.attributedShare.map { String(format: " (attributed %.1f%% and %.1f%%)", a * 100, $0 * 100) } } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    public static func html(_ pairs: [Pair], baseLabel: String, newLabel: String, comparisonText: String) -> String {
        var body = ""
        for pair in pairs {
            let rows = [TimelineChart.Row(label: "base", segments: pair.base.timeline, note: "ms", total: pair.base.total),
                        TimelineChart.Row(label: "new", segments: pair.new.timeline, note: "ms", total: pair.new.total)]
            body += "<section><h2>\(ReportText.xmlEscape(pair.name))</h2>\n\(TimelineChart.svg(rows, title: "blackout timelines of \(pair.name)"))\n</section>\n"
        }
        if pairs.isEmpty { body = "<p>Neither side has a blackout with phases for the same cell.</p>" }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>handover compare</title>
        <style>body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; } svg { width: 100%; height: auto; } pre { background: #f6f8fa; padding: 10px; overflow-x: auto; }</style></head>
        <body><h1>handover compare</h1><p>base: \(ReportText.xmlEscape(baseLabel)) · new: \(ReportText.xmlEscape(newLabel))</p>
        \(body)<h2>Comparison</h2><pre>\(ReportText.xmlEscape(comparisonText))</pre></body></html>

        """
    }
}
