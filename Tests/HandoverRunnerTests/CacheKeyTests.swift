import Foundation
import Testing
@testable import HandoverImages


private func baseline() -> ImageKeyInputs {
    ImageKeyInputs(
        source: "debian:linux-source-7.3=7.3.4-1~bpo13+1",
        baseConfig: "tinyconfig",
        fragments: ["CONFIG_TTY=y\n", "CONFIG_LIVEUPDATE=y\n"],
        compiler: "gcc (Debian 14.2.0-19) 14.2.0",
        cmdline: ["kho=on"]
    )
}

@Suite("ImageKeyInputs.key")
struct CacheKeyTests {
    @Test func keyIsTwentyFourLowercaseHexCharacters() {
        let key = baseline().key
        #expect(key.count == 24)
        #expect(key.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func keyIsStableForEqualInputs() {
        let a = baseline()
        let b = ImageKeyInputs(
            source: "debian:linux-source-7.3=7.3.4-1~bpo13+1",
            baseConfig: "tinyconfig",
            fragments: ["CONFIG_TTY=y\n", "CONFIG_LIVEUPDATE=y\n"],
            compiler: "gcc (Debian 14.2.0-19) 14.2.0",
            cmdline: ["kho=on"]
        )
        #expect(a == b)
        #expect(a.key == b.key)
        #expect(a.key == a.key)
        #expect(a.schema == ImageKeyInputs.schema)
    }

    @Test func keySurvivesAJSONRoundTrip() throws {
        let a = baseline()
        let decoded = try JSONDecoder().decode(ImageKeyInputs.self, from: JSONEncoder().encode(a))
        #expect(decoded == a)
        #expect(decoded.key == a.key)
    }

    struct Change: Sendable, CustomTestStringConvertible {
        var name: String
        var apply: @Sendable (inout ImageKeyInputs) -> Void
        var testDescription: String { name }
    }

    @Test(arguments: [
        Change(name: "source") { $0.source = "debian:linux-source-7.3=7.3.5-1~bpo13+1" },
        Change(name: "baseConfig") { $0.baseConfig = "defconfig" },
        Change(name: "fragment content") { $0.fragments[1] = "CONFIG_LIVEUPDATE=m\n" },
        Change(name: "fragment order") { $0.fragments.reverse() },
        Change(name: "fragment added") { $0.fragments.append("CONFIG_SMP=y\n") },
        Change(name: "compiler") { $0.compiler = "gcc (Debian 14.2.0-20) 14.2.0" },
        Change(name: "cmdline") { $0.cmdline = ["kho=on", "quiet"] },
        Change(name: "cmdline emptied") { $0.cmdline = [] },
        Change(name: "schema") { $0.schema += 1 },
    ])
    func anySingleChangeGivesAnotherKey(_ change: Change) {
        let original = baseline()
        var changed = baseline()
        change.apply(&changed)
        #expect(changed != original)
        #expect(changed.key != original.key)
        #expect(changed.key.count == 24)
    }

    @Test func fieldsDoNotBleedIntoEachOther() {
        // Moving text from one field to the next must not give the same key.
        let a = ImageKeyInputs(source: "ab", baseConfig: "c", fragments: [], compiler: "x", cmdline: [])
        let b = ImageKeyInputs(source: "a", baseConfig: "bc", fragments: [], compiler: "x", cmdline: [])
        #expect(a.key != b.key)
        let c = ImageKeyInputs(source: "s", baseConfig: "b", fragments: ["a b"], compiler: "x", cmdline: [])
        let d = ImageKeyInputs(source: "s", baseConfig: "b", fragments: ["a", "b"], compiler: "x", cmdline: [])
        #expect(c.key != d.key)
    }

    @Test func digestHelpers() {
        #expect(Digest.sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }
}
