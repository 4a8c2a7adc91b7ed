import Foundation

/// How contended the host's CPUs were over one blackout window (the agent's quiesce to its
/// resumed, on the host clock), from the kernel's pressure stall information and /proc/stat.
public struct HostContention: Codable, Sendable, Equatable {
    /// Host seconds between the two samples.
    public var window: Double
    /// Share of the window in which some runnable task on the host waited for a CPU: the
    /// growth of /proc/pressure/cpu's "some total" over the window's length.
    public var cpuSomeShare: Double?
    /// /proc/pressure/cpu's "some avg10" at the window's end, as a fraction (0.25 = 25%).
    public var cpuSomeAvg10: Double?
    /// Share of all CPU time over the window that the host's own hypervisor took (steal).
    public var steal: Double?
    /// Over a threshold: the blackout of this window is left out of regression judgements.
    public var disturbed: Bool

    /// A window in which runnable tasks waited for a CPU more than this share of the time is
    /// disturbed. One TCG VM with 2 vCPUs alone on 2 host cores stays well below it (its own
    /// threads, the runner and the host's daemons); a second busy VM or a browser on the host
    /// goes above it (Benchmarks/results has the measurements).
    public static let someShareThreshold = 0.30
    /// A window in which the hypervisor took more than this share of the CPU time is disturbed.
    public static let stealThreshold = 0.10

    public init(window: Double, cpuSomeShare: Double?, cpuSomeAvg10: Double?, steal: Double?) {
        self.window = window
        self.cpuSomeShare = cpuSomeShare
        self.cpuSomeAvg10 = cpuSomeAvg10
        self.steal = steal
        disturbed = (cpuSomeShare ?? 0) > Self.someShareThreshold || (steal ?? 0) > Self.stealThreshold
    }

    /// "CPU pressure 12% of the window (avg10 9%), steal 0.4%", with "disturbed" when it was.
    public var text: String {
        var parts: [String] = []
        if let cpuSomeShare {
            parts.append(String(format: "CPU pressure %.0f%% of the window", cpuSomeShare * 100)
                         + (cpuSomeAvg10.map { String(format: " (avg10 %.0f%%)", $0 * 100) } ?? ""))
        }
        if let steal { parts.append(String(format: "steal %.1f%%", steal * 100)) }
        if parts.isEmpty { parts.append("no pressure information on this host") }
        return parts.joined(separator: ", ") + (disturbed ? ": disturbed" : "")
    }
}

/// One reading of the host's CPU load counters.
public struct HostLoadSample: Sendable, Equatable {
    /// CLOCK_MONOTONIC seconds when read.
    public var time: Double
    /// "some total" of /proc/pressure/cpu, in microseconds.
    public var someTotal: UInt64?
    public var someAvg10: Double?
    /// The aggregate "cpu" line of /proc/stat: all ticks and steal ticks.
    public var ticks: UInt64?
    public var stealTicks: UInt64?
}

public enum HostLoad {
    public static func sample(pressure: String = "/proc/pressure/cpu", stat: String = "/proc/stat") -> HostLoadSample {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        var sample = HostLoadSample(time: Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
        if let text = try? String(contentsOfFile: pressure, encoding: .utf8) {
            (sample.someAvg10, sample.someTotal) = parsePressure(text)
        }
        if let text = try? String(contentsOfFile: stat, encoding: .utf8) {
            (sample.ticks, sample.stealTicks) = parseStat(text)
        }
        return sample
    }

    /// The contention between two samples; nil when they are not in order.
    public static func contention(from start: HostLoadSample, to end: HostLoadSample) -> HostContention? {
        let window = end.time - start.time
        guard window > 0 else { return nil }
        var someShare: Double?
        if let a = start.someTotal, let b = end.someTotal, b >= a {
            someShare = min(1, Double(b - a) / 1e6 / window)
        }
        var steal: Double?
        if let a = start.ticks, let b = end.ticks, let sa = start.stealTicks, let sb = end.stealTicks, b > a, sb >= sa {
            steal = Double(sb - sa) / Double(b - a)
        }
        return HostContention(window: window, cpuSomeShare: someShare, cpuSomeAvg10: end.someAvg10.map { $0 / 100 }, steal: steal)
    }

    /// "some avg10=1.50 avg60=… total=123" → (1.5, 123).
    package static func parsePressure(_ text: String) -> (avg10: Double?, total: UInt64?) {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("some ") }) else { return (nil, nil) }
        var avg10: Double?, total: UInt64?
        for field in line.split(separator: " ") {
            if field.hasPrefix("avg10=") { avg10 = Double(field.dropFirst(6)) }
            if field.hasPrefix("total=") { total = UInt64(field.dropFirst(6)) }
        }
        return (avg10, total)
    }

    /// "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time is
    /// already inside user and nice, so it is not added again.
    package static func parseStat(_ text: String) -> (ticks: UInt64?, steal: UInt64?) {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return (nil, nil) }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { return (nil, nil) }
        return (fields.prefix(8).reduce(0, +), fields[7])
    }
}
