import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverMachines
@testable import HandoverMatrix

/// Generated documents for the matrix and recipe parsers: each must either parse or be refused
/// with an InputError naming the file, never crash. Fixed seeds, so a failure reproduces.
@Suite struct ParserFuzzTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    }

    static let scalars = ["linux-7.2", "linux-7.3", "memfd-basic", "all", "upgrade", "rollback", "none", "10%", "0.5", "-1", "0",
                          "3", "99999999999999999999", "true", "no", "~", "''", "\"x\"", "auto", "kvm", "tcg", "12:34:56",
                          "tinyconfig", "defconfig", "/nonexistent", "fragments", "*", "7.3.*", "sid", "[", "{", "&a", "*a", "!!int x"]

    func value(_ random: inout SplitMix, keys: [String], depth: Int) -> String {
        switch depth > 2 ? 0 : random.below(4) {
        case 0: return random.pick(Self.scalars)
        case 1: return "[" + (0..<random.below(4)).map { _ in random.pick(Self.scalars) }.joined(separator: ", ") + "]"
        case 2:
            return "{" + (0..<random.below(3)).map { _ in "\(random.pick(keys)): \(value(&random, keys: keys, depth: depth + 1))" }.joined(separator: ", ") + "}"
        default:
            return "\n" + (0..<(1 + random.below(3))).map { _ in
                String(repeating: "  ", count: depth + 1) + "- " + value(&random, keys: keys, depth: depth + 1)
            }.joined(separator: "\n")
        }
    }

    /// A valid document with a few lines changed: a value replaced, a line dropped or doubled.
    func mutation(of valid: String, _ random: inout SplitMix, keys: [String]) -> String {
        var lines = valid.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<random.below(3) where !lines.isEmpty {
            let index = random.below(lines.count)
            switch random.below(4) {
            case 0: lines.remove(at: index)
            case 1: lines.insert(lines[index], at: index)
            case 2:
                if let colon = lines[index].firstIndex(of: ":") {
                    lines[index] = String(lines[index][...colon]) + " " + value(&random, keys: keys, depth: 1)
                }
            default: lines.insert("\(random.pick(keys)): \(random.pick(Self.scalars))", at: index)
            }
        }
        return lines.joined(separator: "\n")
    }

    func document(_ random: inout SplitMix, keys: [String]) -> String {
        (0..<random.below(9)).map { _ in
            let key = random.below(10) == 0 ? "junk\(random.below(5))" : random.pick(keys)
            return "\(key): \(value(&random, keys: keys, depth: 0))"
        }.joined(separator: "\n") + "\n"
    }

    @Test func matrixParserNeverCrashes() {
        var random = SplitMix(state: 0x4d41_5452_4958)
        let keys = MatrixFile.keys + ["from", "to", "debian"]
        var parsed = 0, refused = 0
        let valid = """
            name: fuzz
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic]
            pairs: upgrade
            chains:
              - [linux-7.2, linux-7.3, linux-7.2]
            repeats: 2
            timeout: 60
            regression-threshold: 10%
            accel: tcg
            """
        for round in 0..<3000 {
            let text = round % 2 == 0 ? mutation(of: valid, &random, keys: keys) : document(&random, keys: keys)
            do {
                let matrix = try MatrixFile.parse(text: text, file: "fuzz.yaml")
                #expect(!matrix.images.isEmpty && !matrix.scenarios.isEmpty)
                parsed += 1
            } catch {
                #expect(error.file == "fuzz.yaml")
                refused += 1
            }
        }
        print("matrix parser fuzz (seed 0x4d4154524958): \(parsed + refused) documents, \(parsed) parsed, \(refused) refused")
        #expect(parsed + refused == 3000)
        #expect(refused > 0)
        #expect(parsed > 0)
    }

    @Test func recipeParserNeverCrashes() throws {
        var random = SplitMix(state: 0x5245_4349_5045)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-recipe-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("fragments"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "CONFIG_X=y\n".write(to: folder.appendingPathComponent("fragments/tiny-guest.config"), atomically: true, encoding: .utf8)
        let keys = Recipe.keys + ["debian", "tree", "prebuilt", "package", "version", "suite", "base", "fragments", "bzImage"]
        let file = folder.appendingPathComponent("fuzz.yaml")
        var parsed = 0, refused = 0
        let valid = """
            description: fuzz
            source:
              debian: {package: linux-source-7.3, version: "7.3.*", suite: sid}
            config:
              base: tinyconfig
              fragments: [tiny-guest]
            cmdline: "quiet"
            """
        for round in 0..<2000 {
            let text = round % 2 == 0 ? mutation(of: valid, &random, keys: keys) : document(&random, keys: keys)
            try text.write(to: file, atomically: false, encoding: .utf8)
            do {
                _ = try Recipe.load(from: file)
                parsed += 1
            } catch {
                #expect(error.file == file.path)
                refused += 1
            }
        }
        print("recipe parser fuzz (seed 0x524543495045): \(parsed + refused) documents, \(parsed) parsed, \(refused) refused")
        #expect(parsed + refused == 2000)
        #expect(refused > 0)
        #expect(parsed > 0)
    }
}

@Suite struct MatrixBackendTests {
    let base = "images: [a, b]\nscenarios: [memfd-basic]\n"

    @Test func defaultIsQEMU() throws {
        let matrix = try MatrixFile.parse(text: base, file: "m.yaml")
        #expect(matrix.backends == [MatrixFile.BackendSlot(backend: .qemu, jobs: nil)])
    }

    @Test func severalBackendsWithTheirOwnJobs() throws {
        let matrix = try MatrixFile.parse(text: base + """
            backends:
              - qemu
              - {backend: libvirt, connect: "qemu+tcp://127.0.0.1:16519/system", jobs: 2}
              - {backend: libvirt, jobs: 1}
            """, file: "m.yaml")
        #expect(matrix.backends == [
            MatrixFile.BackendSlot(backend: .qemu, jobs: nil),
            MatrixFile.BackendSlot(backend: .libvirt(uri: "qemu+tcp://127.0.0.1:16519/system"), jobs: 2),
            MatrixFile.BackendSlot(backend: .libvirt(uri: Backend.defaultLibvirtURI), jobs: 1),
        ])
    }

    @Test func badBackends() throws {
        let unknown = try #require(throws: InputError.self) {
            try MatrixFile.parse(text: base + "backends: [{backend: xen}]\n", file: "m.yaml")
        }
        #expect(unknown.keyPath == "backends[0].backend")
        let twice = try #require(throws: InputError.self) {
            try MatrixFile.parse(text: base + "backends: [qemu, qemu]\n", file: "m.yaml")
        }
        #expect(twice.message.contains("twice"))
        let stray = try #require(throws: InputError.self) {
            try MatrixFile.parse(text: base + "backends: [{backend: qemu, connect: x}]\n", file: "m.yaml")
        }
        #expect(stray.message.contains("libvirt"))
    }

    @Test func runsGoToTheLeastBusySlotWithRoom() {
        var tally = MatrixRunner.Tally(total: 4, started: Date(), busy: [0, 0])
        #expect(tally.freeSlot(limits: [1, 2]) == 0)
        #expect(tally.freeSlot(limits: [1, 2]) == 1)
        #expect(tally.freeSlot(limits: [1, 2]) == 1)
        #expect(tally.freeSlot(limits: [1, 2]) == nil)
        #expect(tally.running == 3)
    }
}
