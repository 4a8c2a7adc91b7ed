import Foundation
import HandoverCore
import HandoverSupport

/// A built kernel image as recorded in the cache (image.json beside bzImage and config).
public struct KernelImage: Codable, Sendable, Equatable {
    public struct SourceInfo: Codable, Sendable, Equatable {
        public var kind: String
        public var package: String?
        public var packageVersion: String?
        public var suite: String?
        public var tree: String?
        public var commit: String?
        public var dirty: Bool?
        public var prebuiltFrom: String?
        /// For a git tree: the URL of the remote the checked-out branch tracks (or origin's),
        /// and that branch, as git said at build time; nil when it has none.
        public var remote: String? = nil
        public var branch: String? = nil
    
        package init(
            kind: String,
            package: String? = nil,
            packageVersion: String? = nil,
            suite: String? = nil,
            tree: String? = nil,
            commit: String? = nil,
            dirty: Bool? = nil,
            prebuiltFrom: String? = nil,
            remote: String? = nil,
            branch: String? = nil
        ) {
            self.kind = kind
            self.package = package
            self.packageVersion = packageVersion
            self.suite = suite
            self.tree = tree
            self.commit = commit
            self.dirty = dirty
            self.prebuiltFrom = prebuiltFrom
            self.remote = remote
            self.branch = branch
        }
}

    /// A patch applied to the tree before the build, and what `patch` said.
    public struct PatchRecord: Codable, Sendable, Equatable {
        /// How a patch went onto the tree.
        public enum Applied: String, Codable, Sendable {
            case clean
            /// `patch` needed fuzz (context lines that differ) for a hunk.
            case fuzz
            /// Some hunks did not apply; the project's port fixups (`portedBy`) stand in for them.
            case ported
        }

        /// The patch file, or for a series patch the message file it was read from.
        public var file: String
        public var sha256: String
        public var output: String
        /// Set for a posted series' patch: its subject, Message-ID and the series' thread root.
        public var subject: String? = nil
        public var messageID: String? = nil
        public var series: String? = nil
        public var applied: Applied? = nil
        /// The recipe's fixups that port this series patch (their file names).
        public var portedBy: [String]? = nil

        package init(file: String, sha256: String, output: String, subject: String? = nil, messageID: String? = nil,
                     series: String? = nil, applied: Applied? = nil, portedBy: [String]? = nil) {
            self.file = file
            self.sha256 = sha256
            self.output = output
            self.subject = subject
            self.messageID = messageID
            self.series = series
            self.applied = applied
            self.portedBy = portedBy
        }
    }

    public var recipe: String
    public var recipeFile: String
    public var key: String
    public var kernelRelease: String
    public var source: SourceInfo
    public var baseConfig: String
    public var fragments: [String]
    public var compiler: String
    public var capabilities: Capabilities
    /// nil when the image came without a source tree (a prebuilt bzImage alone).
    public var abi: ABIStrings?
    /// The bzImage carries XLF_CAN_BE_LOADED_ABOVE_4G, which kexec_file_load requires.
    public var kexecLoadable: Bool
    public var cmdline: [String]
    public var builtAt: Date
    public var buildSeconds: Double?
    public var makeSeconds: Double?
    public var compiledUnits: Int?
    /// What ccache served of this build's compilations (nil without ccache, or for older images).
    public var compilerCache: CompilerCache.Counts?
    /// The unpacked source tree this image was built from (for its selftests), if kept.
    public var sourceTree: String?
    public var patches: [PatchRecord]? = nil
    /// The modules the agent loads before anything else, in order, as paths under
    /// `modules/lib/modules/<release>/` in the image folder (a recipe with `modules:`).
    public var moduleLoadOrder: [String]? = nil
    /// The kernel architecture it was built for (make's ARCH), recorded at build time.
    public var architecture: String? = nil
    /// sha256 of the final .config (the `config` file beside bzImage), recorded at build time.
    public var configSHA256: String? = nil
    /// sha256 of each file the image boots from or describes (bzImage, config), recorded at
    /// build and checked at every load: a truncated or altered file is never booted.
    public var digests: [String: String]? = nil

    /// The files whose digests are recorded.
    public static let digestedFiles = ["bzImage", "config"]

    /// The files whose digests are recorded for an architecture's image (its kernel file and config).
    public static func digestedFiles(_ arch: Architecture) -> [String] { [arch.kernelFileName, "config"] }

    /// Filled in when loaded: the cache folder holding bzImage, config, headers.
    public var folder: URL? = nil

    enum CodingKeys: String, CodingKey {
        case recipe, recipeFile, key, kernelRelease, source, baseConfig, fragments, compiler, capabilities, abi
        case kexecLoadable, cmdline, builtAt, buildSeconds, makeSeconds, compiledUnits, compilerCache, sourceTree, patches, digests
        case architecture, configSHA256, moduleLoadOrder
    }

    /// The kernel file: an x86 bzImage, or an arm64 Image (see `Architecture.kernelFileName`).
    public var bzImage: URL { folder!.appendingPathComponent(arch.kernelFileName) }
    public var configFile: URL { folder!.appendingPathComponent("config") }
    public var headers: URL { folder!.appendingPathComponent("headers") }
    public static let modulesFolderName = "modules"
    /// The installed module tree of this kernel (`lib/modules/<release>`).
    public var modulesTree: URL { folder!.appendingPathComponent("\(Self.modulesFolderName)/lib/modules/\(kernelRelease)") }

    public var hasLiveUpdate: Bool { capabilities.liveUpdate && capabilities.kexecHandover }

