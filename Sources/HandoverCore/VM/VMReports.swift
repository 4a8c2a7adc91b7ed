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

/// The general registers of the guest's vCPU (struct kvm_regs, in its order) as KVM_GET_REGS
/// returned them.
public struct GuestRegisters: Sendable, Equatable {
    public var values: [UInt64]

    public init(values: [UInt64]) { self.values = values }

    public init(_ snapshot: VCPUSnapshot) {
        values = VCPUSnapshot.Register.allCases.map { snapshot[$0] }
    }

    public subscript(register: VCPUSnapshot.Register) -> UInt64? {
        register.rawValue < values.count ? values[register.rawValue] : nil
    }
}

/// What the agent saw in the new kernel right after it restored the vCPU, before the first
/// KVM_RUN: the counter the state memfd says the guest paused at, the registers KVM gives back
/// after KVM_SET_REGS, and the counter word in the guest's RAM.
public struct GuestRestore: Sendable, Equatable {
    public var snapshotCounter: UInt64
    public var registers: GuestRegisters
    public var counterInMemory: UInt32

    public init(snapshotCounter: UInt64, registers: GuestRegisters, counterInMemory: UInt32) {
        self.snapshotCounter = snapshotCounter
        self.registers = registers
        self.counterInMemory = counterInMemory
    }
}

/// The first byte of guest RAM that differs from the program's model, as the agent located it.
public struct GuestRAMDifference: Sendable, Equatable {
    public var address: UInt64
    public var expected: UInt8
    public var found: UInt8
    public var differingBytes: Int

    public init(address: UInt64, expected: UInt8, found: UInt8, differingBytes: Int) {
        self.address = address
        self.expected = expected
        self.found = found
        self.differingBytes = differingBytes
    }
}

/// Guest RAM as the agent read it once the guest stopped for good: a SHA-256 per chunk from
/// guest-physical 0, at the guest's final counter. The runner compares the digests with its own
/// model of the RAM; the agent's located difference only says where to look.
public struct GuestRAMDigest: Sendable, Equatable {
    public var bytes: Int
    public var counter: UInt64
    public var chunkSize: Int
    /// Lowercase hex SHA-256 of each chunk, in order; the last chunk may be short.
    public var chunks: [String]
    public var firstDifference: GuestRAMDifference?

    public init(bytes: Int, counter: UInt64, chunkSize: Int, chunks: [String], firstDifference: GuestRAMDifference?) {
        self.bytes = bytes
        self.counter = counter
        self.chunkSize = chunkSize
        self.chunks = chunks
        self.firstDifference = firstDifference
    }

    public static let defaultChunkSize = 1 << 20
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
    /// After a resume: the vCPU and memory as restored, before the guest ran again.
    public var restored: GuestRestore?
    /// Where this stage paused the guest for the next kexec: the registers saved in the state memfd.
    public var pausedRegisters: GuestRegisters?
    /// In the last stage: the guest's RAM once it stopped.
    public var ram: GuestRAMDigest?
    /// The nested-virtualization setting of the KVM module that ran the guest, when it says.
    public var nested: String?

    public init(stage: Int, backing: Backing, ramBytes: Int, counterStart: UInt64, counterEnd: UInt64, exits: Int, runMicros: Int,
                rebuildMicros: Int? = nil, restored: GuestRestore? = nil, pausedRegisters: GuestRegisters? = nil,
                ram: GuestRAMDigest? = nil, nested: String? = nil) {
        self.stage = stage
        self.backing = backing
        self.ramBytes = ramBytes
        self.counterStart = counterStart
        self.counterEnd = counterEnd
        self.exits = exits
        self.runMicros = runMicros
        self.rebuildMicros = rebuildMicros
        self.restored = restored
        self.pausedRegisters = pausedRegisters
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

extension GuestRegisters: JSONConvertible {
    public var json: JSON { values.json }

    public init(json: JSON) throws(JSONError) {
        let values = try [UInt64](json: json)
        guard values.count == VCPUSnapshot.Register.allCases.count else {
            throw JSONError("expected \(VCPUSnapshot.Register.allCases.count) register values, found \(values.count)")
        }
        self.values = values
    }
}

extension GuestRestore: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("snapshotCounter", snapshotCounter)
            $0.add("registers", registers)
            $0.add("counterInMemory", counterInMemory)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        snapshotCounter = try o.required("snapshotCounter")
        registers = try o.required("registers")
        counterInMemory = try o.required("counterInMemory")
    }
}

extension GuestRAMDifference: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("address", address)
            $0.add("expected", expected)
            $0.add("found", found)
            $0.add("differingBytes", differingBytes)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        address = try o.required("address")
        expected = try o.required("expected")
        found = try o.required("found")
        differingBytes = try o.required("differingBytes")
    }
}

extension GuestRAMDigest: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("bytes", bytes)
            $0.add("counter", counter)
            $0.add("chunkSize", chunkSize)
            $0.add("chunks", chunks)
            $0.add("firstDifference", firstDifference)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        bytes = try o.required("bytes")
        counter = try o.required("counter")
        chunkSize = try o.required("chunkSize")
        chunks = try o.required("chunks")
        firstDifference = try o.optional("firstDifference")
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
            $0.add("restored", restored)
            $0.add("pausedRegisters", pausedRegisters)
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
        restored = try o.optional("restored")
        pausedRegisters = try o.optional("pausedRegisters")
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
