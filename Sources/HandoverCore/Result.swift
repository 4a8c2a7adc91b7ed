/// What a run concluded, in the terms of the design: a verdict and, for failures, a class.
public enum Verdict: String, Sendable, Comparable {
    case pass
    /// The first kernel cannot preserve what the scenario needs; nothing was promised.
    case unsupported
    /// Restored state differs, or a required step failed.
    case fail
    /// The harness or the host broke; says nothing about the kernels.
    case error

    private var rank: Int {
        switch self {
        case .pass: 0
        case .unsupported: 1
        case .fail: 2
        case .error: 3
        }
    }

    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
}

public enum FailureClass: String, Sendable, CaseIterable {
    case preserveFailed = "preserve-failed"
    case kexecLoadFailed = "kexec-load-failed"
    case abiIncompatible = "abi-incompatible"
    case newKernelPanic = "new-kernel-panic"
    case bootTimeout = "boot-timeout"
    case retrieveFailed = "retrieve-failed"
    case stateMismatch = "state-mismatch"
    case finishFailed = "finish-failed"
    case agentCrash = "agent-crash"
    /// The VM running in the guest did not continue where it stopped (its vCPU state or its
    /// progress came back different).
    case vmDiscontinuity = "vm-discontinuity"
    /// One of the kernel's own live update selftests failed.
    case selftestFailed = "selftest-failed"
    case infrastructure
}

#if !hasFeature(Embedded)
/// The clock a blackout's seconds are on.
public enum BlackoutClock: String, Codable, Sendable, CaseIterable {
    /// The runner's monotonic clock: what a user waits, and whatever the host did meanwhile.
    case host
    /// The guest's counter under QEMU's icount: virtual seconds, instructions times a constant.
    case guest
}

/// The blackout: from the arrival of `quiesce` to the arrival of `resumed` on the host clock,
/// split into phases. Guest-clock phases come from the new kernel's printk times and the
/// agent's monotonic clock; `unaccounted` is what the host saw beyond their sum.
/// A guest-clock blackout (`clock` guest) has the same phases, every one of them read on the
/// guest's own clock: the counter at quiesce → the counter after the last retrieve.
public struct Blackout: Codable, Sendable, Equatable {
    /// Absent in host-clock blackouts recorded before guest timing.
    public var clock: BlackoutClock?
    public var measuredOn: BlackoutClock { clock ?? .host }
    public var total: Double
    /// quiesce → the new kernel's first console line (old kernel shutdown, kexec,
    /// decompression, early set-up before the console), or with a quiet console the agent's
    /// clock zero.
    public var shutdown: Double?
    /// The new kernel's first console line → "Run /init", on the host clock.
    public var kernelBoot: Double?
    /// "Run /init" → the agent running (static binary start, mounts, kernel log, port).
    public var agentStart: Double?
    /// The agent's retrieve of every session and fd.
    public var restore: Double?
    /// The rest: message delivery and clock estimation error.
    public var unaccounted: Double?
    /// Inside `shutdown`: quiesce → the old kernel's "Starting new kernel" on the console (the
    /// agent's reboot(KEXEC), LUO/KHO freezing and serializing, devices shut down)...
    public var oldKernel: Double?
    /// ...and from there to the new kernel's first console line (purgatory's digest check of
    /// every segment, decompression, early set-up until the console is registered).
    public var jump: Double?
    /// Inside `kernelBoot`: unpacking the initramfs ("Trying to unpack rootfs" to "Freeing
    /// initrd memory"), which grows with the harness's payload.
    public var initramfsUnpack: Double?
    /// `kernelBoot` along the path the kernel's init thread takes, with initcall_debug: early
    /// boot, the longest initcalls by name, the other initcalls, the gaps between them, the wait
    /// for the initramfs and the rest to /init. Their seconds add up to `kernelBoot`.
    public var kernelBootSteps: [BootStep]?
    /// Inside `kernelBoot`: the host time the new kernel's printk clock did not count (its
    /// early TSC calibration is off under TCG), the kernel boot on the host clock minus the
    /// printk time of "Run /init". Printk-timed phases are placed on the host clock by the
    /// console lines near them.
    public var printkClockLag: Double?
    /// The share of `total` the named phases explain: 1 - |unaccounted| / total.
    public var attributedShare: Double?

    public init(total: Double, shutdown: Double? = nil, kernelBoot: Double? = nil, agentStart: Double? = nil,
                restore: Double? = nil, unaccounted: Double? = nil) {
        self.total = total
        self.shutdown = shutdown
        self.kernelBoot = kernelBoot
        self.agentStart = agentStart
        self.restore = restore
        self.unaccounted = unaccounted
    }
}

/// One step of the new kernel's boot to /init (see `Blackout.kernelBootSteps`).
public struct BootStep: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Clock zero to the first initcall (memory, CPUs, early initcalls' set-up).
        case early
        case initcall
        /// The initcalls not named one by one, together.
        case otherInitcalls
        /// Between one initcall's return and the next one's start.
        case between
        /// The init thread waiting for the asynchronous initramfs unpacking.
        case initramfsWait
        /// The last initcall (or the unpacking) to "Run /init": freeing init memory.
        case toInit
    }

    public var name: String
    public var kind: Kind
    public var seconds: Double

    public init(name: String, kind: Kind, seconds: Double) {
        self.name = name
        self.kind = kind
        self.seconds = seconds
    }
}

public struct Statistics: Codable, Sendable, Equatable {
    public var count: Int
    public var min: Double
    public var median: Double
    public var p95: Double
    public var max: Double
    public var mean: Double
    /// Standard deviation over the mean; 0 for a single value.
    public var coefficientOfVariation: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        count = sorted.count
        min = sorted.first!
        max = sorted.last!
        median = Statistics.quantile(sorted, 0.5)
        p95 = Statistics.quantile(sorted, 0.95)
        let average = sorted.reduce(0, +) / Double(sorted.count)
        mean = average
        let variance = sorted.count > 1 ? sorted.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(sorted.count - 1) : 0
        coefficientOfVariation = average > 0 ? variance.squareRoot() / average : 0
    }

    /// max / min - 1: how far apart the extremes are (0 for one value).
    public var spread: Double { min > 0 ? max / min - 1 : 0 }

    /// Linear interpolation between closest ranks.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted[0] }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position)
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }
}
#endif
