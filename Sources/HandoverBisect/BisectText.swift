import Foundation
import HandoverSupport

/// What `handover bisect` prints: the outcome first, then the log of steps.
public enum BisectText {
    public static func summary(_ record: BisectRecord, folder: URL) -> String {
        var lines: [String] = []
        let noun = record.request.mode == "tree" ? "commit" : "recipe"
        switch record.status {
        case .found:
            if let culprit = record.firstBad {
                lines.append("first bad \(noun): \(culprit.hash)")
                lines.append("  subject: \(culprit.subject)")
                if !culprit.author.isEmpty { lines.append("  author:  \(culprit.author)") }
            }
        case .ambiguous:
            lines.append("first bad \(noun) not pinned down: it is one of")
            for suspect in record.suspects ?? [] { lines.append("  \(suspect.hash) \(suspect.subject)") }
        case .refused:
            lines.append("nothing to bisect: \(record.conclusion ?? "")")
        case .running:
            lines.append("the bisection did not finish")
        }
        if record.status != .refused, let conclusion = record.conclusion { lines.append(conclusion) }
        lines.append("")
        lines.append(pad("step", 9) + pad(noun, 18) + pad("verdict", 8) + pad("build", 24) + "reason")
        for step in record.steps {
            let role: String
            switch step.role {
            case .goodEnd: role = "good end"
            case .badEnd: role = "bad end"
            case .step: role = "\(record.steps.filter { $0.role == .step }.firstIndex(of: step).map { $0 + 1 } ?? 0)"
            }
            lines.append(pad(role, 9) + pad(step.candidate.short, 18) + pad(step.verdict.rawValue, 8)
                         + pad(step.build.map(buildText) ?? "-", 24) + step.reason)
        }
        lines.append("")
        lines.append(String(format: "%d step(s) in %@; results: %@/%@ (git bisect log: bisect.log)",
                            record.steps.count, formatDuration(record.wallSeconds), folder.path, BisectRecord.fileName))
        return lines.joined(separator: "\n")
    }

    static func buildText(_ build: StepBuildRecord) -> String {
        if build.cached { return "cached" }
        return String(format: "%.0f s %@", build.seconds, build.incremental ? "incremental" : "cold")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
