/// What the agent does in the guest, written by the runner from a scenario and packed into
/// every initramfs of a run as /handover/plan.json.
public struct AgentPlan: Sendable, Equatable {
    public enum Mode: String, Sendable {
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

public struct Hop: Sendable, Equatable {
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

public struct ObjectSpec: Sendable, Equatable {
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

public enum Fill: Sendable, Equatable {
    /// Nothing written: an empty memfd (size 0) or all zeroes.
    case zero
    case constant(byte: UInt8)
    /// A stream that depends only on the seed and the byte offset.
    case random(seed: UInt64)
    /// Random data in the extents only; the rest stays holes.
    case sparse(seed: UInt64, extents: [Extent])
}

public struct Extent: Sendable, Equatable {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

public enum Seal: String, Sendable, CaseIterable {
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

public struct SessionSpec: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
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
public enum Injection: Sendable, Equatable {
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

extension AgentPlan.Mode: JSONRawEnum {}
extension Seal: JSONRawEnum {}

extension AgentPlan: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("mode", mode)
            $0.add("scenario", scenario)
            $0.add("scenarioDigest", scenarioDigest)
            $0.add("objects", objects)
            $0.add("sessions", sessions)
            $0.add("chunkSize", chunkSize)
            $0.add("hops", hops)
            $0.add("checks", checks)
            $0.add("injections", injections)
            $0.add("devices", devices)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        mode = try o.optional("mode", default: .objects)
        scenario = try o.required("scenario")
        scenarioDigest = try o.required("scenarioDigest")
        objects = try o.required("objects")
        sessions = try o.required("sessions")
        chunkSize = try o.required("chunkSize")
        hops = try o.required("hops")
        checks = try o.required("checks")
        injections = try o.required("injections")
        devices = try o.optional("devices")
    }
}

extension Hop: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("kernel", kernel)
            $0.add("initrd", initrd)
            $0.add("cmdline", cmdline)
            $0.add("expectedRelease", expectedRelease)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        kernel = try o.required("kernel")
        initrd = try o.required("initrd")
        cmdline = try o.required("cmdline")
        expectedRelease = try o.required("expectedRelease")
    }
}

extension ObjectSpec: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("name", name)
            $0.add("size", size)
            $0.add("fill", fill)
            $0.add("seals", seals)
            $0.add("position", position)
            $0.add("cloexec", cloexec)
            $0.add("backing", backing)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        name = try o.required("name")
        size = try o.required("size")
        fill = try o.required("fill")
        seals = try o.required("seals")
        position = try o.required("position")
        cloexec = try o.required("cloexec")
        backing = try o.optional("backing")
    }
}

/// An enum with payloads is written as `{"case": {payload}}`, the shape Codable gives it.
struct TaggedJSON {
    let tag: String
    let payload: JSONObject

    init(_ json: JSON) throws(JSONError) {
        guard case .object(let members) = json, members.count == 1 else {
            throw JSONError("expected an object with exactly one key naming the case")
        }
        tag = members[0].0
        do { payload = try JSONObject(members[0].1) } catch { throw error.inside(members[0].0) }
    }

    func field<T: JSONConvertible>(_ key: String) throws(JSONError) -> T {
        do { return try payload.required(key) } catch { throw error.inside(tag) }
    }

    func unknown() -> JSONError { JSONError("unknown case '\(tag)'") }
}

extension Fill: JSONConvertible {
    public var json: JSON {
        switch self {
        case .zero: .object([("zero", .object([]))])
        case .constant(let byte): .object([("constant", .build { $0.add("byte", byte) })])
        case .random(let seed): .object([("random", .build { $0.add("seed", seed) })])
        case .sparse(let seed, let extents): .object([("sparse", .build { $0.add("seed", seed); $0.add("extents", extents) })])
        }
    }

    public init(json: JSON) throws(JSONError) {
        let tagged = try TaggedJSON(json)
        switch tagged.tag {
        case "zero": self = .zero
        case "constant": self = .constant(byte: try tagged.field("byte"))
        case "random": self = .random(seed: try tagged.field("seed"))
        case "sparse": self = .sparse(seed: try tagged.field("seed"), extents: try tagged.field("extents"))
        default: throw tagged.unknown()
        }
    }
}

extension Extent: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("offset", offset)
            $0.add("length", length)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        offset = try o.required("offset")
        length = try o.required("length")
    }
}

extension SessionSpec: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("name", name)
            $0.add("members", members)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        name = try o.required("name")
        members = try o.required("members")
    }
}

extension SessionSpec.Member: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("object", object)
            $0.add("token", token)
            $0.add("handle", handle)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        object = try o.required("object")
        token = try o.required("token")
        handle = try o.optional("handle")
    }
}

extension Injection: JSONConvertible {
    public var json: JSON {
        switch self {
        case .flipByte(let object, let offset): .object([("flipByte", .build { $0.add("object", object); $0.add("offset", offset) })])
        case .crash(let stage): .object([("crash", .build { $0.add("stage", stage) })])
        case .stall(let stage): .object([("stall", .build { $0.add("stage", stage) })])
        case .noInit(let stage): .object([("noInit", .build { $0.add("stage", stage) })])
        case .garbage(let stage): .object([("garbage", .build { $0.add("stage", stage) })])
        case .corruptVCPU(let stage): .object([("corruptVCPU", .build { $0.add("stage", stage) })])
        }
    }

    public init(json: JSON) throws(JSONError) {
        let tagged = try TaggedJSON(json)
        switch tagged.tag {
        case "flipByte": self = .flipByte(object: try tagged.field("object"), offset: try tagged.field("offset"))
        case "crash": self = .crash(stage: try tagged.field("stage"))
        case "stall": self = .stall(stage: try tagged.field("stage"))
        case "noInit": self = .noInit(stage: try tagged.field("stage"))
        case "garbage": self = .garbage(stage: try tagged.field("stage"))
        case "corruptVCPU": self = .corruptVCPU(stage: try tagged.field("stage"))
        default: throw tagged.unknown()
        }
    }
}
