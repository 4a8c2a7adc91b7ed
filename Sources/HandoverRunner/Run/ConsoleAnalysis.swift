import Foundation

/// Reads the serial console for what explains a run's end: the kernel's own words about the
/// handover and panics. The lines before a panic decide its class.
public enum ConsoleAnalysis {
    /// Lines by which a new kernel says it refuses or lost the handed-over state.
    /// The old kernel's last line before it jumps: kernel/kexec_core.c, kernel_kexec(),
    /// pr_notice("Starting new kernel") (with pr_fmt "kexec_core: "), in 7.2 and 7.3.
    static let kexecStarting = "Starting new kernel"

    static let refusalMarkers = [
        "LUO state is incompatible with",
        "No registered handler for compatible",
        "Failed to deserialize files for session",
        "failed to retrieve LUO state",
        "LUO state is too small",
        "Disabling liveupdate because KHO is disabled",
        "The incoming tree failed to initialize",
    ]

    public static func refusal(in lines: [String]) -> String? {
        lines.first { line in refusalMarkers.contains { line.contains($0) } }.map(stripTime)
    }

    /// The panic line and the lines just before it.
    public static func panic(in lines: [String]) -> (line: String, context: [String])? {
        guard let index = lines.firstIndex(where: { $0.contains("Kernel panic - not syncing") }) else { return nil }
        return (stripTime(lines[index]), lines[max(0, index - 8)...index].map(stripTime))
    }

    /// The printk time at the start of a console line ("[    1.234567] ...").
    public static func printkTime(_ line: String) -> Double? {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
        return Double(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces))
    }

    static func stripTime(_ line: String) -> String {
        guard printkTime(line) != nil, let close = line.firstIndex(of: "]") else { return line }
        return line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
    }
}