    /// "7.3.4-1~bpo13+1" for a Debian source, the commit for a tree.
    public var versionLabel: String {
        if let version = source.packageVersion { return version }
        guard let commit = source.commit else { return "prebuilt" }
        // A tree that is not a git checkout (older caches said "no-git" and dirty).
        if commit.hasPrefix(Self.contentPrefix) { return "no git, content " + commit.dropFirst(Self.contentPrefix.count).prefix(8) }
        if commit == "no-git" { return "no git" }
        return String(commit.prefix(12)) + (source.dirty == true ? "-dirty" : "")
    }

    /// The "commit" of a source tree that is not a git checkout: content-<digest>.
    public static let contentPrefix = "content-"

    /// Loads an image's record and checks its files against the digests recorded at build.
    /// Throws `CacheDamage` when a file is missing, truncated or altered.
    public static func load(from folder: URL, verifying: Bool = true) throws -> KernelImage {
        let record = folder.appendingPathComponent("image.json")
        var image = try JSONCoding.decode(KernelImage.self, from: record)
        image.folder = folder
        if verifying { try image.verify() }
        return image
    }

    /// The digests of the image's files as they are now.
    public static func digests(in folder: URL, arch: Architecture = .default) throws -> [String: String] {
        var digests: [String: String] = [:]
        for name in digestedFiles(arch) { digests[name] = try Digest.sha256(file: folder.appendingPathComponent(name)) }
        return digests
    }

    public func verify() throws {
        guard let folder else { return }
        for name in Self.digestedFiles(arch) {
            let file = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw CacheDamage(file: file, problem: "is missing")
            }
            guard let expected = digests?[name] else { continue }
            let actual = try Digest.sha256(file: file)
            if actual != expected {
                throw CacheDamage(file: file, problem: "does not match the digest recorded when it was built (sha256 \(actual.prefix(12)), recorded \(expected.prefix(12))): truncated or altered")
            }
        }
    }

    package init(
        recipe: String,
        recipeFile: String,
        key: String,
        kernelRelease: String,
        source: SourceInfo,
        baseConfig: String,
        fragments: [String],
        compiler: String,
        capabilities: Capabilities,
        abi: ABIStrings? = nil,
        kexecLoadable: Bool,
        cmdline: [String],
        builtAt: Date,
        buildSeconds: Double? = nil,
        makeSeconds: Double? = nil,
        compiledUnits: Int? = nil,
        compilerCache: CompilerCache.Counts? = nil,
        sourceTree: String? = nil,
        patches: [PatchRecord]? = nil,
        architecture: String? = nil,
        configSHA256: String? = nil,
        digests: [String: String]? = nil,
        moduleLoadOrder: [String]? = nil,
        folder: URL? = nil
    ) {
        self.recipe = recipe
        self.recipeFile = recipeFile
        self.key = key
        self.kernelRelease = kernelRelease
        self.source = source
        self.baseConfig = baseConfig
        self.fragments = fragments
        self.compiler = compiler
        self.capabilities = capabilities
        self.abi = abi
        self.kexecLoadable = kexecLoadable
        self.cmdline = cmdline
        self.builtAt = builtAt
        self.buildSeconds = buildSeconds
        self.makeSeconds = makeSeconds
        self.compiledUnits = compiledUnits
        self.compilerCache = compilerCache
        self.sourceTree = sourceTree
        self.patches = patches
        self.architecture = architecture
        self.configSHA256 = configSHA256
        self.digests = digests
        self.moduleLoadOrder = moduleLoadOrder
        self.folder = folder
    }
}

/// A cached image whose files are not what was built.
public struct CacheDamage: Error, CustomStringConvertible, Sendable {
    public var file: URL
    public var problem: String
    public var description: String { "the cached \(file.path) \(problem)" }
}

extension KernelImage {
    /// Whether the image's files are intact (see `verify`).
    public var isIntact: Bool { (try? verify()) != nil }
}

/// Reads the x86 boot protocol header of a bzImage.
public struct BzImageHeader: Sendable, Equatable {
    public var protocolVersion: UInt16
    public var xloadflags: UInt16
    public var kernelVersion: String?

    public var canBeLoadedAbove4G: Bool { xloadflags & 0x2 != 0 }
    public var release: String? { kernelVersion?.split(separator: " ").first.map(String.init) }

    public init(data: Data) throws {
        let bytes = [UInt8](data.prefix(0x10000))
        func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
        guard bytes.count > 0x240, bytes[0x202] == 0x48, bytes[0x203] == 0x64, bytes[0x204] == 0x72, bytes[0x205] == 0x53 else {
            throw HarnessError(.io, "not a bzImage: no 'HdrS' boot header")
        }
        protocolVersion = u16(0x206)
        xloadflags = protocolVersion >= 0x20c ? u16(0x236) : 0
        let versionOffset = Int(u16(0x20e))
        if versionOffset != 0, versionOffset + 0x200 < bytes.count {
            let start = versionOffset + 0x200
            let end = bytes[start...].firstIndex(of: 0) ?? min(bytes.count, start + 256)
            kernelVersion = String(decoding: bytes[start..<end], as: UTF8.self)
        }
    }

    public init(contentsOf url: URL) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw HarnessError(.io, "cannot read \(url.path)") }
        defer { try? handle.close() }
        try self.init(data: handle.readData(ofLength: 0x10000))
    }
}

extension KernelImage {
    /// The not-yet-merged series this build carries, told by the ABI strings they add.
    public var carriedSeries: [SeriesRevision] { SeriesRevision.carried(byABIStrings: abi?.sortedValues ?? []) }
}
