import Crypto
import Foundation
import HandoverSupport

/// Everything that goes into an image. Two builds with equal inputs give the same key; any
/// change (source version, tree commit or dirty state, config, a fragment, the compiler)
/// gives another.
public struct ImageKeyInputs: Codable, Sendable, Equatable {
    /// Bumped when the way handover builds images changes.
    public static let schema = 1

    public var schema: Int = ImageKeyInputs.schema
    public var source: String
    public var baseConfig: String
    public var fragments: [String]
    public var compiler: String
    public var cmdline: [String]
    /// Each patch's name and content digest, in order; absent (not empty) for unpatched recipes,
    /// so their keys stay what they were before patches existed.
    public var patches: [String]?
    /// Each posted series patch's Message-ID and the digest of its message, in the order they
    /// apply; absent for recipes without series, so their keys stay what they were.
    public var series: [String]?
    /// The architecture, only when it is not x86_64 (absent, not "x86_64", for x86_64 images,
    /// so their keys stay what they were before architectures existed).
    public var arch: String?
    /// The recipe's module selection; absent when it keeps none (so those keys stay as they were).
    public var modules: String?

    public init(source: String, baseConfig: String, fragments: [String], compiler: String, cmdline: [String], patches: [String]? = nil,
                series: [String]? = nil, arch: Architecture = .default, modules: String? = nil) {
        self.series = series
        self.source = source
        self.baseConfig = baseConfig
        self.fragments = fragments
        self.compiler = compiler
        self.cmdline = cmdline
        self.patches = patches
        self.arch = arch == .default ? nil : arch.rawValue
        self.modules = modules
    }

    public var key: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        return Digest.hex(SHA256.hash(data: data)).prefix(24).description
    }
}

/// The SHA-256 of a file's content in hex, for other modules (the libvirt backend names its
/// uploads by it).
public enum FileDigest {
    public static func sha256(_ url: URL) throws -> String { try Digest.sha256(file: url) }
}

package enum Digest {
    package static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    package static func sha256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    package static func sha256(file url: URL) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw HarnessError(.io, "cannot read \(url.path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }
}
