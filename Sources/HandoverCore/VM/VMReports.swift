/// What the agent's VM says over the protocol.

/// One moment of the guest's progress, sent the moment it happens: the last exit before a
/// pause (vcpuStopped) or the first exit after a resume (vcpuRunning). The runner's arrival
/// times of the two bracket the VM's own blackout.
public struct GuestSample: Codable, Sendable, Equatable {
    public var stage: Int
    /// The guest's progress counter at this exit.
    public var counter: UInt64
    /// I/O exits in this stage so far.
    public var exits: Int
    /// The agent's CLOCK_MONOTONIC (µs since this kernel started).
    public var clock: Int

    public init(stage: Int, counter: UInt64, exits: Int, clock: Int) {
        self.stage = stage
        self.counter = counter
        self.exits = exits
        self.clock = clock
    }
}

/// Whether the guest continued exactly where it stopped: its first report after the resume is
/// the next one in sequence, and its cursor and the counter in its memory agree with it.
public struct GuestContinuity: Codable, Sendable, Equatable {
    public var counterAtPause: UInt64
    public var expectedCounter: UInt64
    public var observedCounter: UInt64
    public var expectedCursor: UInt64
    public var observedCursor: UInt64
    public var counterInMemory: UInt64
    public var ok: Bool

    public init(counterAtPause: UInt64, expectedCounter: UInt64, observedCounter: UInt64, expectedCursor: UInt64,
                observedCursor: UInt64, counterInMemory: UInt64) {
        self.counterAtPause = counterAtPause
        self.expectedCounter = expectedCounter
        self.observedCounter = observedCounter
        self.expectedCursor = expectedCursor
        self.observedCursor = observedCursor
        self.counterInMemory = counterInMemory
        ok = observedCounter == expectedCounter && observedCursor == expectedCursor && counterInMemory == observedCounter
    }

    public var explanation: String {
        if observedCounter == counterAtPause {
            return "its first report after the resume repeated the counter it stopped at (\(counterAtPause)): it ran again what it had already done"
        }
        if observedCounter != expectedCounter {
            let delta = Int64(bitPattern: observedCounter &- expectedCounter)
            return "its first report after the resume was counter \(observedCounter), expected \(expectedCounter) (\(delta > 0 ? "+" : "")\(delta))"
        }
        if observedCursor != expectedCursor {
            return "its counter (\(observedCounter)) and its page cursor (\(observedCursor), expected \(expectedCursor)) disagree: the registers it resumed with are not the ones it stopped with"
        }
        return "the counter in its memory (\(counterInMemory)) differs from the one it reported (\(observedCounter))"
    }
}

/// The first byte of guest RAM that differs from what the program and its fill put there.
public struct GuestRAMCheck: Codable, Sendable, Equatable {
    public var bytes: Int
    public var differingBytes: Int
    public var firstDifference: UInt64?
    public var expected: UInt8?
    public var found: UInt8?
    /// The counter the expected content was computed for.
    public var counter: UInt64

    public init(bytes: Int, differingBytes: Int, firstDifference: UInt64?, expected: UInt8?, found: UInt8?, counter: UInt64) {
        self.bytes = bytes
        self.differingBytes = differingBytes
        self.firstDifference = firstDifference
        self.expected = expected
        self.found = found
        self.counter = counter
    }

    public var ok: Bool { differingBytes == 0 }
}

/// One stage of the VM's life: how long and how fast the guest ran, and after a resume
/// whether it continued and whether its RAM is what it must be.
public struct VMStageReport: Codable, Sendable, Equatable {
    public var stage: Int
    public var backing: Backing
    public var ramBytes: Int
    public var counterStart: UInt64
    public var counterEnd: UInt64
    public var exits: Int
    /// Time the vCPU spent in KVM_RUN in this stage.
    public var runMicros: Int
    /// After a resume: retrieved files to the guest's first exit (new VM, slot, vCPU, state).
    public var rebuildMicros: Int?
    public var continuity: GuestContinuity?
    public var ram: GuestRAMCheck?
    /// The nested-virtualization setting of the KVM module that ran the guest, when it says.
    public var nested: String?

    public init(stage: Int, backing: Backing, ramBytes: Int, counterStart: UInt64, counterEnd: UInt64, exits: Int, runMicros: Int,
                rebuildMicros: Int? = nil, continuity: GuestContinuity? = nil, ram: GuestRAMCheck? = nil, nested: String? = nil) {
        self.stage = stage
        self.backing = backing
        self.ramBytes = ramBytes
        self.counterStart = counterStart
        self.counterEnd = counterEnd
        self.exits = exits
        self.runMicros = runMicros
        self.rebuildMicros = rebuildMicros
        self.continuity = continuity
        self.ram = ram
        self.nested = nested
    }

    /// Guest loop iterations per second of vCPU time.
    public var iterationsPerSecond: Double? {
        runMicros > 0 ? Double(counterEnd &- counterStart) / (Double(runMicros) / 1e6) : nil
    }
}

/// A vm scenario's guest: where its RAM and saved state live and how long it runs.
public struct GuestVMSetup: Codable, Sendable, Equatable {
    /// The object holding guest RAM (memfd or guest_memfd), mapped at guest-physical 0.
    public var ram: String
    /// The memfd the vCPU state is written into at the pause.
    public var state: String
    /// How long the guest runs before each pause, and after the last resume.
    public var runMilliseconds: Int
    public var reportEvery: UInt32

    public init(ram: String, state: String, runMilliseconds: Int, reportEvery: UInt32 = 1024) {
        self.ram = ram
        self.state = state
        self.runMilliseconds = runMilliseconds
        self.reportEvery = reportEvery
    }

    public func isVMObject(_ name: String) -> Bool { name == ram || name == state }
}
