import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverRuns


/// The repository's Scenarios/ folder, found from this file.
private let scenariosFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scenarios")

private func loadReal(_ name: String) throws -> Scenario {
    try Scenario.load(from: scenariosFolder.appendingPathComponent("\(name).yaml"))
}

private let badFile = "scenarios/bad.yaml"

/// A small valid scenario; the error tests each break one thing in it.
private let validScenario = """
    name: tiny
    objects:
      big:
        size: 64KiB
        fill: {random: 1}
      small:
        size: 4KiB
    sessions:
      - name: s
        members:
          - {object: big, token: 1}
          - {object: small, token: 2}
    """

/// Parses `text` and returns the InputError it must throw.
private func parseError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> InputError? {
    do {
        let scenario = try Scenario.parse(text: text, file: badFile)
        Issue.record("parsed when it should not have: \(scenario.name) with \(scenario.objects.count) objects",
                     sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Asserts that `text` is refused at `keyPath` with a message containing every fragment.
private func expectRefused(_ text: String, at keyPath: String, _ fragments: String...,
                           line: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = parseError(text, sourceLocation: sourceLocation) else { return }
    #expect(error.file == badFile, sourceLocation: sourceLocation)
    #expect(error.keyPath == keyPath, "message: \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
    if let line { #expect(error.line == line, "\(error)", sourceLocation: sourceLocation) }
    #expect(error.description.hasPrefix(badFile), sourceLocation: sourceLocation)
}

/// A scenario with one object named `big` whose fields are given, in a session.
private func oneObject(_ fields: String, extraTop: String = "") -> String {
    """
    objects:
      big:
    \(fields.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
    sessions:
      - name: s
        members:
          - {object: big, token: 1}
    \(extraTop)
    """
}

/// SplitMix64: a small deterministic PRNG so every failure reproduces.
private struct ScenarioTestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

@Suite struct ScenarioTests {
    // MARK: - The real scenarios

    @Test func memfdBasic() throws {
        let scenario = try loadReal("memfd-basic")
        #expect(scenario.name == "memfd-basic")
        #expect(scenario.kind == .memfd)
        #expect(scenario.file.hasSuffix("Scenarios/memfd-basic.yaml"))
        #expect(scenario.description?.contains("Four memfds") == true)
        #expect(scenario.objects.map(\.name) == ["guest-ram-small", "guest-ram-large", "constant-page-cache", "zeroed"])
        #expect(scenario.objects.map(\.size) == [64 << 10, 32 << 20, 4 << 20, 1 << 20])
        #expect(scenario.objects.map(\.fill) == [.random(seed: 1), .random(seed: 2), .constant(byte: 0x5a), .zero])
        #expect(scenario.objects.allSatisfy { $0.seals.isEmpty && $0.position == 0 && !$0.cloexec })
        #expect(scenario.sessions.count == 1)
        #expect(scenario.sessions.first?.name == "vm-basic")
        #expect(scenario.sessions.first?.members.map(\.object) == scenario.objects.map(\.name))
        #expect(scenario.sessions.first?.members.map(\.token) == [1, 2, 3, 4])
        #expect(scenario.chunkSize == 1 << 20)
        #expect(scenario.reset == ["cloexec"])
        #expect(scenario.checks)
        #expect(scenario.totalBytes == (64 << 10) + (37 << 20))
        #expect(scenario.digest.count == 64)
        #expect(scenario.digest.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test func memfdProperties() throws {
        let scenario = try loadReal("memfd-properties")
        #expect(scenario.objects.count == 6)
        #expect(scenario.sessions.count == 1)
        let sealed = try #require(scenario.objects.first { $0.name == "sealed" })
        #expect(sealed.seals == [.shrink, .grow, .write])
        #expect(Seal.mask(sealed.seals) == 0xe)
        #expect(sealed.size == 2 << 20)
        let sealedFinal = try #require(scenario.objects.first { $0.name == "sealed-final" })
        #expect(sealedFinal.seals == [.shrink, .grow, .seal])
        let positioned = try #require(scenario.objects.first { $0.name == "positioned" })
        #expect(positioned.position == 123_457)
        #expect(positioned.fill == .random(seed: 13))
        let empty = try #require(scenario.objects.first { $0.name == "empty" })
        #expect(empty.size == 0)
        #expect(empty.fill == .zero)
        let sparse = try #require(scenario.objects.first { $0.name == "sparse" })
        #expect(sparse.size == 16 << 20)
        #expect(sparse.fill == .sparse(seed: 14, extents: [
            Extent(offset: 0, length: 4 << 10),
            Extent(offset: 1 << 20, length: 64 << 10),
            Extent(offset: 9 << 20, length: 8 << 10),
            Extent(offset: 16_380 << 10, length: 4 << 10),
        ]))
        let cloexec = try #require(scenario.objects.first { $0.name == "cloexec" })
        #expect(cloexec.cloexec)
        #expect(cloexec.fill == .constant(byte: 0xc3))
        #expect(scenario.objects.filter(\.cloexec).map(\.name) == ["cloexec"])
        #expect(scenario.sessions.first?.members.map(\.token) == Array(100...105))
        #expect(scenario.reset == ["cloexec"])
    }

    @Test func memfdMany() throws {
        let scenario = try loadReal("memfd-many")
        #expect(scenario.objects.count == 400)
        #expect(scenario.sessions.map(\.name) == ["vm-pages", "vm-small", "vm-medium", "vm-large"])
        #expect(scenario.sessions.map(\.members.count) == [200, 120, 60, 20])
        #expect(scenario.sessions[0].members.first == .init(object: "page-0", token: 1))
        #expect(scenario.sessions[0].members.last == .init(object: "page-199", token: 200))
        #expect(scenario.sessions[1].members.map(\.token) == (1...120).map(UInt64.init))
        #expect(scenario.sessions[2].members.map(\.token) == (1000..<1060).map(UInt64.init))
        #expect(scenario.sessions[3].members.map(\.token) == (5000..<5020).map(UInt64.init))
        #expect(scenario.sessions[3].members.map(\.object) == (0..<20).map { "large-\($0)" })
        // Every object is in exactly one session.
        let members = scenario.sessions.flatMap(\.members).map(\.object)
        #expect(members.count == 400)
        #expect(Set(members) == Set(scenario.objects.map(\.name)))
        // Counted objects get distinct content: seed + index.
        var seeds: [UInt64] = []
        for object in scenario.objects {
            if case .random(let seed) = object.fill { seeds.append(seed) }
        }
        #expect(seeds.count == 380)
        #expect(Set(seeds).count == 380)
        #expect(scenario.objects.first { $0.name == "page-0" }?.fill == .random(seed: 1000))
        #expect(scenario.objects.first { $0.name == "page-199" }?.fill == .random(seed: 1199))
        #expect(scenario.objects.first { $0.name == "medium-59" }?.fill == .random(seed: 3059))
        #expect(scenario.objects.filter { $0.name.hasPrefix("large-") }.allSatisfy { $0.fill == .constant(byte: 0x77) && $0.size == 256 << 10 })
        #expect(scenario.objects.filter { $0.name.hasPrefix("small-") }.allSatisfy { $0.size == 16 << 10 })
    }

    @Test func upstreamSelftestsScenario() throws {
        let scenario = try Scenario.load(from: scenariosFolder.appendingPathComponent("upstream-selftests.yaml"))
        #expect(scenario.kind == .selftest)
        #expect(scenario.selftests?.tests == Scenario.Selftests.twoStage)
        #expect(scenario.selftests?.ioctlSuite == true)
        #expect(scenario.objects.isEmpty)
    }

    @Test func selftestScenarioErrors() throws {
        let unknown = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\ntests: [luo_kexec_simple, luo_nope]\n", file: "s.yaml")
        }
        #expect(unknown.keyPath == "tests[1]")
        #expect(unknown.message.contains("luo_nope"))
        let memfdKey = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\nobjects: {}\n", file: "s.yaml")
        }
        #expect(memfdKey.message.contains("unknown key 'objects'"))
        let empty = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\ntests: []\nioctl-suite: false\n", file: "s.yaml")
        }
        #expect(empty.message.contains("nothing would run"))
        let badFolder = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\ntests: [{test: ../kvm/x, stage-1: [], stage-2: []}]\n", file: "s.yaml")
        }
        #expect(badFolder.keyPath == "tests[0].test" && badFolder.message.contains("FOLDER/NAME"))
        let noStage = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\ntests: [{test: kvm/x, stage-1: []}]\n", file: "s.yaml")
        }
        #expect(noStage.keyPath == "tests[0].stage-2" && noStage.message.contains("second kernel"))
    }

    @Test func aSeriesOwnSelftestTakesItsStageArguments() throws {
        let scenario = try loadReal("guest-memfd-selftest")
        let spec = try #require(scenario.selftests)
        #expect(spec.tests == ["kvm/guest_memfd_preservation_test"])
        #expect(spec.arguments("kvm/guest_memfd_preservation_test", stage: 1) == [])
        #expect(spec.arguments("kvm/guest_memfd_preservation_test", stage: 2) == ["--phase2"])
        #expect(spec.arguments("luo_kexec_simple", stage: 2) == ["-s", "2"])
        #expect(Scenario.Selftests.folder(of: "kvm/guest_memfd_preservation_test")! == ("kvm", "guest_memfd_preservation_test"))
        #expect(Scenario.Selftests.folder(of: "luo_kexec_simple") == nil)
        #expect(!spec.ioctlSuite)
        #expect(scenario.topology == .plain)
    }

    @Test func aVFIOSelftestGetsItsDeviceBehindTheIOMMUAndItsMemory() throws {
        let scenario = try loadReal("vfio-selftest")
        #expect(scenario.topology == .iommu(.edu))
        #expect(scenario.devices?.iommufd?.pciDevice == "1234:11e8")
        #expect(scenario.devices?.iommufd?.mappings.isEmpty == true)
        #expect(scenario.selftests?.memoryMiB == 3072)
        #expect(scenario.handlerNeeds.isEmpty)
        let plan = scenario.plan(hops: [], injections: [])
        #expect(plan.devices?.iommufd?.pciDevice == "1234:11e8")
        let badDevice = try #require(throws: InputError.self) {
            try Scenario.parse(text: "kind: selftest\ndevice: gpu\n", file: "s.yaml")
        }
        #expect(badDevice.keyPath == "device" && badDevice.message.contains("edu"))
    }

    @Test func realScenariosAreAllCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: scenariosFolder.path).filter { $0.hasSuffix(".yaml") }
        #expect(Set(files) == ["memfd-basic.yaml", "memfd-properties.yaml", "memfd-many.yaml", "upstream-selftests.yaml", "iommufd-basic.yaml", "guest-memfd-basic.yaml", "vm-basic.yaml", "vm-guest-memfd.yaml", "memfd-minimal.yaml", "guest-memfd-selftest.yaml", "vfio-selftest.yaml"])
        for file in files { _ = try Scenario.load(from: scenariosFolder.appendingPathComponent(file)) }
    }

    @Test func planCarriesTheScenario() throws {
        let scenario = try loadReal("memfd-basic")
        let hop = Hop(kernel: "/k", initrd: "/i", cmdline: "c", expectedRelease: "7.3")
        let plan = scenario.plan(hops: [hop], injections: [.crash(stage: 2)])
        #expect(plan.scenario == "memfd-basic")
        #expect(plan.scenarioDigest == scenario.digest)
        #expect(plan.objects == scenario.objects)
        #expect(plan.sessions == scenario.sessions)
        #expect(plan.chunkSize == scenario.chunkSize)
        #expect(plan.hops == [hop])
        #expect(plan.checks)
        #expect(plan.injections == [.crash(stage: 2)])
    }

    @Test func missingFileIsAnInputError() {
        let url = scenariosFolder.appendingPathComponent("does-not-exist.yaml")
        #expect(throws: InputError.self) { try Scenario.load(from: url) }
        do {
            _ = try Scenario.load(from: url)
        } catch {
            #expect(error.file == url.path)
            #expect(error.message.contains("cannot be read"))
        }
    }

    // MARK: - Defaults and small valid forms

    @Test func validBaseParsesWithDefaults() throws {
        let scenario = try Scenario.parse(text: validScenario, file: "x/tiny-file.yaml")
        #expect(scenario.name == "tiny")
        #expect(scenario.objects.map(\.name) == ["big", "small"])
        #expect(scenario.objects.last?.fill == .zero)
        #expect(scenario.chunkSize == 1 << 20)
        #expect(scenario.reset == ["cloexec"])
        #expect(scenario.checks)
        #expect(scenario.kind == .memfd)
        #expect(scenario.description == nil)
        // Without a name, the file's name is used.
        let unnamed = try Scenario.parse(text: validScenario.replacingOccurrences(of: "name: tiny\n", with: ""), file: "x/tiny-file.yaml")
        #expect(unnamed.name == "tiny-file")
        // The digest follows the text.
        #expect(unnamed.digest != scenario.digest)
    }

    @Test func chunkSizeAndChecks() throws {
        let scenario = try Scenario.parse(text: validScenario + "\nchunk-size: 64KiB\nchecks: false\n", file: "f.yaml")
        #expect(scenario.chunkSize == 64 << 10)
        #expect(!scenario.checks)
    }

    @Test func resetAloneMayNamePropertiesBeyondCloexec() throws {
        // Declaring only reset: the default preserved set is everything else, so there is no conflict.
        let scenario = try Scenario.parse(text: validScenario + "\nexpect:\n  reset: [cloexec, position]\n", file: "f.yaml")
        #expect(scenario.reset == ["cloexec", "position"])
        let both = try Scenario.parse(text: validScenario + "\nexpect:\n  preserved: [content, size, seals, status-flags, cloexec]\n  reset: [position]\n", file: "f.yaml")
        #expect(both.reset == ["position"])
    }

    @Test func sessionNameOf63BytesIsAccepted() throws {
        let name = String(repeating: "n", count: 63)
        let scenario = try Scenario.parse(text: validScenario.replacingOccurrences(of: "- name: s", with: "- name: \(name)"), file: "f.yaml")
        #expect(scenario.sessions.first?.name == name)
    }

    @Test func fourGiBIsTheLargestSize() throws {
        let scenario = try Scenario.parse(text: oneObject("size: 4GiB"), file: "f.yaml")
        #expect(scenario.objects.first?.size == 4 << 30)
    }

    // MARK: - Errors

    @Test func unknownTopLevelKey() {
        expectRefused(validScenario + "\ncolour: red\n", at: "colour", "unknown key 'colour'", "expected one of", "objects", "sessions",
                      line: 13)
    }

    @Test func unknownObjectKey() {
        expectRefused(oneObject("size: 4KiB\ncolour: red"), at: "objects.big.colour", "unknown key 'colour'", "size, fill, seals",
                      line: 4)
    }

    @Test func sizeOfTheWrongType() {
        expectRefused(oneObject("size: [1, 2]"), at: "objects.big.size", "expected", "found a list")
        expectRefused(oneObject("size: {bytes: 4096}"), at: "objects.big.size", "expected", "found a mapping")
        expectRefused(oneObject("size: true"), at: "objects.big.size", "expected a size", "'true'")
    }

    @Test func missingSize() {
        expectRefused(oneObject("fill: zero"), at: "objects.big.size", "is missing", "a size such as")
    }

    @Test(arguments: ["4XB", "4TiB", "4kb", "4 Ki_B", "KiB", "1.5MiB", "0x1000", "4KiBKiB", "four"])
    func sizeWithABadUnit(_ size: String) {
        expectRefused(oneObject("size: \(size)"), at: "objects.big.size", "expected a size such as 4096, 64KiB")
    }

    @Test func sizeOutOfRange() {
        expectRefused(oneObject("size: 5GiB"), at: "objects.big.size", "expected a size from 0 to 4294967296 bytes", "5GiB")
        expectRefused(oneObject("size: 4294967297"), at: "objects.big.size", "from 0 to 4294967296")
        // Large enough to overflow when multiplied: refused, not trapped.
        expectRefused(oneObject("size: 9223372036854775807GiB"), at: "objects.big.size", "expected a size")
        expectRefused(oneObject("size: 99999999999999999999999"), at: "objects.big.size", "expected a size")
    }

    @Test func negativeSize() {
        expectRefused(oneObject("size: -1"), at: "objects.big.size", "expected a size", "'-1'")
        expectRefused(oneObject("size: -4KiB"), at: "objects.big.size", "expected a size", "'-4KiB'")
    }

    @Test func positionBeyondSize() {
        expectRefused(oneObject("size: 4KiB\nposition: 4097"), at: "objects.big.position", "from 0 to 4096")
    }

    @Test func duplicateTokenInASession() {
        let text = validScenario.replacingOccurrences(of: "{object: small, token: 2}", with: "{object: small, token: 1}")
        expectRefused(text, at: "sessions[0].members[1]", "token 1 is used twice in session 's'", line: 12)
    }

    @Test func duplicateTokenAcrossGroupAndObject() {
        let text = """
            objects:
              one: {size: 4KiB}
              many: {size: 4KiB, count: 3}
            sessions:
              - name: s
                members:
                  - {object: one, token: 2}
                  - {objects: many, first-token: 0}
            """
        expectRefused(text, at: "sessions[0].members[1]", "token 2 is used twice")
    }

    @Test func duplicateSessionName() {
        let text = """
            objects:
              a: {size: 4KiB}
              b: {size: 4KiB}
            sessions:
              - name: s
                members: [{object: a, token: 1}]
              - name: s
                members: [{object: b, token: 1}]
            """
        expectRefused(text, at: "sessions[1].name", "session name 's' is used twice")
    }

    @Test func sessionNameOver63Bytes() {
        let long = String(repeating: "n", count: 64)
        expectRefused(validScenario.replacingOccurrences(of: "- name: s", with: "- name: \(long)"), at: "sessions[0].name",
                      "at most 63 bytes", "has 64")
        // Bytes, not characters: 32 two-byte characters are 64 bytes.
        let wide = String(repeating: "é", count: 32)
        expectRefused(validScenario.replacingOccurrences(of: "- name: s", with: "- name: \(wide)"), at: "sessions[0].name",
                      "at most 63 bytes")
    }

    @Test func emptySessionName() {
        expectRefused(validScenario.replacingOccurrences(of: "- name: s", with: "- name: \"  \""), at: "sessions[0].name", "non-empty")
    }

    @Test func memberNamingAnUnknownObject() {
        let text = validScenario.replacingOccurrences(of: "{object: small, token: 2}", with: "{object: ghost, token: 2}")
        expectRefused(text, at: "sessions[0].members[1].object", "no object named 'ghost'")
    }

    @Test func memberGroupRules() {
        let counted = """
            objects:
              many: {size: 4KiB, count: 2}
            sessions:
              - name: s
                members: [{object: many, token: 1}]
            """
        expectRefused(counted, at: "sessions[0].members[0].object", "counted group", "objects: and first-token:")
        let unknownGroup = counted.replacingOccurrences(of: "{object: many, token: 1}", with: "{objects: few, first-token: 1}")
        expectRefused(unknownGroup, at: "sessions[0].members[0].objects", "no object group named 'few'")
        let neither = counted.replacingOccurrences(of: "{object: many, token: 1}", with: "{token: 1}")
        expectRefused(neither, at: "sessions[0].members[0]", "expected object with token, objects with first-token, or handle with token")
        let noToken = validScenario.replacingOccurrences(of: "{object: small, token: 2}", with: "{object: small}")
        expectRefused(noToken, at: "sessions[0].members[1].token", "is missing", "a token number")
    }

    @Test func objectInTwoSessions() {
        let text = """
            objects:
              a: {size: 4KiB}
            sessions:
              - name: first
                members: [{object: a, token: 1}]
              - name: second
                members: [{object: a, token: 1}]
            """
        expectRefused(text, at: "sessions", "object 'a' is in session 'first' and 'second'", "preserved once")
    }

    @Test func objectInNoSession() {
        let text = validScenario.replacingOccurrences(of: "\n      - {object: small, token: 2}", with: "")
        #expect(text != validScenario)
        expectRefused(text, at: "objects", "object 'small' is in no session")
    }

    @Test func emptySession() {
        expectRefused("objects:\n  a: {size: 1}\nsessions:\n  - name: s\n    members: []\n", at: "sessions[0]", "session 's' has no members")
    }

    @Test func unknownSealName() {
        expectRefused(oneObject("size: 4KiB\nseals: [shrink, glue]"), at: "objects.big.seals[1]",
                      "expected one of seal, shrink, grow, write, future-write", "found 'glue'")
        expectRefused(oneObject("size: 4KiB\nseals: write"), at: "objects.big.seals", "expected a list")
    }

    @Test func extentsOverlapping() {
        let fields = """
            size: 64KiB
            fill:
              sparse:
                seed: 3
                extents:
                  - {offset: 0, length: 8KiB}
                  - {offset: 4KiB, length: 4KiB}
            """
        expectRefused(oneObject(fields), at: "objects.big.fill.sparse.extents[1]", "not overlap", "starts at 4096", "ends at 8192")
    }

    @Test func extentsOutOfOrder() {
        let fields = """
            size: 64KiB
            fill: {sparse: {extents: [{offset: 8KiB, length: 1}, {offset: 0, length: 1}]}}
            """
        expectRefused(oneObject(fields), at: "objects.big.fill.sparse.extents[1]", "in order")
    }

    @Test func extentsBeyondSize() {
        let fields = "size: 4KiB\nfill: {sparse: {seed: 1, extents: [{offset: 3KiB, length: 2KiB}]}}"
        expectRefused(oneObject(fields), at: "objects.big.fill.sparse.extents[0]", "ends beyond the object's size 4096")
        let start = "size: 4KiB\nfill: {sparse: {seed: 1, extents: [{offset: 5KiB, length: 1}]}}"
        expectRefused(oneObject(start), at: "objects.big.fill.sparse.extents[0].offset", "from 0 to 4096")
        let zero = "size: 4KiB\nfill: {sparse: {seed: 1, extents: [{offset: 0, length: 0}]}}"
        expectRefused(oneObject(zero), at: "objects.big.fill.sparse.extents[0].length", "from 1 to 4096")
    }

    @Test func fillWithTwoKinds() {
        expectRefused(oneObject("size: 4KiB\nfill: {constant: 1, random: 2}"), at: "objects.big.fill",
                      "expected exactly one of constant, random or sparse")
        expectRefused(oneObject("size: 4KiB\nfill: {}"), at: "objects.big.fill", "exactly one of")
    }

    @Test func otherBadFills() {
        expectRefused(oneObject("size: 4KiB\nfill: ones"), at: "objects.big.fill", "expected zero, {constant: BYTE}", "'ones'")
        expectRefused(oneObject("size: 4KiB\nfill: {constant: 256}"), at: "objects.big.fill.constant", "from 0 to 255")
        expectRefused(oneObject("size: 4KiB\nfill: {random: -1}"), at: "objects.big.fill.random", "from 0 to")
        expectRefused(oneObject("size: 4KiB\nfill: {random: \"7\"}"), at: "objects.big.fill.random", "expected a whole number", "a string")
        expectRefused(oneObject("size: 4KiB\nfill: {stripes: 1}"), at: "objects.big.fill.stripes", "unknown key 'stripes'")
    }

    @Test func expectWithAnUnknownProperty() {
        expectRefused(validScenario + "\nexpect:\n  preserved: [content, colour]\n", at: "expect.preserved[1]",
                      "expected one of content, size, position, seals, status-flags, cloexec", "found 'colour'")
        expectRefused(validScenario + "\nexpect:\n  reset: [inode]\n", at: "expect.reset[0]", "found 'inode'")
        expectRefused(validScenario + "\nexpect:\n  kept: [size]\n", at: "expect.kept", "unknown key 'kept'", "preserved, reset")
    }

    @Test func propertyBothPreservedAndReset() {
        expectRefused(validScenario + "\nexpect:\n  preserved: [content, size]\n  reset: [cloexec, size]\n", at: "expect.preserved",
                      "property 'size' cannot be both preserved and reset")
        expectRefused(validScenario + "\nexpect:\n  preserved: [content, size]\n", at: "expect.preserved",
                      "property 'position' is neither preserved nor reset", "content, size, position, seals, status-flags, cloexec")
    }

    @Test func emptyObjects() {
        expectRefused("objects: {}\nsessions: []\n", at: "objects", "expected at least one object")
        expectRefused("objects:\nsessions: []\n", at: "objects", "expected a mapping", "found null")
    }

    @Test func missingSessions() {
        expectRefused("objects:\n  a: {size: 4KiB}\n", at: "sessions", "is missing", "a list of sessions")
        expectRefused("objects:\n  a: {size: 4KiB}\nsessions: []\n", at: "sessions", "expected at least one session")
        expectRefused("objects:\n  a: {size: 4KiB}\nsessions: {name: s}\n", at: "sessions", "expected a list", "found a mapping")
    }

    @Test func missingObjects() {
        expectRefused("sessions: []\n", at: "objects", "is missing", "a mapping of object names")
    }

    @Test func chunkSizeNotAMultipleOf8() {
        expectRefused(validScenario + "\nchunk-size: 4100\n", at: "chunk-size", "expected a multiple of 8 bytes, found 4100")
        expectRefused(validScenario + "\nchunk-size: 1024\n", at: "chunk-size", "from 4096 to 67108864")
    }

    @Test func badObjectNames() {
        expectRefused("objects:\n  \"bad name\": {size: 1}\nsessions: []\n", at: "objects.bad name", "object names are 1-63")
        expectRefused("objects:\n  -lead: {size: 1}\nsessions: []\n", at: "objects.-lead", "found '-lead'")
    }

    @Test func countedGroupCollidingWithAName() {
        let text = """
            objects:
              a: {size: 4KiB, count: 2}
              a-1: {size: 4KiB}
            sessions:
              - name: s
                members: [{objects: a, first-token: 1}, {object: a-1, token: 9}]
            """
        expectRefused(text, at: "objects", "object 'a-1' is defined twice")
    }

    @Test func notAScenarioAtAll() {
        expectRefused("", at: "", "is empty")
        expectRefused("- 1\n- 2\n", at: "", "expected a mapping", "found a list")
        expectRefused("key: [unclosed\n", at: "", "is not valid YAML")
        expectRefused(validScenario + "\nkind: vmfd\n", at: "kind", "expected one of memfd", "'vmfd'")
        expectRefused(validScenario + "\nchecks: maybe\n", at: "checks", "expected true or false")
        // Yams itself refuses duplicate keys, naming them.
        expectRefused(validScenario + "\nname: \"\"\n", at: "", "duplicated key", "'name'")
    }

    @Test func tooManyObjects() {
        let text = """
            objects:
              a: {size: 1, count: 4096}
              b: {size: 1}
            sessions:
              - name: s
                members: [{objects: a, first-token: 1}, {object: b, token: 0}]
            """
        expectRefused(text, at: "objects", "at most 4096 objects, found 4097")
    }

    @Test func sexagesimalLookingNumbersDoNotTrap() {
        // YAML 1.1 reads 1:2:3 as a base-60 number; a long one overflows Int inside Yams.
        let colons = Array(repeating: "59", count: 14).joined(separator: ":")
        expectRefused(validScenario + "\nchecks: \(colons)\n", at: "checks", "expected true or false")
        expectRefused(oneObject("size: 4KiB\ncount: \(colons)"), at: "objects.big.count", "expected a whole number")
        expectRefused(validScenario.replacingOccurrences(of: "token: 2", with: "token: 9223372036854775807:1"),
                      at: "sessions[0].members[1].token", "expected a whole number")
        expectRefused("objects: \(colons)\nsessions: []\n", at: "objects", "expected a mapping")
    }

    // MARK: - parseSize

    private func size(_ text: String, in range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        try Scenario.parseSize(YAMLValue.load(file: "size.yaml", text: text), in: range)
    }

    @Test func parseSizeUnits() throws {
        #expect(try size("4096") == 4096)
        #expect(try size("0") == 0)
        #expect(try size("64KiB") == 65_536)
        #expect(try size("4MiB") == 4_194_304)
        #expect(try size("1GiB") == 1_073_741_824)
        #expect(try size("2K") == 2048)
        #expect(try size("3M") == 3 << 20)
        #expect(try size("1G") == 1 << 30)
        #expect(try size("512B") == 512)
        #expect(try size("4 MiB") == 4 << 20)
        #expect(try size("\"16 KiB\"") == 16 << 10)
    }

    @Test func parseSizeRefusals() {
        for text in ["\"\"", "KiB", "1.5MiB", "-1", "4 XiB", "1e3", "9223372036854775807GiB", "0x10", "[1]"] {
            #expect(throws: InputError.self, "\(text)") { try size(text) }
        }
        #expect(throws: InputError.self) { try size("8KiB", in: 0...4096) }
        #expect(throws: InputError.self) { try size("1", in: 2...4) }
    }

    // MARK: - Fuzzing

    @Test func randomDocumentsNeverTrap() throws {
        let keys = ["name", "description", "kind", "chunk-size", "objects", "sessions", "expect", "checks",
                    "size", "fill", "seals", "position", "cloexec", "count", "constant", "random", "sparse", "seed",
                    "extents", "offset", "length", "members", "object", "objects", "token", "first-token",
                    "preserved", "reset", "a", "b", "page", "x y", "-", "?", "\"quoted\"", "<<", "!!str k", "&anchor k"]
        let scalars = ["0", "1", "-1", "4096", "4KiB", "64KiB", "1 MiB", "5GiB", "4.5", "0x5a", "0o17", "true", "no", "on",
                       "null", "~", "", "\"\"", "'single'", "memfd", "zero", "shrink", "grow", "seal", "write",
                       "future-write", "content", "size", "cloexec", "1:2:3", "59:59:59:59:59:59:59:59:59:59:59:59",
                       "9223372036854775807", "18446744073709551616", ".inf", ".nan", "2001-12-14", "*anchor",
                       "&anchor 5", "!!int 7", "!!binary aGk=", "{", "]", "|", ">", "#c", "%", "@", "`", "é✓",
                       String(repeating: "n", count: 70)]
        var rng = ScenarioTestRNG(seed: 0xD0C5)

        func value(depth: Int, indent: Int) -> String {
            if depth > 4 || rng.chance(45) { return " " + rng.pick(scalars) }
            switch rng.below(4) {
            case 0: // flow mapping
                let entries = (0..<rng.below(4)).map { _ in "\(rng.pick(keys)): \(rng.pick(scalars))" }
                return " {" + entries.joined(separator: ", ") + "}"
            case 1: // flow list
                let items = (0..<rng.below(4)).map { _ in rng.pick(scalars) }
                return " [" + items.joined(separator: ", ") + "]"
            case 2: // block mapping
                return "\n" + block(depth: depth + 1, indent: indent + 1 + rng.below(3))
            default: // block list
                let pad = String(repeating: " ", count: indent + rng.below(3))
                return (0..<(1 + rng.below(3))).map { _ in
                    "\n" + pad + "-" + (rng.chance(50) ? value(depth: depth + 1, indent: indent + 2) : " \(rng.pick(keys)):\(value(depth: depth + 2, indent: indent + 4))")
                }.joined()
            }
        }
        func block(depth: Int, indent: Int) -> String {
            (0..<(1 + rng.below(4))).map { _ in
                // Mostly consistent indentation, sometimes off by one or two.
                let shift = rng.chance(10) ? rng.below(3) : 0
                return String(repeating: " ", count: indent + shift) + rng.pick(keys) + ":" + value(depth: depth, indent: indent)
            }.joined(separator: "\n")
        }
        /// A valid scenario with one random change, so that parsing gets deep before failing.
        func mutatedValid() -> String {
            var lines = validScenario.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let index = rng.below(lines.count)
            switch rng.below(4) {
            case 0: lines[index] = String(lines[index].prefix(while: { $0 == " " })) + rng.pick(keys) + ":" + value(depth: 3, indent: 4)
            case 1: lines.remove(at: index)
            case 2: lines.insert(String(repeating: " ", count: rng.below(8)) + rng.pick(keys) + ":" + value(depth: 2, indent: 2), at: index)
            default:
                if let colon = lines[index].firstIndex(of: ":") {
                    lines[index] = String(lines[index][...colon]) + " " + rng.pick(scalars)
                }
            }
            return lines.joined(separator: "\n")
        }

        let clock = ContinuousClock()
        let start = clock.now
        var parsed = 0
        var refused = 0
        let documents = 3000
        for iteration in 0..<documents {
            let text = iteration % 3 == 0 ? block(depth: 0, indent: 0) : mutatedValid()
            do {
                let scenario = try Scenario.parse(text: text, file: "fuzz-\(iteration).yaml")
                parsed += 1
                // Whatever parses keeps the scenario's invariants.
                #expect(!scenario.objects.isEmpty && scenario.objects.count <= Scenario.maxObjects, "\(text)")
                #expect(scenario.objects.allSatisfy { (0...Scenario.maxObjectSize).contains($0.size) && $0.position <= $0.size })
                #expect(scenario.chunkSize % 8 == 0 && scenario.chunkSize >= 4096)
                let members = scenario.sessions.flatMap(\.members).map(\.object)
                #expect(members.sorted() == scenario.objects.map(\.name).sorted(), "every object in exactly one session: \(text)")
                #expect(Set(scenario.sessions.map(\.name)).count == scenario.sessions.count)
            } catch {
                refused += 1
                #expect(error.file == "fuzz-\(iteration).yaml")
                #expect(!error.message.isEmpty)
            }
        }
        let elapsed = clock.now - start
        #expect(parsed + refused == documents)
        #expect(parsed >= documents / 100, "only \(parsed) documents parsed; the generator proves little")
        #expect(refused > documents / 2)
        #expect(elapsed < .seconds(20), "\(documents) documents took \(elapsed)")
    }
}

