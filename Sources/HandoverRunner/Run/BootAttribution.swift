import HandoverCore

/// Splits the new kernel's boot, its clock zero to "Run /init", along the path of its init
/// thread: initcalls run one after the other there, while the initramfs is unpacked beside
/// them and waited for at the end. Every microsecond lands in exactly one step.
enum BootAttribution {
    /// Initcalls named one by one; the rest are summed.
    static let namedInitcalls = 8
    /// A gap between two initcalls this long is named by the initcall it precedes.
    static let namedGapMicros = 50_000

    static func steps(initcalls: [InitcallTiming], marks: [String: Int], runInit: Int) -> [BootStep]? {
        let calls = initcalls.filter { $0.finishMicros <= runInit }.sorted { $0.finishMicros < $1.finishMicros }
        guard let first = calls.first else { return nil }
        var cursor = max(0, min(first.startMicros, runInit))
        var steps = [BootStep(name: "early boot (to the first initcall)", kind: .early, seconds: seconds(cursor))]
        var own: [(name: String, micros: Int)] = []
        var gaps: [(before: String, micros: Int)] = []
        for call in calls {
            let start = max(call.startMicros, cursor)
            if start > cursor { gaps.append((call.name, start - cursor)) }
            own.append((call.name, max(0, call.finishMicros - start)))
            cursor = max(cursor, call.finishMicros)
        }
        let ranked = own.enumerated().sorted { ($0.element.micros, $1.offset) > ($1.element.micros, $0.offset) }
        for (_, call) in ranked.prefix(namedInitcalls) where call.micros > 0 {
            steps.append(BootStep(name: "initcall \(call.name)", kind: .initcall, seconds: seconds(call.micros)))
        }
        let rest = ranked.dropFirst(namedInitcalls).map(\.element)
        if !rest.isEmpty {
            steps.append(BootStep(name: "other initcalls (\(rest.count))", kind: .otherInitcalls,
                                  seconds: seconds(rest.reduce(0) { $0 + $1.micros })))
        }
        let longGaps = gaps.filter { $0.micros >= namedGapMicros }
        for gap in longGaps {
            steps.append(BootStep(name: "between initcalls, before \(gap.before)", kind: .between, seconds: seconds(gap.micros)))
        }
        let shortGaps = gaps.filter { $0.micros < namedGapMicros }
        if !shortGaps.isEmpty {
            steps.append(BootStep(name: "between the other initcalls", kind: .between,
                                  seconds: seconds(shortGaps.reduce(0) { $0 + $1.micros })))
        }
        if let unpacked = marks["unpack-end"], unpacked > cursor {
            let end = min(unpacked, runInit)
            steps.append(BootStep(name: "waiting for the initramfs unpacking", kind: .initramfsWait, seconds: seconds(end - cursor)))
            cursor = end
        }
        steps.append(BootStep(name: "to /init (freeing init memory)", kind: .toInit, seconds: seconds(max(0, runInit - cursor))))
        return steps
    }

    static func seconds(_ micros: Int) -> Double { Double(micros) / 1e6 }
}
