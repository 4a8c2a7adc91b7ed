import Foundation
import HandoverSupport

/// ccache for every kernel build handover runs (images, bisect steps), one cache under
/// handover's, so kernels that share a source (linux-7.3, its patched and re-configured
/// variants, the bisect fixture) compile a file once. Builds place their object folder as a
/// direct subfolder of the source tree (`objectFolder(in:)`): kbuild then names the source as
/// `..` in every command line (its `srcroot`), so the same file in two trees gives the same
/// command and the same preprocessed text. `base_dir` rewrites whatever absolute path remains
/// under the cache root, and the working directory is not hashed, so the object folder's name
/// does not matter either.
public struct CompilerCache: Sendable, Equatable {
    public var directory: URL
    /// Where this build's ccache writes one line per compilation (its result), for the hit rate.
    public var statsLog: URL?
    var baseDirectory: URL

    public init(directory: URL, baseDirectory: URL, statsLog: URL? = nil) {
        self.directory = directory
        self.baseDirectory = baseDirectory
        self.statsLog = statsLog
    }

    /// The cache under the cache root when the ccache command exists, nil otherwise (builds
    /// then run the compiler directly).
    public static func make(paths: CachePaths) -> CompilerCache? {
        guard Lifeline.resolve("ccache", path: ProcessInfo.processInfo.environment["PATH"]) != nil else { return nil }
        return CompilerCache(directory: paths.root.appendingPathComponent("ccache"), baseDirectory: paths.root)
    }

    /// The object folder for a tree handover owns (unpacked or patched in the cache): inside
    /// the tree, one per image key, so concurrent builds of one tree do not meet.
    public static func objectFolder(in tree: URL, key: String) -> URL {
        tree.appendingPathComponent(".handover-build-\(key)")
    }

    /// make's compiler variables: the target compiler (cross or not) and the host one.
    func makeArguments(_ arch: Architecture) -> [String] {
        ["CC=ccache \(arch.compiler)", "HOSTCC=ccache gcc"]
    }

    var environment: [String: String] {
        var environment = [
            "CCACHE_DIR": directory.path,
            "CCACHE_MAXSIZE": "8G",
            "CCACHE_BASEDIR": baseDirectory.path,
            "CCACHE_NOHASHDIR": "1",
            // init/version.c and a few others use __DATE__/__TIME__ through
            // KBUILD_BUILD_TIMESTAMP; the kernel sets it, so the macros do not vary by build.
            "CCACHE_SLOPPINESS": "time_macros",
        ]
        if let statsLog { environment["CCACHE_STATSLOG"] = statsLog.path }
        return environment
    }

    /// The same cache, logging this build's results to `file` (emptied first).
    public func logging(to file: URL) -> CompilerCache {
        FileManager.default.createFile(atPath: file.path, contents: nil)
        var copy = self
        copy.statsLog = file
        return copy
    }

    /// Hits and misses of the compilations in this build's log so far.
    public func counts() -> Counts {
        guard let statsLog, let text = try? String(contentsOf: statsLog, encoding: .utf8) else { return Counts() }
        return Counts(statsLog: text)
    }

    public struct Counts: Sendable, Equatable, Codable {
        public var hits = 0
        public var misses = 0

        public init(hits: Int = 0, misses: Int = 0) {
            self.hits = hits
            self.misses = misses
        }

        /// ccache's stats log: a `# <time>` line, then one counter name per line
        /// (`direct_cache_hit`, `preprocessed_cache_hit`, `cache_miss`, ...).
        public init(statsLog text: String) {
            for line in text.split(separator: "\n") {
                if line.hasSuffix("cache_hit") { hits += 1 } else if line == "cache_miss" { misses += 1 }
            }
        }

        public var compilations: Int { hits + misses }

        /// "ccache 93% of 1204" for a progress line; nil before the first compilation.
        public var summary: String? {
            guard compilations > 0 else { return nil }
            return "ccache \(hits * 100 / compilations)% of \(compilations)"
        }
    }
}