@Suite("vm scenarios")
struct VMScenarioTests {
    static let base = """
        kind: vm
        vm: {ram: ram, state: state, run: 200ms}
        objects:
          ram: {size: 16MiB, fill: {random: 3}}
          state: {size: 4KiB}
        sessions:
          - name: vm
            members: [{object: ram, token: 1}, {object: state, token: 2}]
        """

    @Test func theShippedScenariosParse() throws {
        for name in ["vm-basic", "vm-guest-memfd"] {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Scenarios/\(name).yaml")
            let scenario = try Scenario.load(from: url)
            #expect(scenario.kind == .vm)
            let setup = try #require(scenario.devices?.vm)
            #expect(setup.ram == "guest-ram" && setup.state == "vcpu-state" && setup.runMilliseconds == 300)
            #expect(scenario.devices?.kvm != nil)
        }
    }

    @Test func aMemfdGuest() throws {
        let scenario = try Scenario.parse(text: Self.base, file: "vm.yaml")
        #expect(scenario.devices == DevicePlan(kvm: KVMSetup(), vm: GuestVMSetup(ram: "ram", state: "state", runMilliseconds: 200)))
        let plan = scenario.plan(hops: [], injections: [.corruptVCPU(stage: 2)])
        #expect(plan.devices?.vm?.isVMObject("state") == true)
    }

