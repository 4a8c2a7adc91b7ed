import Foundation
import Synchronization

/// ProgressReporter for long work on stderr: a line rewritten in place on a terminal, a line every
/// so often otherwise. Quiet when asked; verbose mode prints every detail line instead.
public final class ProgressReporter: Sendable {
    public enum Mode: Sendable { case quiet, normal, verbose }

    public let mode: Mode
    private let isTerminal: Bool
    private let state = Mutex<(lastPrint: Date, lastLength: Int)>((.distantPast, 0))
    private let interval: TimeInterval

    public init(mode: Mode, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.mode = mode
        self.isTerminal = isTerminal
        self.interval = isTerminal ? 0.2 : 30
    }

    /// A step that always shows (unless quiet): "building linux-7.3: configuring".
    public func step(_ text: String) {
        guard mode != .quiet else { return }
        clear()
        write(text + "\n")
    }

    /// A running status, rate-limited.
    public func status(_ text: String) {
        guard mode == .normal else { return }
        let now = Date()
        let shouldPrint = state.withLock { state -> Bool in
            guard now.timeIntervalSince(state.lastPrint) >= interval else { return false }
            state.lastPrint = now
            return true
        }
        guard shouldPrint else { return }
        if isTerminal {
            let padded = text.count < 120 ? text : String(text.prefix(117)) + "..."
            let previous = state.withLock { state in let l = state.lastLength; state.lastLength = padded.count; return l }
            write("\r" + padded + String(repeating: " ", count: max(0, previous - padded.count)))
        } else {
            write(text + "\n")
        }
    }

    /// A detail line, shown only with --verbose.
    public func detail(_ text: String) {
        guard mode == .verbose else { return }
        write(text + "\n")
    }

    public func clear() {
        guard isTerminal else { return }
        let length = state.withLock { state in let l = state.lastLength; state.lastLength = 0; return l }
        if length > 0 { write("\r" + String(repeating: " ", count: length) + "\r") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

public func formatDuration(_ seconds: Double) -> String {
    if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
    if seconds < 60 { return String(format: "%.1f s", seconds) }
    return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
}
