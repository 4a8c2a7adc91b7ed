import Foundation
import HandoverCore
import HandoverResults

/// Stacked horizontal bars, one per row, of blackout segments on a common millisecond axis,
/// as inline SVG (no scripts): each segment's colour says its kind, its tooltip its name and
/// length; the initcalls are drawn one by one inside the kernel boot.
public enum TimelineChart {
    public struct Row: Sendable {
        public var label: String
        public var segments: [TimelineSegment]
        public var note: String?
        /// The blackout, written at the bar's end (the segments can exceed it by a negative
        /// unaccounted remainder, which is not drawn).
        public var total: Double?

        public init(label: String, segments: [TimelineSegment], note: String? = nil, total: Double? = nil) {
            self.label = label
            self.segments = segments
            self.note = note
            self.total = total
        }
    }

    static let width = 1000.0
    static let left = 250.0
    static let right = 830.0
    static let rowHeight = 30.0
    static let top = 10.0

    static let colours: [TimelineSegment.Kind: String] = [
        .oldKernel: "#8250df", .jump: "#bf3989", .shutdown: "#a475f9",
        .early: "#0969da", .initcall: "#218bff", .otherInitcalls: "#54aeff", .between: "#80ccff",
        .initramfsWait: "#bc4c00", .toInit: "#0550ae", .kernelBoot: "#0969da",
        .agentStart: "#1a7f37", .restore: "#4ac26b", .unaccounted: "#afb8c1",
    ]

    static let legendNames: [(TimelineSegment.Kind, String)] = [
        (.oldKernel, "old kernel"), (.jump, "jump"), (.shutdown, "shutdown + jump"), (.early, "early boot"),
        (.initcall, "named initcall"), (.otherInitcalls, "other initcalls"), (.between, "between initcalls"),
        (.initramfsWait, "waiting for the initramfs"), (.toInit, "to /init"), (.kernelBoot, "kernel boot"),
        (.agentStart, "agent start"), (.restore, "restore"), (.unaccounted, "unaccounted"),
    ]

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    public static func svg(_ rows: [Row], title: String) -> String {
        let totals = rows.map { $0.segments.reduce(0) { $0 + max(0, $1.seconds) } * 1000 }
        let (end, step) = BlackoutChart.axis(maximum: totals.max() ?? 0)
        func x(_ ms: Double) -> Double { left + (right - left) * ms / end }
        let used = Set(rows.flatMap { $0.segments.map(\.kind) })
        let legend = legendNames.filter { used.contains($0.0) }
        let plotBottom = top + Double(rows.count) * rowHeight
        let legendTop = plotBottom + 52
        let height = legendTop + 18 * Double((legend.count + 4) / 5) + 4
        var out = "<svg viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\" aria-label=\"\(ReportText.xmlEscape(title, attribute: true))\" xmlns=\"http://www.w3.org/2000/svg\" style=\"font: 12px system-ui, sans-serif\">\n"
        var tick = 0.0
        while tick <= end + step / 1000 {
            out += "  <line x1=\"\(f(x(tick)))\" y1=\"\(f(top))\" x2=\"\(f(x(tick)))\" y2=\"\(f(plotBottom))\" stroke=\"#e6e9ed\"/>"
            out += "<text x=\"\(f(x(tick)))\" y=\"\(f(plotBottom + 14))\" text-anchor=\"middle\" fill=\"#59636e\">\(BlackoutChart.tickLabel(tick, step: step))</text>\n"
            tick += step
        }
        out += "  <text x=\"\(f((left + right) / 2))\" y=\"\(f(plotBottom + 28))\" text-anchor=\"middle\" fill=\"#59636e\">milliseconds from quiesce</text>\n"
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowHeight
            out += "  <text x=\"8\" y=\"\(f(y + 19))\" fill=\"#1f2328\">\(ReportText.xmlEscape(row.label))</text>\n"
            var at = 0.0
            for segment in row.segments where segment.seconds > 0 {
                let ms = segment.seconds * 1000
                let tip = "\(segment.name): \(String(format: "%.1f ms", ms))"
                out += "  <rect x=\"\(f(x(at)))\" y=\"\(f(y + 5))\" width=\"\(f(max(x(at + ms) - x(at), 0.5)))\" height=\"20\" fill=\"\(colours[segment.kind]!)\" stroke=\"#fff\" stroke-width=\"0.5\"><title>\(ReportText.xmlEscape(tip))</title></rect>\n"
                at += ms
            }
            let note = row.note.map { " " + $0 } ?? ""
            let shown = row.total.map { $0 * 1000 } ?? totals[index]
            out += "  <text x=\"\(f(x(at) + 6))\" y=\"\(f(y + 19))\" fill=\"#1f2328\" font-weight=\"700\">\(ReportText.xmlEscape(String(format: "%.0f", shown) + note))</text>\n"
        }
        for (index, (kind, name)) in legend.enumerated() {
            let lx = 8 + Double(index % 5) * 195, ly = legendTop + 18 * Double(index / 5)
            out += "  <rect x=\"\(f(lx))\" y=\"\(f(ly - 10))\" width=\"12\" height=\"12\" fill=\"\(colours[kind]!)\"/><text x=\"\(f(lx + 17))\" y=\"\(f(ly))\" fill=\"#59636e\">\(ReportText.xmlEscape(name))</text>\n"
        }
        return out + "</svg>"
    }

    /// The segments as lines of text, one per segment with its share of the blackout.
    public static func text(_ segments: [TimelineSegment], total: Double) -> [String] {
        segments.map { segment in
            String(format: "%9.1f ms %5.1f%%  ", segment.seconds * 1000, total > 0 ? segment.seconds / total * 100 : 0) + segment.name
        }
    }
}
