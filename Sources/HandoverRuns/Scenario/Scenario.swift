import Crypto
import Foundation
import HandoverCore
import HandoverSupport
import HandoverMachines
import HandoverResults

/// A scenario from Scenarios/*.yaml: the objects to create, how they are grouped into
/// sessions, and what must come back.
public struct Scenario: Sendable, Equatable {
    public typealias Kind = ScenarioKind

    /// The kernel's own tests from tools/testing/selftests/liveupdate, for kind selftest.
    public struct Selftests: Sendable, Equatable {
        public static let twoStage = ["luo_kexec_simple", "luo_multi_session", "luo_stress_files", "luo_stress_sessions"]
        public static let ioctlSuite = "liveupdate"

        /// Two-stage tests, each run across its own kexec.
        public var tests: [String]
        /// Run the ioctl suite (no kexec) in each kernel of the pair.
        public var ioctlSuite: Bool
        /// Seconds each program may run.
        public var timeout: Int
        /// A test's arguments in stage 1 and stage 2 when they are not upstream's `-s 1` / `-s 2`
        /// (a series' own test, `folder/name` from another selftests folder).
        public var stageArguments: [String: [[String]]] = [:]
        /// Guest memory in MiB the tests need (`memory:`), when more than the default 1 GiB.
        public var memoryMiB: Int? = nil

        public func arguments(_ test: String, stage: Int) -> [String] {
            stageArguments[test]?[stage - 1] ?? ["-s", String(stage)]
        }

        /// "kvm/guest_memfd_preservation_test" → ("kvm", "guest_memfd_preservation_test"); nil for
        /// a test of tools/testing/selftests/liveupdate, named alone.
        public static func folder(of test: String) -> (folder: String, name: String)? {
            guard let slash = test.firstIndex(of: "/") else { return nil }
            return (String(test[..<slash]), String(test[test.index(after: slash)...]))
        }
    }

    public var name: String
    public var file: String
    public var digest: String
    public var description: String?
    public var kind: Kind
    public var objects: [ObjectSpec]
    public var sessions: [SessionSpec]
    public var chunkSize: Int
    /// Properties documented as reset by a live update (reported as reset, not as failures).
    public var reset: Set<String>
    public var checks: Bool
    public var selftests: Selftests?
    /// The iommufd or KVM setup of the device kinds; the series a kernel carries are added per run.
    public var devices: DevicePlan?

    public static let properties = ["content", "size", "position", "seals", "status-flags", "cloexec"]
    public static let maxObjectSize = 4 << 30
    public static let maxObjects = 4096

    public var totalBytes: Int { objects.reduce(0) { $0 + $1.size } }

    /// The plan the agent follows, with the chain of kernels after the first.
    public func plan(hops: [Hop], injections: [Injection], series: [SeriesRevision] = []) -> AgentPlan {
        var devices = self.devices
        devices?.series = series.map(\.rawValue)
        return AgentPlan(scenario: name, scenarioDigest: digest, objects: objects, sessions: sessions, chunkSize: chunkSize,
                         hops: hops, checks: checks, injections: injections, devices: devices)
    }
}

extension Scenario {
    public static func load(from url: URL) throws(InputError) -> Scenario {
        try parse(text: try YAMLValue.readText(url), file: url.path)
    }

    public static func parse(text: String, file: String) throws(InputError) -> Scenario {
        let root = try YAMLValue.load(file: file, text: text)
        let memfdKeys = ["name", "description", "kind", "chunk-size", "objects", "sessions", "expect", "checks", "iommufd", "kvm", "vm"]
        let selftestKeys = ["name", "description", "kind", "tests", "ioctl-suite", "timeout", "device", "memory"]
        let peek = try root.mapping(allowedKeys: Array(Set(memfdKeys + selftestKeys)).sorted())
        if try peek["kind"]?.choice(Kind.self) == .selftest {
            return try parseSelftest(try root.mapping(allowedKeys: selftestKeys), text: text, file: file)
        }
        let top = try root.mapping(allowedKeys: memfdKeys)
        let fallbackName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let name = try top["name"]?.nonEmptyString() ?? fallbackName
        let kind = try top["kind"]?.choice(Kind.self) ?? .memfd
        let chunkSize = try top["chunk-size"].map { value throws(InputError) in try parseSize(value, in: 4096...(64 << 20)) } ?? (1 << 20)
        if chunkSize % 8 != 0 { throw top["chunk-size"]!.error("expected a multiple of 8 bytes, found \(chunkSize)") }

        var objects: [ObjectSpec] = []
        var groups: [String: [String]] = [:]
        for (objectName, value) in try top.required("objects", "a mapping of object names to their size and fill").namedEntries() {
            guard objectName.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"#, options: .regularExpression) != nil else {
                throw value.error("object names are 1-63 letters, digits, '.', '_' or '-', found '\(objectName)'")
            }
            let specs = try parseObject(objectName, value)
            groups[objectName] = specs.map(\.name)
            objects += specs
        }
        guard !objects.isEmpty else { throw top["objects"]!.error("expected at least one object") }
        guard objects.count <= maxObjects else { throw top["objects"]!.error("expected at most \(maxObjects) objects, found \(objects.count)") }
        var seenNames = Set<String>()
        for object in objects where !seenNames.insert(object.name).inserted {
            throw top["objects"]!.error("object '\(object.name)' is defined twice (a counted group expands to NAME-0, NAME-1, ...)")
        }

