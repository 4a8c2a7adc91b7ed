/// What the agent does in the guest, written by the runner from a scenario and packed into
/// every initramfs of a run as /handover/plan.json.
public struct AgentPlan: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Create, preserve, kexec, retrieve and verify the plan's objects.
        case objects
        /// Only run what the runner asks (programs, kexec): the kernel's own selftests.
        case commands
    }

    public var mode: Mode = .objects
    public var scenario: String
    public var scenarioDigest: String
    public var objects: [ObjectSpec]
    public var sessions: [SessionSpec]
    /// Bytes per fingerprint chunk.
    public var chunkSize: Int
    /// The kernels after the first, in order: hops[0] is loaded by stage 1.
    public var hops: [Hop]
    /// Run the uAPI promise checks in the last stage.
    public var checks: Bool
    public var injections: [Injection]
    /// iommufd and KVM setups, for scenarios that preserve more than memfds.
    public var devices: DevicePlan?

    public init(scenario: String, scenarioDigest: String, objects: [ObjectSpec], sessions: [SessionSpec],
                chunkSize: Int, hops: [Hop], checks: Bool, injections: [Injection], devices: DevicePlan? = nil) {
        self.scenario = scenario
        self.scenarioDigest = scenarioDigest
        self.objects = objects
        self.sessions = sessions
        self.chunkSize = chunkSize
        self.hops = hops
        self.checks = checks
        self.injections = injections
        self.devices = devices
    }

    public func object(named name: String) -> ObjectSpec? { objects.first { $0.name == name } }
}

public struct Hop: Codable, Sendable, Equatable {
    /// Paths inside the initramfs of the stage that loads this hop.
    public var kernel: String
    public var initrd: String
    public var cmdline: String
    public var expectedRelease: String

    public init(kernel: String, initrd: String, cmdline: String, expectedRelease: String) {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
        self.expectedRelease = expectedRelease
    }
}

public struct ObjectSpec: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int
    public var fill: Fill
    public var seals: [Seal]
    public var position: Int
    public var cloexec: Bool
    /// Absent for a memfd.
    public var backing: Backing?

    public init(name: String, size: Int, fill: Fill, seals: [Seal] = [], position: Int = 0, cloexec: Bool = false,
                backing: Backing? = nil) {
        self.backing = backing == .memfd ? nil : backing
        self.name = name
        self.size = size
        self.fill = fill
        self.seals = seals
        self.position = position
        self.cloexec = cloexec
    }
}

public enum Fill: Codable, Sendable, Equatable {
    /// Nothing written: an empty memfd (size 0) or all zeroes.
    case zero
    case constant(byte: UInt8)
    /// A stream that depends only on the seed and the byte offset.
    case random(seed: UInt64)
    /// Random data in the extents only; the rest stays holes.
    case sparse(seed: UInt64, extents: [Extent])
}

public struct Extent: Codable, Sendable, Equatable {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

public enum Seal: String, Codable, Sendable, CaseIterable {
    case seal, shrink, grow, write, futureWrite = "future-write"

    /// F_SEAL_* bits.
    public var bit: Int32 {
        switch self {
        case .seal: 0x0001
        case .shrink: 0x0002
        case .grow: 0x0004
        case .write: 0x0008
        case .futureWrite: 0x0010
        }
    }

    public static func mask(_ seals: [Seal]) -> Int32 { seals.reduce(0) { $0 | $1.bit } }
}

public struct SessionSpec: Codable, Sendable, Equatable {
    public struct Member: Codable, Sendable, Equatable {
        /// An object's name, or for a handle its name (Handle.rawValue).
        public var object: String
        public var token: UInt64
        /// Set when the member is a file a device driver creates rather than an object.
        public var handle: Handle?

        public init(object: String, token: UInt64) {
            self.object = object
            self.token = token
        }

        public init(handle: Handle, token: UInt64) {
            self.object = handle.rawValue
            self.token = token
            self.handle = handle
        }
    }

    public var name: String
    public var members: [Member]

    public init(name: String, members: [Member]) {
        self.name = name
        self.members = members
    }
}

/// Faults the agent introduces on purpose, to prove that the harness catches them.
public enum Injection: Codable, Sendable, Equatable {
    /// Flip every bit of one byte of an object after retrieval, before verification.
    case flipByte(object: String, offset: Int)
    /// The agent exits abnormally in the given stage.
    case crash(stage: Int)
    /// The kernel of the given stage boots with /init stopped before it reaches the runner
    /// (handover.stall on its command line): the run must end as a boot timeout.
    case stall(stage: Int)
    /// The kernel of the given stage boots with no working init (rdinit= a missing file), so
    /// it panics early.
    case noInit(stage: Int)
    /// The agent sends malformed and truncated protocol lines after its hello in that stage.
    case garbage(stage: Int)
    /// A vm scenario's vCPU is restored in the given stage with its instruction pointer set back
    /// to the port write it had completed, as a VMM that saved its state with the I/O exit still
    /// pending would: the guest must be caught not continuing where it stopped.
    case corruptVCPU(stage: Int)

    /// Kernel command line words this injection adds to the given stage.
    public func commandLine(forStage stage: Int) -> [String] {
        switch self {
        case .stall(let target) where target == stage: ["handover.stall=1"]
        case .noInit(let target) where target == stage: ["rdinit=/handover/absent-init"]
        default: []
        }
    }
}
