import Foundation
import HandoverCore
import HandoverResults

/// What a cell means for a CI report: the one place that decides how verdicts, allowed
/// unsupported cells and regressions map onto pass / failure / error / skipped, so the JUnit,
/// KTAP and HTML reports agree with `MatrixSummary.exitCode`.
enum ReportOutcome: Equatable {
    case pass
    /// `type` is the failure class, "unsupported", or "regression-<kind>".
    case failure(type: String, message: String)
    case error(type: String, message: String)
    case skipped(message: String)

    init(_ cell: MatrixCell) {
        switch cell.verdict {
        case .error:
            self = .error(type: FailureClass.infrastructure.rawValue, message: cell.reason)
        case .fail:
            self = .failure(type: cell.failureClass?.rawValue ?? "fail", message: cell.reason)
        case .unsupported where !cell.unsupportedAllowed:
            self = .failure(type: "unsupported", message: cell.reason)
        case .unsupported, .pass:
            if let regression = cell.regressions.first {
                self = .failure(type: "regression-\(regression.kind.rawValue)", message: regression.message)
            } else if cell.verdict == .unsupported {
                self = .skipped(message: "unsupported: \(cell.reason)")
            } else {
                self = .pass
            }
        }
    }
}

/// Text helpers shared by the report writers.
package enum ReportText {
    /// Removes terminal escape sequences (CSI such as colours, OSC such as titles, and two-byte
    /// escapes), which console logs of a serial line are full of.
    static func stripEscapes(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{1b}") || text.unicodeScalars.contains("\u{9b}") else { return text }
        var output = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar {
            case "\u{1b}":
                guard let next = scalars.next() else { break }
                if next == "[" {
                    skipCSI(&scalars)
                } else if next == "]" {
                    skipOSC(&scalars)
                }
                // Other two-byte escapes (ESC c, ESC 7, ...) are dropped whole.
            case "\u{9b}":
                skipCSI(&scalars)
            default:
                output.append(scalar)
            }
        }
        return String(output)
    }

    private static func skipCSI(_ scalars: inout String.UnicodeScalarView.Iterator) {
        // Parameter and intermediate bytes (0x20-0x3f), then one final byte (0x40-0x7e).
        while let scalar = scalars.next() {
            if (0x40...0x7e).contains(scalar.value) || !(0x20...0x3f).contains(scalar.value) { return }
        }
    }

    private static func skipOSC(_ scalars: inout String.UnicodeScalarView.Iterator) {
        // Ends at BEL or at ST (ESC \).
        while let scalar = scalars.next() {
            if scalar == "\u{07}" { return }
            if scalar == "\u{1b}" { _ = scalars.next(); return }
        }
    }

    /// Whether XML 1.0 allows the character at all (tab, newline, CR and the planes, minus
    /// the C0 controls and U+FFFE/U+FFFF).
    static func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    /// Text with escape sequences removed and every character XML 1.0 forbids dropped.
    static func xmlClean(_ text: String) -> String {
        let stripped = stripEscapes(text)
        var scalars = String.UnicodeScalarView()
        for scalar in stripped.unicodeScalars where isXMLCharacter(scalar) {
            // C1 controls are legal XML but garbage in a report; drop them too.
            if (0x7F...0x9F).contains(scalar.value) { continue }
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// Escaped for XML text content, or for an attribute value (where newlines and tabs are
    /// kept as character references, as a parser would otherwise fold them into spaces).
    static func xmlEscape(_ text: String, attribute: Bool = false) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for scalar in xmlClean(text).unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&apos;"
            case "\n" where attribute: output += "&#10;"
            case "\r": output += "&#13;"
            case "\t" where attribute: output += "&#9;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// A CDATA section holding `text`; "]]>" inside is split across two sections.
    static func cdata(_ text: String) -> String {
        "<![CDATA[" + xmlClean(text).replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>") + "]]>"
    }

    /// Text fit for display in HTML: escape sequences removed, other control characters shown
    /// in caret notation ("^G"; every font has those glyphs, unlike the control pictures), so
    /// nothing invisible or invalid reaches the page.
    static func displayable(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in stripEscapes(text).unicodeScalars {
            switch scalar.value {
            case 0x9, 0xA: scalars.append(scalar)
            case 0xD: continue
            case 0x0...0x1F: scalars.append("^"); scalars.append(Unicode.Scalar(0x40 + scalar.value)!)
            case 0x7F: scalars.append("^"); scalars.append("?")
            case 0x80...0x9F, 0xFFFE, 0xFFFF: scalars.append("\u{FFFD}")
            default: scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// One line: newlines and other controls become spaces.
    static func oneLine(_ text: String) -> String {
        let cleaned = xmlClean(text)
        var scalars = String.UnicodeScalarView()
        for scalar in cleaned.unicodeScalars {
            scalars.append(scalar.value < 0x20 ? " " : scalar)
        }
        return String(scalars).trimmingCharacters(in: .whitespaces)
    }

    static func milliseconds(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        return milliseconds(seconds)
    }

    static func milliseconds(_ seconds: Double) -> String {
        let ms = seconds * 1000
        return ms >= 100 ? String(format: "%.0f ms", ms) : String(format: "%.1f ms", ms)
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// "2026-05-01 10:00:00 UTC"
    static func readableTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return "\(total / 3600) h \(total % 3600 / 60) min"
    }
}

enum ReportData {
    /// The run whose verdict is the cell's (the first such, as the summary builder picks it).
    static func worstRun(_ cell: MatrixCell) -> MatrixRunRecord? {
        cell.runs.first { $0.verdict == cell.verdict } ?? cell.runs.max { $0.verdict < $1.verdict }
    }

    /// Scenarios in the order the matrix lists them.
    static func scenarios(_ summary: MatrixSummary) -> [String] {
        var seen: [String] = []
        for cell in summary.cells where !seen.contains(cell.scenario) { seen.append(cell.scenario) }
        return seen
    }

    /// Chains in the order the matrix lists them.
    static func chains(_ summary: MatrixSummary) -> [[String]] {
        var seen: [[String]] = []
        for cell in summary.cells where !seen.contains(cell.chain) { seen.append(cell.chain) }
        return seen
    }

    /// Linear interpolation between closest ranks, as `Statistics` does.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted[0] }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position)
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    /// Whether the ABI prediction and the observed verdict contradict each other.
    static func predictionDisagrees(_ cell: MatrixCell) -> Bool {
        guard let prediction = cell.prediction else { return false }
        switch prediction.outcome {
        case .compatible: return cell.verdict == .fail && cell.failureClass == .abiIncompatible
        case .incompatible: return cell.verdict == .pass
        case .unsupported: return cell.verdict == .pass || cell.verdict == .fail
        case .unknown: return false
        }
    }

    static func exitMeaning(_ code: Int32) -> String {
        switch code {
        case 0: "every cell passed (or was unsupported where the matrix allows it) and nothing regressed"
        case 1: "a cell failed, was unsupported where the matrix does not allow it, or regressed against the baseline"
        default: "the harness or the host broke (an error verdict or runs without a result): this says nothing about the kernels"
        }
    }
}
