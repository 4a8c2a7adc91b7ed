/// What the agent's VM says over the protocol.

/// One moment of the guest's progress, sent the moment it happens: the last exit before a
/// pause (vcpuStopped) or the first exit after a resume (vcpuRunning). The runner's arrival
/// times of the two bracket the VM's own blackout.
public struct GuestSample: Sendable, Equatable {
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
public struct GuestContinuity: Sendable, Equatable {
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
public struct GuestRAMCheck: Sendable, Equatable {
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
public struct VMStageReport: Sendable, Equatable {
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
public struct GuestVMSetup: Sendable, Equatable {
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

extension GuestSample: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("stage", stage)
            $0.add("counter", counter)
            $0.add("exits", exits)
            $0.add("clock", clock)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        stage = try o.required("stage")
        counter = try o.required("counter")
        exits = try o.required("exits")
        clock = try o.required("clock")
    }
}

extension GuestContinuity: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("counterAtPause", counterAtPause)
            $0.add("expectedCounter", expectedCounter)
            $0.add("observedCounter", observedCounter)
            $0.add("expectedCursor", expectedCursor)
            $0.add("observedCursor", observedCursor)
            $0.add("counterInMemory", counterInMemory)
            $0.add("ok", ok)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        counterAtPause = try o.required("counterAtPause")
        expectedCounter = try o.required("expectedCounter")
        observedCounter = try o.required("observedCounter")
        expectedCursor = try o.required("expectedCursor")
        observedCursor = try o.required("observedCursor")
        counterInMemory = try o.required("counterInMemory")
        ok = try o.required("ok")
    }
}

extension GuestRAMCheck: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("bytes", bytes)
            $0.add("differingBytes", differingBytes)
            $0.add("firstDifference", firstDifference)
            $0.add("expected", expected)
            $0.add("found", found)
            $0.add("counter", counter)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        bytes = try o.required("bytes")
        differingBytes = try o.required("differingBytes")
        firstDifference = try o.optional("firstDifference")
        expected = try o.optional("expected")
        found = try o.optional("found")
        counter = try o.required("counter")
    }
}

extension VMStageReport: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("stage", stage)
            $0.add("backing", backing)
            $0.add("ramBytes", ramBytes)
            $0.add("counterStart", counterStart)
            $0.add("counterEnd", counterEnd)
            $0.add("exits", exits)
            $0.add("runMicros", runMicros)
            $0.add("rebuildMicros", rebuildMicros)
            $0.add("continuity", continuity)
            $0.add("ram", ram)
            $0.add("nested", nested)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        stage = try o.required("stage")
        backing = try o.required("backing")
        ramBytes = try o.required("ramBytes")
        counterStart = try o.required("counterStart")
        counterEnd = try o.required("counterEnd")
        exits = try o.required("exits")
        runMicros = try o.required("runMicros")
        rebuildMicros = try o.optional("rebuildMicros")
        continuity = try o.optional("continuity")
        ram = try o.optional("ram")
        nested = try o.optional("nested")
    }
}

extension GuestVMSetup: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("ram", ram)
            $0.add("state", state)
            $0.add("runMilliseconds", runMilliseconds)
            $0.add("reportEvery", reportEvery)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        ram = try o.required("ram")
        state = try o.required("state")
        runMilliseconds = try o.required("runMilliseconds")
        reportEvery = try o.required("reportEvery")
    }
}
