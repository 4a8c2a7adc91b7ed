/// A milestone of a kernel's boot, found in its log by the agent (`Hello.bootMarks`, printk
/// microseconds) and used by the runner to split the blackout.
public enum BootMark: String, Sendable, CaseIterable {
    /// The first record in the log buffer.
    case firstRecord = "first-record"
    case khoExecFrom = "kho-exec-from"
    case luoRetrieved = "luo-retrieved"
    case freeInitMemory = "free-init-memory"
    case runInit = "run-init"
    case unpackStart = "unpack-start"
    case unpackEnd = "unpack-end"

    /// The kernel message that marks it (first-record has none: it is the log's first line).
    public var messages: [KernelMessage] {
        switch self {
        case .firstRecord: []
        case .khoExecFrom: [.execFrom]
        case .luoRetrieved: [.retrieved]
        case .freeInitMemory: [.freeInitMemory]
        case .runInit: [.runInit]
        case .unpackStart: [.unpackStart, .unpackStartNoRamdisk]
        case .unpackEnd: [.unpackEnd]
        }
    }
}