        let sessions = try parseSessions(try top.required("sessions", "a list of sessions with name and members"), groups: groups)
        var placed: [String: String] = [:]
        for session in sessions {
            for member in session.members {
                if let other = placed[member.object] {
                    if member.handle != nil {
                        throw top["sessions"]!.error("handle '\(member.object)' is in session '\(other)' and '\(session.name)'; a file can be preserved once")
                    }
                    throw top["sessions"]!.error("object '\(member.object)' is in session '\(other)' and '\(session.name)'; a file can be preserved once")
                }
                placed[member.object] = session.name
            }
        }
        if let unplaced = objects.first(where: { placed[$0.name] == nil }) {
            throw top["objects"]!.error("object '\(unplaced.name)' is in no session; every object must be preserved")
        }

        var reset: Set<String> = FingerprintComparison.documentedReset
        if let expect = top["expect"] {
            let fields = try expect.mapping(allowedKeys: ["preserved", "reset"])
            // Reset is read first: the default preserved set is every property not reset.
            if let value = fields["reset"] { reset = Set(try propertyList(value)) }
            if let value = fields["preserved"] {
                // Every property is compared: one is either kept (a change fails the run) or
                // documented as reset. A list that leaves one out would leave it unjudged.
                let preserved = Set(try propertyList(value))
                if let both = preserved.intersection(reset).first {
                    throw value.error("property '\(both)' cannot be both preserved and reset")
                }
                if let unjudged = properties.first(where: { !preserved.contains($0) && !reset.contains($0) }) {
                    throw value.error("property '\(unjudged)' is neither preserved nor reset; expected every one of \(properties.joined(separator: ", ")) under expect.preserved or expect.reset")
                }
            }
        }
        let checks = try top["checks"]?.bool() ?? true
        let devices = try parseDevices(top, kind: kind, objects: objects, sessions: sessions)
        let digest = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        return Scenario(name: name, file: file, digest: digest, description: try top["description"]?.string(), kind: kind,
                        objects: objects, sessions: sessions, chunkSize: chunkSize, reset: reset, checks: checks, devices: devices)
    }

    private static func parseSelftest(_ top: YAMLMapping, text: String, file: String) throws(InputError) -> Scenario {
        let name = try top["name"]?.nonEmptyString() ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var tests = Selftests.twoStage
        var stageArguments: [String: [[String]]] = [:]
        if let value = top["tests"] {
            tests = []
            for item in try value.list() {
                if case .scalar = item.node {
                    let test = try item.nonEmptyString()
                    guard Selftests.twoStage.contains(test) else {
                        throw item.error("expected one of \(Selftests.twoStage.joined(separator: ", ")), or {test: FOLDER/NAME, stage-1: [...], stage-2: [...]}, found '\(test)'")
                    }
                    tests.append(test)
                    continue
                }
                let fields = try item.mapping(allowedKeys: ["test", "stage-1", "stage-2"])
                let test = try fields.required("test", "FOLDER/NAME, a test of tools/testing/selftests/FOLDER").nonEmptyString()
                guard test.range(of: #"^[a-z0-9_-]+/[A-Za-z0-9_-]+$"#, options: .regularExpression) != nil else {
                    throw fields["test"]!.error("expected FOLDER/NAME (a test of tools/testing/selftests/FOLDER, such as kvm/guest_memfd_preservation_test), found '\(test)'")
                }
                var stages: [[String]] = []
                for (key, what) in [("stage-1", "the first"), ("stage-2", "the second")] {
                    var words: [String] = []
                    for word in try fields.required(key, "the test's arguments in \(what) kernel (a list, may be empty)").list() {
                        words.append(try word.string())
                    }
                    stages.append(words)
                }
                tests.append(test)
                stageArguments[test] = stages
            }
            if let duplicate = tests.firstDuplicate { throw value.error("test '\(duplicate)' is listed twice") }
        }
        let ioctlSuite = try top["ioctl-suite"]?.bool() ?? true
        guard !tests.isEmpty || ioctlSuite else { throw top.owner.error("no tests and no ioctl suite: nothing would run") }
        let timeout = try top["timeout"]?.int(in: 5...3600) ?? 180
        // A PCI device behind the emulated IOMMU, which the agent hands to vfio-pci in the first
        // kernel before any test runs (a VFIO test expects it bound).
        let device = try top["device"]?.choice(AssignableDevice.self)
        let digest = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        var scenario = Scenario(name: name, file: file, digest: digest, description: try top["description"]?.string(), kind: .selftest,
                                objects: [], sessions: [], chunkSize: 1 << 20, reset: [], checks: false,
                                selftests: Selftests(tests: tests, ioctlSuite: ioctlSuite, timeout: timeout, stageArguments: stageArguments))
        if let device { scenario.devices = DevicePlan(iommufd: IommufdSetup(pciDevice: device.pciID, mappings: [], hwptToken: 0)) }
        if let memory = top["memory"] { scenario.selftests?.memoryMiB = try parseSize(memory, in: (256 << 20)...(64 << 30)) >> 20 }
        return scenario
    }

    private static func propertyList(_ value: YAMLValue) throws(InputError) -> [String] {
        var result: [String] = []
        for item in try value.list() {
            let text = try item.string()
            guard properties.contains(text) else {
                throw item.error("expected one of \(properties.joined(separator: ", ")), found '\(text)'")
            }
            result.append(text)
        }
        return result
    }

    private static func parseObject(_ name: String, _ value: YAMLValue) throws(InputError) -> [ObjectSpec] {
        let fields = try value.mapping(allowedKeys: ["size", "fill", "seals", "position", "cloexec", "count", "backing"])
        let backing = try fields["backing"]?.choice(Backing.self) ?? .memfd
        let size = try parseSize(try fields.required("size", "a size such as 4096, 64KiB or 1GiB"), in: 0...maxObjectSize)
        let fill = try fields["fill"].map { v throws(InputError) in try parseFill(v, size: size) } ?? .zero
        var seals: [Seal] = []
        if let list = fields["seals"] {
            for item in try list.list() { seals.append(try item.choice(Seal.self)) }
        }
        let position = try fields["position"].map { v throws(InputError) in try parseSize(v, in: 0...max(size, 0)) } ?? 0
        let cloexec = try fields["cloexec"]?.bool() ?? false
        let count = try fields["count"]?.int(in: 1...maxObjects)
        if backing == .guestMemfd {
            if !seals.isEmpty { throw fields["seals"]!.error("a guest_memfd object cannot be sealed") }
            if position != 0 { throw fields["position"]!.error("a guest_memfd object is read through a mapping; it has no file position to set") }
            if size == 0 || size % 4096 != 0 { throw fields["size"]!.error("a guest_memfd object's size must be a non-zero multiple of 4096 bytes, found \(size)") }
        }
        guard let count else {
            return [ObjectSpec(name: name, size: size, fill: fill, seals: seals, position: position, cloexec: cloexec, backing: backing)]
        }
        return (0..<count).map { index in
            ObjectSpec(name: "\(name)-\(index)", size: size, fill: fill.offsetSeed(by: UInt64(index)), seals: seals,
                       position: position, cloexec: cloexec, backing: backing)
        }
    }

    private static func parseFill(_ value: YAMLValue, size: Int) throws(InputError) -> Fill {
        if case .scalar = value.node {
            let word = try value.string()
            guard word == "zero" else { throw value.error("expected zero, {constant: BYTE}, {random: SEED} or {sparse: {seed, extents}}, found '\(word)'") }
            return .zero
        }
        let kinds = try value.mapping(allowedKeys: ["constant", "random", "sparse"])
        guard kinds.keys.count == 1 else { throw value.error("expected exactly one of constant, random or sparse") }
        if let byte = kinds["constant"] { return .constant(byte: UInt8(try byte.int(in: 0...255))) }
        if let seed = kinds["random"] { return .random(seed: UInt64(try seed.int(in: 0...Int.max))) }
        let sparse = try kinds["sparse"]!.mapping(allowedKeys: ["seed", "extents"])
        let seed = UInt64(try sparse["seed"]?.int(in: 0...Int.max) ?? 1)
        var extents: [Extent] = []
        for item in try sparse.required("extents", "a list of {offset, length}").list() {
            let fields = try item.mapping(allowedKeys: ["offset", "length"])
            let offset = try parseSize(try fields.required("offset", "a byte offset"), in: 0...size)
            let length = try parseSize(try fields.required("length", "a length in bytes"), in: 1...size)
            guard offset + length <= size else { throw item.error("extent \(offset)+\(length) ends beyond the object's size \(size)") }
            if let last = extents.last, offset < last.offset + last.length {
                throw item.error("extents must be in order and not overlap; this one starts at \(offset), the previous ends at \(last.offset + last.length)")
            }
            extents.append(Extent(offset: offset, length: length))
        }
        return .sparse(seed: seed, extents: extents)
    }

    private static func parseSessions(_ value: YAMLValue, groups: [String: [String]]) throws(InputError) -> [SessionSpec] {
        var sessions: [SessionSpec] = []
        for item in try value.list() {
            let fields = try item.mapping(allowedKeys: ["name", "members"])
            let nameValue = try fields.required("name", "a session name of at most 63 bytes")
            let name = try nameValue.nonEmptyString()
            guard name.utf8.count <= 63 else { throw nameValue.error("session names are at most 63 bytes, this one has \(name.utf8.count)") }
            if sessions.contains(where: { $0.name == name }) { throw nameValue.error("session name '\(name)' is used twice") }
            var members: [SessionSpec.Member] = []
            var tokens = Set<UInt64>()
            for memberValue in try fields.required("members", "a list of {object, token} or {objects, first-token}").list() {
                let member = try memberValue.mapping(allowedKeys: ["object", "objects", "token", "first-token", "handle"])
                var added: [SessionSpec.Member] = []
                if let handle = member["handle"] {
                    let token = UInt64(try member.required("token", "a token number").int(in: 0...Int.max))
                    added = [.init(handle: try handle.choice(Handle.self), token: token)]
                } else if let object = member["object"] {
                    let objectName = try object.nonEmptyString()
                    guard groups[objectName] == [objectName] else {
                        throw object.error(groups[objectName] == nil ? "no object named '\(objectName)'" : "'\(objectName)' is a counted group; use objects: and first-token:")
                    }
                    let token = UInt64(try member.required("token", "a token number").int(in: 0...Int.max))
                    added = [.init(object: objectName, token: token)]
                } else if let group = member["objects"] {
                    let groupName = try group.nonEmptyString()
                    guard let names = groups[groupName] else { throw group.error("no object group named '\(groupName)'") }
                    let first = UInt64(try member.required("first-token", "the token of the group's first object").int(in: 0...Int.max))
                    added = names.enumerated().map { .init(object: $1, token: first + UInt64($0)) }
                } else {
                    throw memberValue.error("expected object with token, objects with first-token, or handle with token")
                }
                for entry in added where !tokens.insert(entry.token).inserted {
                    throw memberValue.error("token \(entry.token) is used twice in session '\(name)'")
                }
                members += added
            }
            guard !members.isEmpty else { throw item.error("session '\(name)' has no members") }
            sessions.append(SessionSpec(name: name, members: members))
        }
        guard !sessions.isEmpty else { throw value.error("expected at least one session") }
        return sessions
    }

    /// "4096", "64KiB", "4 MiB", "1GiB", "2K" (binary units).
    package static func parseSize(_ value: YAMLValue, in range: ClosedRange<Int>) throws(InputError) -> Int {
        let text = try value.string().replacingOccurrences(of: " ", with: "")
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1)]
        var number = text
        var multiplier = 1
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = String(text.dropLast(suffix.count))
            multiplier = factor
            break
        }
        guard let base = Int(number), base >= 0 else {
            throw value.error("expected a size such as 4096, 64KiB, 16MiB or 1GiB, found '\(text)'")
        }
        let (size, overflow) = base.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(size) else {
            throw value.error("expected a size from \(range.lowerBound) to \(range.upperBound) bytes, found \(text)")
        }
        return size
    }
}

extension Fill {
    /// Counted objects get distinct content: seed + index.
    func offsetSeed(by delta: UInt64) -> Fill {
        switch self {
        case .random(let seed): .random(seed: seed &+ delta)
        case .sparse(let seed, let extents): .sparse(seed: seed &+ delta, extents: extents)
        default: self
        }
    }
}
