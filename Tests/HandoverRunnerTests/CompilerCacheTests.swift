import Foundation
import Testing
@testable import HandoverImages
import HandoverTestSupport

@Suite("Compiler cache and build estimates")
struct CompilerCacheTests {
    @Test("ccache's stats log counts each compilation once, as a hit or a miss")
    func statsLog() {
        let log = """
            # /root/src/kernel/fork.c
            direct_cache_hit
            # /root/src/kernel/exit.c
            direct_cache_miss
            preprocessed_cache_hit
            # /root/src/mm/memfd.c
            direct_cache_miss
            cache_miss
            # /dev/null
            no_input_file
            """
        let counts = CompilerCache.Counts(statsLog: log)
        #expect(counts == CompilerCache.Counts(hits: 2, misses: 1))
        #expect(counts.summary == "ccache 66% of 3")
        #expect(CompilerCache.Counts(statsLog: "").summary == nil)
    }

    @Test("make runs the architecture's compiler and the host's through ccache, with paths under the cache made relative")
    func makeArguments() {
        let cache = CompilerCache(directory: URL(fileURLWithPath: "/c/ccache"), baseDirectory: URL(fileURLWithPath: "/c"))
        #expect(cache.makeArguments(.arm64) == ["CC=ccache aarch64-linux-gnu-gcc", "HOSTCC=ccache gcc"])
        #expect(cache.makeArguments(.x86_64) == ["CC=ccache gcc", "HOSTCC=ccache gcc"])
        #expect(cache.environment["CCACHE_BASEDIR"] == "/c")
        #expect(cache.environment["CCACHE_NOHASHDIR"] == "1")
        #expect(cache.environment["CCACHE_STATSLOG"] == nil)
        // A direct subfolder of the tree: kbuild then names the source `..` in every command.
        let tree = URL(fileURLWithPath: "/c/sources/linux-source-7.3")
        #expect(CompilerCache.objectFolder(in: tree, key: "k1").deletingLastPathComponent().path == tree.path)
    }

    func recipe(_ name: String, arch: Architecture = .x86_64) -> Recipe {
        Recipe(name: name, file: URL(fileURLWithPath: "Images/\(name).yaml"),
               source: .debian(package: "linux-source-7.3", version: "7.3.*", suite: "trixie"),
               base: .tinyconfig, fragments: [], cmdline: [], arch: arch)
    }

    @Test("an estimate comes from the recipe's last build, then a sibling source, then the cold figure scaled by cores")
    func estimates() {
        var built = SampleImages.image("linux-7.3", release: "7.3.4")
        built.buildSeconds = 600
        let source = built.source
        #expect(BuildEstimate.make(recipe: recipe("linux-7.3"), source: source, cached: [built]).seconds == 600)
        let variant = BuildEstimate.make(recipe: recipe("linux-7.3-gmem"), source: source, cached: [built])
        #expect(variant.seconds == 600 * BuildEstimate.variantShare)
        #expect(variant.basis.contains("linux-7.3"))
        var otherVersion = source
        otherVersion.packageVersion = "7.3.5-1"
        #expect(BuildEstimate.make(recipe: recipe("linux-7.3-gmem"), source: otherVersion, cached: [built]).seconds == 600)
        #expect(BuildEstimate.make(recipe: recipe("linux-7.3-arm64", arch: .arm64), source: source, cached: [built], cores: 4).seconds
                == BuildEstimate.coldSecondsOnTwoCores / 2)
        let first = BuildEstimate.make(recipe: recipe("linux-7.3"), source: source, cached: [], cores: 2)
        let second = BuildEstimate.make(recipe: recipe("linux-7.3-luo-v6"), source: source, cached: [],
                                        plannedBefore: [(recipe("linux-7.3"), source, first)], cores: 2)
        #expect(second.seconds == first.seconds * BuildEstimate.variantShare)
    }
}
