import Foundation
import HandoverCore

/// Reads the serial console for what explains a run's end: the kernel's own words about the
/// handover and panics. The lines before a panic decide its class.
public enum ConsoleAnalysis {
    public static func refusal(in lines: [String]) -> String? {
        lines.first { line in KernelMessage.refusals.contains { $0.isIn(line) } }.map(stripTime)
    }

    /// The panic line and the lines just before it.
    public static func panic(in lines: [String]) -> (line: String, context: [String])? {
        guard let index = lines.firstIndex(where: KernelMessage.panic.isIn) else { return nil }
        return (stripTime(lines[index]), lines[max(0, index - 8)...index].map(stripTime))
    }

    /// The printk time at the start of a console line ("[    1.234567] ..."): seconds, a dot
    /// and six digits of microseconds. A line the serial console lost characters of ("[ 489450]
    /// smpboot: ...", seen under host load) has none.
    public static func printkTime(_ line: String) -> Double? {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
        let field = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
        let parts = field.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].count == 6,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
        return Double(field)
    }

    /// The line without its leading "[ time]" (any number there: this is for showing it).
    static func stripTime(_ line: String) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
              Double(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)) != nil else { return line }
        return line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
    }
}
