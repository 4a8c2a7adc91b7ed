import HandoverCore

/// Splits the new kernel's boot, its first console line to "Run /init", along the path of its
/// init thread: initcalls run one after the other there, while the initramfs is unpacked
/// beside them and waited for at the end. Every boundary (a printk time) is placed on the
/// host clock by `host`, so the steps add up to the kernel boot exactly.
package enum BootAttribution {
    /// Initcalls named one by one; the rest are summed.
    static let namedInitcalls = 8
    /// A gap between two initcalls this long is named by the initcall it precedes.
    static let namedGapMicros = 50_000

    /// `zero` is the host time the boot starts; `host` maps a printk time (µs) to host seconds.
    static func steps(initcalls: [InitcallTiming], marks: [BootMark: Int], runInit: Int, zero: Double,
                      host: (Int) -> Double) -> [BootStep]? {
        let calls = initcalls.filter { $0.finishMicros <= runInit }.sorted { $0.finishMicros < $1.finishMicros }
        guard let first = calls.first else { return nil }
        func span(_ from: Int, _ to: Int) -> Double { max(0, host(to) - host(from)) }
        var cursor = max(0, min(first.startMicros, runInit))
        var steps = [BootStep(name: "early boot (to the first initcall)", kind: .early, seconds: max(0, host(cursor) - zero))]
        var own: [(name: String, seconds: Double)] = []
        var gaps: [(before: String, micros: Int, seconds: Double)] = []
        for call in calls {
            let start = max(call.startMicros, cursor)
            if start > cursor { gaps.append((call.name, start - cursor, span(cursor, start))) }
            own.append((call.name, span(start, max(start, call.finishMicros))))
            cursor = max(cursor, call.finishMicros)
        }
        let ranked = own.enumerated().sorted { ($0.element.seconds, $1.offset) > ($1.element.seconds, $0.offset) }.map(\.element)
        for call in ranked.prefix(namedInitcalls) where call.seconds > 0 {
            steps.append(BootStep(name: "initcall \(call.name)", kind: .initcall, seconds: call.seconds))
        }
        let rest = ranked.dropFirst(namedInitcalls)
        if !rest.isEmpty {
            steps.append(BootStep(name: "other initcalls (\(rest.count))", kind: .otherInitcalls, seconds: rest.reduce(0) { $0 + $1.seconds }))
        }
        for gap in gaps where gap.micros >= namedGapMicros {
            steps.append(BootStep(name: "between initcalls, before \(gap.before)", kind: .between, seconds: gap.seconds))
        }
        let shortGaps = gaps.filter { $0.micros < namedGapMicros }
        if !shortGaps.isEmpty {
            steps.append(BootStep(name: "between the other initcalls", kind: .between, seconds: shortGaps.reduce(0) { $0 + $1.seconds }))
        }
        if let unpacked = marks[.unpackEnd], unpacked > cursor {
            let end = min(unpacked, runInit)
            steps.append(BootStep(name: "waiting for the initramfs unpacking", kind: .initramfsWait, seconds: span(cursor, end)))
            cursor = end
        }
        steps.append(BootStep(name: "to /init (freeing init memory)", kind: .toInit, seconds: span(cursor, runInit)))
        return steps
    }
}
