import Foundation
import Testing
@testable import HandoverImages


/// Fixtures/abi-tree: a fake tree holding include/linux/kho/abi/{luo,memfd,kexec_handover,memblock}.h.
private func fixtureTree() throws -> URL {
    let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return fixtures.appendingPathComponent("abi-tree")
}

@Suite("ABIStrings")
struct ABIStringsTests {
    @Test func extractFromHeaderTakesPlainDefinesOnly() {
        let header = """
            /* SPDX-License-Identifier: GPL-2.0 */
            /*
             * The compatible string of the LUO data. A kernel is only compatible with
             * data whose string it knows.
             * #define COMMENTED_COMPATIBLE "in-comment-v1"
             */
            #define LUO_ABI_COMPATIBLE "luo-v5"
            #define X_COMPATIBLE(i) "x-v" #i
            #  define  SPACED_COMPATIBLE\t"spaced-v3"
            #define LUO_FDT_SIZE "4096"
            #define COMPATIBLE_NOT_AT_END "nope-v1"
            // #define SLASHED_COMPATIBLE "slashed-v1"
            #define EMPTY_COMPATIBLE ""
            """
        let found = ABIStrings.extract(fromHeader: header)
        #expect(found == ["LUO_ABI_COMPATIBLE": "luo-v5", "SPACED_COMPATIBLE": "spaced-v3"])
    }

    @Test func extractFromHeaderOfNothing() {
        #expect(ABIStrings.extract(fromHeader: "").isEmpty)
        #expect(ABIStrings.extract(fromHeader: "/* compatible */\n#include <linux/types.h>\n").isEmpty)
    }

    @Test func fixtureHeadersOneByOne() throws {
        let folder = try fixtureTree().appendingPathComponent(ABIStrings.headerFolder)
        func read(_ name: String) throws -> [String: String] {
            ABIStrings.extract(fromHeader: try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))
        }
        #expect(try read("luo.h") == ["LUO_ABI_COMPATIBLE": "luo-v5", "LUO_SESSION_COMPATIBLE": "luo-session-v1"])
        #expect(try read("memfd.h") == ["MEMFD_LUO_FH_COMPATIBLE": "memfd-v2"])
        #expect(try read("kexec_handover.h") == ["KHO_FDT_COMPATIBLE": "kho-v4"])
        #expect(try read("memblock.h") == ["RESERVE_MEM_KHO_NODE_COMPATIBLE": "reserve-mem-v1"])
    }

    @Test func extractFromTree() throws {
        let abi = try ABIStrings.extract(fromTree: try fixtureTree())
        #expect(abi.byMacro == [
            "LUO_ABI_COMPATIBLE": "luo-v5",
            "LUO_SESSION_COMPATIBLE": "luo-session-v1",
            "MEMFD_LUO_FH_COMPATIBLE": "memfd-v2",
            "KHO_FDT_COMPATIBLE": "kho-v4",
            "RESERVE_MEM_KHO_NODE_COMPATIBLE": "reserve-mem-v1",
        ])
        #expect(abi.sortedValues == ["kho-v4", "luo-session-v1", "luo-v5", "memfd-v2", "reserve-mem-v1"])
        #expect(abi.byFamily == [
            "luo": "luo-v5",
            "luo-session": "luo-session-v1",
            "memfd": "memfd-v2",
            "kho": "kho-v4",
            "reserve-mem": "reserve-mem-v1",
        ])
    }

    @Test func extractFromTreeWrittenInTheTest() throws {
        let fm = FileManager.default
        let tree = fm.temporaryDirectory.appendingPathComponent("handover-abi-tests-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tree) }
        let folder = tree.appendingPathComponent("include/linux/kho/abi")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        try "#define LUO_ABI_COMPATIBLE \"luo-v6\"\n".write(to: folder.appendingPathComponent("luo.h"), atomically: true, encoding: .utf8)
        try "#define KHO_FDT_COMPATIBLE \"kho-v4\"\n".write(to: folder.appendingPathComponent("kexec_handover.h"), atomically: true, encoding: .utf8)
        try "#define STRAY_COMPATIBLE \"stray-v1\"\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let abi = try ABIStrings.extract(fromTree: tree)
        #expect(abi.byFamily == ["luo": "luo-v6", "kho": "kho-v4"])
    }

    @Test func treeWithoutAnABIFolderGivesAnEmptySet() throws {
        let fm = FileManager.default
        let tree = fm.temporaryDirectory.appendingPathComponent("handover-abi-tests-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tree) }
        try fm.createDirectory(at: tree.appendingPathComponent("include/linux"), withIntermediateDirectories: true)
        try "#define KHO_FDT_COMPATIBLE \"kho-v1\"\n"
            .write(to: tree.appendingPathComponent("include/linux/kexec_handover.h"), atomically: true, encoding: .utf8)
        let abi = try ABIStrings.extract(fromTree: tree)
        #expect(abi.byMacro.isEmpty)
        #expect(abi.byFamily.isEmpty)
        #expect(abi.sortedValues.isEmpty)
        #expect(abi == ABIStrings(byMacro: [:]))
    }

    @Test func familyStripsTheVersionSuffix() {
        #expect(ABIStrings.family(of: "reserve-mem-v1") == "reserve-mem")
        #expect(ABIStrings.family(of: "memfd-v2") == "memfd")
        #expect(ABIStrings.family(of: "luo-v12") == "luo")
        #expect(ABIStrings.family(of: "memblock") == "memblock")
        #expect(ABIStrings.family(of: "kho-v") == "kho-v")
        #expect(ABIStrings(byMacro: ["RESERVE_MEM_KHO_NODE_COMPATIBLE": "reserve-mem-v1"]).byFamily == ["reserve-mem": "reserve-mem-v1"])
    }

    @Test func codableRoundTrip() throws {
        let abi = ABIStrings(byMacro: ["LUO_ABI_COMPATIBLE": "luo-v5", "KHO_FDT_COMPATIBLE": "kho-v4"])
        let data = try JSONEncoder().encode(abi)
        #expect(try JSONDecoder().decode(ABIStrings.self, from: data) == abi)
    }
}