    @Test(arguments: [
        ("vm: {ram: ram, state: state, run: 5ms}", "from 10ms to 60s"),
        ("vm: {ram: nothing, state: state}", "no object named 'nothing'"),
        ("vm: {ram: ram, state: ram}", "different objects"),
        ("vm: {ram: ram, state: state, report-every: 1000}", "power of two"),
        ("vm: {ram: ram}", "state"),
    ])
    func badGuestSections(_ section: String, _ message: String) {
        let text = Self.base.replacingOccurrences(of: "vm: {ram: ram, state: state, run: 200ms}", with: section)
        #expect(throws: InputError.self) { try Scenario.parse(text: text, file: "vm.yaml") }
        do { _ = try Scenario.parse(text: text, file: "vm.yaml") } catch {
            #expect(error.description.contains(message), "\(error.description)")
            #expect(error.description.contains("vm.yaml"))
        }
    }

    @Test func ramAndStateMustFitTheGuest() {
        let small = Self.base.replacingOccurrences(of: "size: 16MiB", with: "size: 64KiB")
        #expect(throws: InputError.self) { try Scenario.parse(text: small, file: "vm.yaml") }
        let bigState = Self.base.replacingOccurrences(of: "state: {size: 4KiB}", with: "state: {size: 1KiB}")
        #expect(throws: InputError.self) { try Scenario.parse(text: bigState, file: "vm.yaml") }
        let noSection = Self.base.replacingOccurrences(of: "vm: {ram: ram, state: state, run: 200ms}\n", with: "")
        #expect(throws: InputError.self) { try Scenario.parse(text: noSection, file: "vm.yaml") }
        let memfdKind = Self.base.replacingOccurrences(of: "kind: vm", with: "kind: memfd")
        #expect(throws: InputError.self) { try Scenario.parse(text: memfdKind, file: "vm.yaml") }
    }

