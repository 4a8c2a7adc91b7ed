/// One initcall of a kernel's boot, as `initcall_debug` records it in the kernel log:
/// "initcall NAME+0x0/0x40 returned 0 after 123 usecs" (init/main.c). Without kallsyms the
/// kernel prints the function's address ("initcall 0xffffffff8321b0c0 returned ..."), which
/// is then the name. Plain Swift only: the agent parses these.
public struct InitcallTiming: Sendable, Equatable {
    public var name: String
    /// printk time (µs since boot) of the record, printed as the initcall returned.
    public var finishMicros: Int
    /// The initcall's own measure of its run.
    public var durationMicros: Int
    public var returned: Int

    public var startMicros: Int { finishMicros - durationMicros }

    public init(name: String, finishMicros: Int, durationMicros: Int, returned: Int = 0) {
        self.name = name
        self.finishMicros = finishMicros
        self.durationMicros = durationMicros
        self.returned = returned
    }

    /// Reads one kernel log record; nil unless it is an initcall's return.
    public static func parse(_ message: String, microseconds: Int) -> InitcallTiming? {
        let words = message.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count >= 7, words[0] == "initcall", words[2] == "returned", words[4] == "after", words[6] == "usecs",
              let returned = Int(words[3]), let duration = Int(words[5]), duration >= 0 else { return nil }
        var name = Substring(words[1])
        if let plus = name.firstIndex(of: "+") { name = name[..<plus] }
        return InitcallTiming(name: String(name), finishMicros: microseconds, durationMicros: duration, returned: returned)
    }
}

extension InitcallTiming: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("name", name)
            $0.add("finishMicros", finishMicros)
            $0.add("durationMicros", durationMicros)
            $0.add("returned", returned)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        name = try o.required("name")
        finishMicros = try o.required("finishMicros")
        durationMicros = try o.required("durationMicros")
        returned = try o.required("returned")
    }
}
