import CLiveUpdate

import HandoverCore

/// This boot's kernel log from /dev/kmsg: record times in µs since boot, read without
/// blocking and without slowing the boot the way reading the serial console would.
struct KernelLog {
    struct Record {
        var microseconds: Int
        var text: String
    }

    var records: [Record] = []
    /// The counter read right before a record was written to the log, with that record's time.
    var counter: CounterReading?

    static let anchorText = "handover: counter anchor"

    static func read() -> KernelLog {
        var log = KernelLog()
        var counter = anchorCounter()
        let fd = hv_open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return log }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { CLiveUpdate.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EPIPE { continue }  // overwritten records: skip ahead
            if count <= 0 { break }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            // "prio,seq,usec,flags;message\n continuation lines"
            guard let semicolon = text.firstIndex(of: ";") else { continue }
            let fields = text[..<semicolon].split(separator: ",")
            guard fields.count >= 3, let usec = Int(fields[2]) else { continue }
            let message = text[text.index(after: semicolon)...].split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
            if message == anchorText, counter != nil {
                counter!.printkMicros = usec
                log.counter = counter
                continue
            }
            log.records.append(Record(microseconds: usec, text: String(message)))
        }
        return log
    }

    /// Reads the counter and writes a debug record (kept off the console) that the kernel
    /// stamps with its printk clock a few instructions later.
    static func anchorCounter() -> CounterReading? {
        let fd = hv_open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let reading = Machine.counter
        let line = "<7>" + anchorText + "\n"
        let written = line.withCString { write(fd, $0, strlen($0)) }
        return written > 0 ? reading : nil
    }

    func first(_ message: KernelMessage) -> Record? { records.first { message.isIn($0.text) } }

    /// "Retrieved live update data, liveupdate number: N".
    var liveUpdateNumber: Int? {
        guard let line = first(.retrieved)?.text,
              let value = line.split(separator: ":").last.map({ String($0).trimmed }) else { return nil }
        return Int(value)
    }

    /// "KHO: exec from: 7.2.13 (count 1)" → ("7.2.13", 1).
    var previousKernel: (release: String, count: Int?)? {
        guard let line = first(.execFrom)?.text,
              let rest = line.text(after: KernelMessage.execFrom.rawValue)?.trimmed else { return nil }
        let release = rest.split(separator: " ").first.map(String.init) ?? rest
        var count: Int?
        if let after = rest.text(after: "(count ") {
            count = Int(after.prefix { $0.isNumber })
        }
        return (release, count)
    }

    /// Lines of the live update subsystems, which say how the handover went.
    var liveUpdateLines: [String] {
        records.map { $0.text }.filter { text in
            (text.hasPrefix("luo:") || text.hasPrefix("KHO:") || KernelMessage.retrieved.isIn(text)) && !text.includes("command line")
        }
    }

    /// printk times of the boot milestones the runner uses to split the blackout.
    var bootMarks: [BootMark: Int] {
        var marks: [BootMark: Int] = [:]
        if let first = records.first { marks[.firstRecord] = first.microseconds }
        for mark in BootMark.allCases {
            for message in mark.messages { if let record = first(message) { marks[mark] = record.microseconds } }
        }
        return marks
    }

    /// Each initcall's return, when the kernel booted with initcall_debug.
    var initcalls: [InitcallTiming]? {
        let found = records.compactMap { InitcallTiming.parse($0.text, microseconds: $0.microseconds) }
        return found.isEmpty ? nil : found
    }
}