    @Test func aGuestMemfdGuestPreservesItsVMFile() throws {
        let gmem = Self.base.replacingOccurrences(of: "ram: {size: 16MiB, fill: {random: 3}}", with: "ram: {size: 16MiB, backing: guest-memfd}")
        #expect(throws: InputError.self) { try Scenario.parse(text: gmem, file: "vm.yaml") }
        let withHandle = gmem.replacingOccurrences(of: "{object: state, token: 2}]", with: "{object: state, token: 2}, {handle: kvm-vm, token: 3}]")
        let scenario = try Scenario.parse(text: withHandle, file: "vm.yaml")
        #expect(scenario.objects.first { $0.name == "ram" }?.backing == .guestMemfd)
    }
}

@Suite("Handlers a scenario needs")
struct HandlerNeedTests {
    @Test func theRepositoryScenariosNeedWhatTheirSessionsHold() throws {
        #expect(try loadReal("memfd-basic").handlerNeeds.isEmpty)
        // vm-basic's RAM and vCPU state are memfds: memfd's handler is all it needs.
        #expect(try loadReal("vm-basic").handlerNeeds.isEmpty)
        #expect(try loadReal("vm-guest-memfd").handlerNeeds.map(\.abiFamily) == ["guest_memfd_luo", "kvm_vm_luo"])
        #expect(try loadReal("vm-guest-memfd").handlerNeeds.allSatisfy { $0.configOption == "LIVEUPDATE_GUEST_MEMFD" })
        #expect(try loadReal("iommufd-basic").handlerNeeds.map(\.abiFamily) == ["iommufd", "vfio-pci"])
    }
}
