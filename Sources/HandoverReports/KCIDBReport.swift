import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverResults

/// How a KCIDB report names its origin and links its files.
public struct KCIDBOptions: Sendable, Equatable {
    /// The CI system's name: every id starts with "ORIGIN:".
    public var origin: String
    /// Where the results folder is published (an artifact store); the report's links are this
    /// URL joined with each file's path in the folder. Without it they are file:// URLs of the
    /// folder on this machine.
    public var artifactsURL: String?

    public init(origin: String = "handover", artifactsURL: String? = nil) {
        self.origin = origin
        self.artifactsURL = artifactsURL
    }

    /// KCIDB's origin pattern: lowercase letters, digits and underscores.
    public static func isValidOrigin(_ origin: String) -> Bool {
        !origin.isEmpty && origin.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Whether a URL is absolute (has a scheme), as KCIDB's "uri" format requires.
    public static func isAbsoluteURL(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return false }
        let scheme = text[..<colon]
        return scheme.first!.isLetter && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
            && !text.contains(" ")
    }
}

/// A matrix as KCIDB I/O data (schema 5.3, the latest kcidb-io knows), for submission to
/// KernelCI's common database with `kcidb-submit`:
///
/// - a checkout per kernel source (a Debian package version, or a git commit with its remote
///   and branch, plus the recipe's patches as the patchset);
/// - a build per kernel image (architecture, config name and digest, compiler, duration);
/// - per run, a test on the build of the kernel updated *to*, at
///   `handover.<scenario>.<from-recipe>` (chains: every kernel before the last, joined by
///   `--`), with the blackout and each of its phases as DONE tests carrying a `number` in
///   seconds, each selftest as a test of its own, and a MISS test for a run that has no result.
///
/// Names in paths keep letters, digits, `-` and `_`; anything else (the dots of `linux-7.3`)
/// becomes `_`, since a dot separates path levels. The real names are in each test's misc.
public enum KCIDBReport {
    public static let fileName = "kcidb.json"
    public static let schemaMajor = 5
    public static let schemaMinor = 3

    public static func write(_ summary: MatrixSummary, folder: URL, options: KCIDBOptions, to url: URL) throws {
        try AtomicFile.write(try encode(make(summary, folder: folder, options: options)) + Data("\n".utf8), to: url)
    }

    public static func encode(_ data: KCIDBData) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(data)
    }

    /// The KCIDB status of a verdict, as KCIDB defines its statuses: PASS and FAIL say the
    /// kernels were found correct or faulty; ERROR that the run did not complete (handover's
    /// error verdict: the harness or the host broke) and says nothing about them; SKIP that the
    /// test was not applicable (unsupported: the first kernel cannot preserve what the scenario
    /// needs). MISS, the test did not run at all, is for planned runs without a result.
    public static func status(_ verdict: Verdict) -> String {
        switch verdict {
        case .pass: "PASS"
        case .fail: "FAIL"
        case .error: "ERROR"
        case .unsupported: "SKIP"
        }
    }

    static func status(_ selftest: SelftestOutcome.Status) -> String {
        switch selftest {
        case .pass: "PASS"
        case .fail: "FAIL"
        case .error: "ERROR"
        case .skip: "SKIP"
        }
    }

    /// One level of a test path: letters, digits, "-" and "_" kept, anything else "_".
    public static func pathSegment(_ name: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            let keep = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
            scalars.append(keep ? scalar : "_")
        }
        return scalars.isEmpty ? "_" : String(scalars)
    }

    /// The path of a cell's tests: handover.<scenario>.<every kernel before the last>.
    public static func path(scenario: String, chain: [String]) -> String {
        "handover.\(pathSegment(scenario)).\(chain.dropLast().map(pathSegment).joined(separator: "--"))"
    }

    public static func make(_ summary: MatrixSummary, folder: URL, options: KCIDBOptions) -> KCIDBData {
        var builder = Builder(summary: summary, folder: folder, options: options)
        builder.collect()
        return builder.data
    }
}

// MARK: - The data, as kcidb-io's schema names it

public struct KCIDBData: Codable, Sendable, Equatable {
    public struct Version: Codable, Sendable, Equatable {
        public var major: Int
        public var minor: Int
    }

    public var version: Version
    public var checkouts: [KCIDBCheckout] = []
    public var builds: [KCIDBBuild] = []
    public var tests: [KCIDBTest] = []
}

public struct KCIDBResource: Codable, Sendable, Equatable {
    public var name: String
    public var url: String
}

public struct KCIDBCheckout: Codable, Sendable, Equatable {
    public var id: String
    public var origin: String
    public var tree_name: String?
    public var git_repository_url: String?
    public var git_repository_branch: String?
    public var git_commit_hash: String?
    public var patchset_hash: String?
    public var patchset_files: [KCIDBResource]?
    public var comment: String?
    public var valid: Bool?
    public var misc: JSONValue?
}

public struct KCIDBBuild: Codable, Sendable, Equatable {
    public var id: String
    public var checkout_id: String
    public var origin: String
    public var comment: String?
    public var start_time: String?
    public var duration: Double?
    public var architecture: String?
    public var compiler: String?
    public var config_name: String?
    public var config_url: String?
    public var log_url: String?
    public var status: String?
    public var misc: JSONValue?
}

public struct KCIDBNumber: Codable, Sendable, Equatable {
    public var value: Double
    public var unit: String?
}

public struct KCIDBEnvironment: Codable, Sendable, Equatable {
    public var comment: String?
    public var misc: JSONValue?
}

public struct KCIDBTest: Codable, Sendable, Equatable {
    public var id: String
    public var build_id: String
    public var origin: String
    public var path: String?
    public var status: String?
    public var comment: String?
    public var environment: KCIDBEnvironment?
    public var log_url: String?
    public var log_excerpt: String?
    public var number: KCIDBNumber?
    public var start_time: String?
    public var duration: Double?
    public var output_files: [KCIDBResource]?
    public var misc: JSONValue?
}

/// Free-form JSON for the misc fields.
public enum JSONValue: Codable, Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    case string(String)
    case number(Double)
    case int(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(stringLiteral value: String) { self = .string(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(Dictionary(elements) { a, _ in a }) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}

/// An object's misc, leaving out what is unknown (KCIDB allows no nulls, and none in misc
/// either keeps the data plain).
private struct Misc {
    var fields: [String: JSONValue] = [:]
    mutating func text(_ key: String, _ value: String?) { if let value { fields[key] = .string(KCIDBText.clean(value)) } }
    mutating func set(_ key: String, _ value: JSONValue?) { if let value { fields[key] = value } }
    var value: JSONValue? { fields.isEmpty ? nil : .object(fields) }
}

enum KCIDBText {
    /// KCIDB's text fields allow anything but NUL.
    static func clean(_ text: String) -> String { text.replacingOccurrences(of: "\u{0}", with: "") }

    /// At most KCIDB's 16384 characters of log excerpt, keeping the end (where failures are).
    static func excerpt(_ lines: [String]) -> String? {
        let text = clean(ReportText.stripEscapes(lines.joined(separator: "\n"))).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        let scalars = text.unicodeScalars
        guard scalars.count > 16_000 else { return text + "\n" }
        return String(String.UnicodeScalarView(scalars.suffix(16_000))) + "\n"
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

// MARK: - Building

extension KCIDBReport {
    /// What is known of one kernel: its recorded image, or failing that what results name.
    struct Kernel {
        var recipe: String
        var image: KernelImage?
        var reference: ImageRef?
        var release: String?
    }

    package struct Builder {
        let summary: MatrixSummary
        let folder: URL
        let options: KCIDBOptions
        var data = KCIDBData(version: .init(major: KCIDBReport.schemaMajor, minor: KCIDBReport.schemaMinor))
        var kernels: [String: Kernel] = [:]
        var order: [String] = []
        var results: [String: RunResult] = [:]
        var buildIDs: [String: String] = [:]

        init(summary: MatrixSummary, folder: URL, options: KCIDBOptions) {
            self.summary = summary
            self.folder = folder
            self.options = options
        }

        var origin: String { options.origin }

        mutating func collect() {
            let recorded = RecordedImages.load(from: folder)
            let plan = try? JSONCoding.decode(MatrixPlan.self, from: folder.appendingPathComponent("plan.json"))
            func note(_ recipe: String, release: String?, reference: ImageRef?) {
                if kernels[recipe] == nil {
                    kernels[recipe] = Kernel(recipe: recipe, image: recorded[recipe], reference: nil, release: nil)
                    order.append(recipe)
                }
                if kernels[recipe]!.reference == nil { kernels[recipe]!.reference = reference }
                if kernels[recipe]!.release == nil { kernels[recipe]!.release = release }
            }
            for cell in summary.cells {
                for record in cell.runs {
                    if let result = try? JSONCoding.decode(RunResult.self, from: folder.appendingPathComponent(record.resultPath)) {
                        results[record.id] = result
                    }
                }
                for (index, recipe) in cell.chain.enumerated() {
                    let references = cell.runs.compactMap { results[$0.id] }.flatMap { [$0.from] + $0.via + [$0.to] }
                    note(recipe, release: index < cell.releases.count ? cell.releases[index] : nil,
                         reference: references.first { $0.recipe == recipe })
                }
            }
            for cell in plan?.cells ?? [] {
                for (index, recipe) in cell.chain.enumerated() {
                    note(recipe, release: index < cell.releases.count ? cell.releases[index] : nil, reference: nil)
                }
            }
            for recipe in recorded.keys.sorted() { note(recipe, release: nil, reference: nil) }

            var checkoutIDs: Set<String> = []
            for recipe in order {
                let kernel = kernels[recipe]!
                let checkout = checkout(for: kernel)
                if !checkoutIDs.contains(checkout.id) {
                    checkoutIDs.insert(checkout.id)
                    data.checkouts.append(checkout)
                } else if let index = data.checkouts.firstIndex(where: { $0.id == checkout.id }) {
                    // One source, several recipes: the checkout lists them all.
                    if case .object(var fields)? = data.checkouts[index].misc, case .array(var recipes)? = fields["recipes"] {
                        recipes.append(.string(recipe))
                        fields["recipes"] = .array(recipes)
                        data.checkouts[index].misc = .object(fields)
                    }
                }
                let build = build(for: kernel, checkout: checkout.id)
                buildIDs[recipe] = build.id
                data.builds.append(build)
            }

            for cell in summary.cells {
                for record in cell.runs { tests(for: record, in: cell) }
            }
            if let plan {
                let missing = Set(summary.missingRuns)
                for run in plan.runs where missing.contains(run.id) { missingTest(run, cell: plan.cells[run.cell]) }
            }
        }

        // MARK: URLs

        /// A URL for a file in the results folder.
        func url(_ relative: String) -> String {
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
            func encode(_ path: String) -> String {
                path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0) }
                    .joined(separator: "/")
            }
            if let base = options.artifactsURL {
                return (base.hasSuffix("/") ? base : base + "/") + encode(relative)
            }
            let absolute = folder.standardizedFileURL.path
            return "file://" + encode(absolute.hasSuffix("/") ? absolute : absolute + "/") + encode(relative)
        }

        func resource(_ relative: String) -> KCIDBResource {
            KCIDBResource(name: URL(fileURLWithPath: relative).lastPathComponent, url: url(relative))
        }

        // MARK: Checkouts and builds

        func checkout(for kernel: Kernel) -> KCIDBCheckout {
            var misc = Misc()
            misc.set("recipes", [.string(kernel.recipe)])
            guard let image = kernel.image else {
                // A results folder from before images were recorded: only what results name.
                let version = kernel.reference?.version
                misc.text("version", version)
                return KCIDBCheckout(
                    id: "\(origin):checkout:recipe:\(kernel.recipe)\(version.map { "@\($0)" } ?? "")", origin: origin,
                    comment: "the source of recipe \(kernel.recipe)\(version.map { " at \($0)" } ?? "") (not recorded in this results folder)",
                    misc: misc.value)
            }
            let source = image.source
            let patches = image.patches ?? []
            let patchsetHash = patches.isEmpty ? "" : Digest.sha256(Data(patches.map { $0.sha256 + "\n" }.joined().utf8))
            var identity: String
            var comment: String
            var checkout = KCIDBCheckout(id: "", origin: origin)
            misc.text("source", source.kind)
            switch source.kind {
            case "debian":
                identity = "debian:\(source.package ?? "unknown")=\(source.packageVersion ?? "unknown")"
                comment = "Debian \(source.package ?? "?") \(source.packageVersion ?? "?")\(source.suite.map { " from \($0)" } ?? "")"
                checkout.tree_name = "debian"
                misc.text("package", source.package)
                misc.text("package_version", source.packageVersion)
                misc.text("suite", source.suite)
            default:
                if let commit = source.commit, source.commit != "no-git" {
                    identity = "git:\(commit)"
                    if source.dirty == true { identity += "+dirty:\(image.key)" }
                    comment = "\(source.tree ?? "a tree") at \(commit.prefix(12))\(source.dirty == true ? " with local changes" : "")"
                } else if source.kind == "prebuilt" {
                    identity = "prebuilt:\(image.key)"
                    comment = "a prebuilt bzImage (\(source.prebuiltFrom ?? "?"))"
                } else {
                    identity = "tree:\(image.key)"
                    comment = "\(source.tree ?? "a tree") (not a git checkout)"
                }
                if let commit = source.commit, commit.range(of: "^[0-9a-f]{40}$", options: .regularExpression) != nil {
                    checkout.git_commit_hash = commit
                }
                if let remote = source.remote, remote.hasPrefix("https://"), KCIDBOptions.isAbsoluteURL(remote) {
                    checkout.git_repository_url = remote
                }
                checkout.git_repository_branch = source.branch.map(KCIDBText.clean)
                checkout.tree_name = Self.treeName(remote: source.remote, tree: source.tree).map(KCIDBText.clean)
                misc.text("tree", source.tree)
                misc.text("remote", source.remote)
                misc.set("dirty", source.dirty.map(JSONValue.bool))
                misc.text("prebuilt_from", source.prebuiltFrom)
            }
            if !patches.isEmpty {
                identity += "+patches:\(patchsetHash.prefix(16))"
                comment += " with \(patches.count) patch\(patches.count == 1 ? "" : "es")"
                misc.set("patches", .array(patches.map { .object(["file": .string(URL(fileURLWithPath: $0.file).lastPathComponent), "sha256": .string($0.sha256)]) }))
                let copies = RecordedImages.patches(of: image.recipe, in: folder)
                if copies.count == patches.count { checkout.patchset_files = copies.map(resource) }
            }
            checkout.id = "\(origin):checkout:\(identity)"
            checkout.patchset_hash = patchsetHash
            checkout.comment = KCIDBText.clean(comment)
            // The image exists, so the source was obtained and its patches applied.
            checkout.valid = true
            checkout.misc = misc.value
            return checkout
        }

        /// The tree's widely known name as far as handover can tell: the last part of its
        /// remote's URL ("linux-next" for .../linux-next.git), else the tree folder's name.
        static func treeName(remote: String?, tree: String?) -> String? {
            if let remote, let last = remote.split(separator: "/").last, !last.isEmpty {
                let name = last.hasSuffix(".git") ? String(last.dropLast(4)) : String(last)
                if !name.isEmpty { return name }
            }
            return tree.map { URL(fileURLWithPath: $0).lastPathComponent }
        }

        func build(for kernel: Kernel, checkout: String) -> KCIDBBuild {
            let key = kernel.image?.key ?? kernel.reference?.key
            var build = KCIDBBuild(
                id: "\(origin):build:\(kernel.recipe)\(key.map { ":\($0)" } ?? "")", checkout_id: checkout, origin: origin,
                status: "PASS")
            var misc = Misc()
            misc.text("recipe", kernel.recipe)
            misc.text("kernel_release", kernel.image?.kernelRelease ?? kernel.reference?.kernelRelease ?? kernel.release)
            misc.text("cache_key", key)
            guard let image = kernel.image else {
                build.comment = "recipe \(kernel.recipe)\((kernel.reference?.kernelRelease ?? kernel.release).map { ", Linux \($0)" } ?? "") (build not recorded in this results folder)"
                build.misc = misc.value
                return build
            }
            let fragments = image.fragments.map { ($0 as NSString).deletingPathExtension }
            build.config_name = KCIDBText.clean(([URL(fileURLWithPath: image.baseConfig).lastPathComponent] + fragments).joined(separator: "+"))
            build.comment = KCIDBText.clean("recipe \(image.recipe): Linux \(image.kernelRelease), \(image.baseConfig)"
                + (fragments.isEmpty ? "" : " + \(fragments.joined(separator: ", "))"))
            build.architecture = image.architecture
            if image.compiler != "prebuilt" { build.compiler = KCIDBText.clean(image.compiler) }
            if let seconds = image.buildSeconds {
                build.duration = seconds
                build.start_time = KCIDBText.time(image.builtAt.addingTimeInterval(-seconds))
            }
            if let config = RecordedImages.config(of: image.recipe, in: folder) { build.config_url = url(config) }
            if let log = RecordedImages.buildLog(of: image.recipe, in: folder) { build.log_url = url(log) }
            misc.text("config_sha256", image.configSHA256)
            misc.text("base_config", image.baseConfig)
            misc.set("fragments", .array(image.fragments.map { .string($0) }))
            misc.set("make_seconds", image.makeSeconds.map(JSONValue.number))
            misc.set("compiled_units", image.compiledUnits.map(JSONValue.int))
            misc.set("cmdline", image.cmdline.isEmpty ? nil : .string(image.cmdline.joined(separator: " ")))
            misc.set("kexec_loadable", .bool(image.kexecLoadable))
            misc.set("live_update", .bool(image.hasLiveUpdate))
            if let abi = image.abi { misc.set("abi", .array(abi.sortedValues.map { .string($0) })) }
            build.misc = misc.value
            return build
        }

        // MARK: Tests

        func testID(_ runID: String, _ suffix: String = "") -> String {
            "\(origin):\(KCIDBText.clean(summary.host)):\(folder.standardizedFileURL.lastPathComponent):\(runID)\(suffix)"
        }

        mutating func tests(for record: MatrixRunRecord, in cell: MatrixCell) {
            let target = cell.chain.last!
            guard let buildID = buildIDs[target] else { return }
            let result = results[record.id]
            let path = KCIDBReport.path(scenario: cell.scenario, chain: cell.chain)
            let id = testID(record.id)
            let chainText = cell.chain.joined(separator: " -> ")

            var misc = Misc()
            misc.text("scenario", cell.scenario)
            misc.text("kind", cell.kind)
            misc.text("from", cell.chain.first!)
            misc.text("to", target)
            misc.set("chain", .array(cell.chain.map { .string($0) }))
            misc.set("releases", .array(cell.releases.map { .string($0) }))
            misc.text("from_release", cell.releases.first)
            misc.text("to_release", cell.releases.last)
            misc.text("direction", cell.direction.rawValue)
            misc.set("repeat", .int(record.repeatIndex))
            misc.text("verdict", record.verdict.rawValue)
            misc.text("failure_class", record.failureClass?.rawValue)
            misc.text("reason", record.reason)
            misc.set("errno", result?.errno.map { .int(Int($0)) })
            misc.text("prediction", cell.prediction?.outcome.rawValue)
            misc.set("acceptable", .bool(cell.acceptable))
            misc.set("unsupported_allowed", .bool(cell.unsupportedAllowed))
            if !cell.regressions.isEmpty {
                misc.set("regressions", .array(cell.regressions.map { .object(["kind": .string($0.kind.rawValue), "message": .string(KCIDBText.clean($0.message))]) }))
            }
            misc.text("matrix", summary.name)
            misc.text("handover_version", summary.handoverVersion)
            misc.text("series", result?.series?.joined(separator: ", "))

            var environment = Misc()
            environment.text("host", summary.host)
            environment.text("accelerator", result?.accelerator.rawValue ?? summary.accelerator)
            environment.text("backend", result?.backend)
            environment.text("machine", result?.machine)
            let accelerator = result?.accelerator.rawValue ?? summary.accelerator
            let environmentValue = KCIDBEnvironment(
                comment: KCIDBText.clean("QEMU (\(accelerator)) on \(summary.host)\(result?.backend == nil || result?.backend == "qemu" ? "" : " via \(result!.backend)")"),
                misc: environment.value)

            var outputs: [KCIDBResource] = [resource(record.resultPath)]
            let runFolder = URL(fileURLWithPath: record.resultPath).deletingLastPathComponent().relativePath
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(runFolder).path)) ?? []).sorted()
            for file in files where !file.hasPrefix(".") && file != "result.json" && file != "console.log" {
                let relative = "\(runFolder)/\(file)"
                if !FileManager.default.isDirectory(folder.appendingPathComponent(relative)) { outputs.append(resource(relative)) }
            }

            var excerpt: [String] = []
            if let evidence = record.evidence { excerpt.append(evidence) }
            excerpt += record.consoleTail
            let start = result.map { KCIDBText.time($0.startedAt) }
            data.tests.append(KCIDBTest(
                id: id, build_id: buildID, origin: origin, path: path, status: KCIDBReport.status(record.verdict),
                comment: KCIDBText.clean("\(cell.scenario): \(chainText) (repeat \(record.repeatIndex)): \(record.verdict.rawValue)"
                    + (record.failureClass.map { " (\($0.rawValue))" } ?? "") + ": \(record.reason)"),
                environment: environmentValue, log_url: record.consolePath.map(url),
                log_excerpt: record.verdict == .pass ? nil : KCIDBText.excerpt(excerpt),
                start_time: start, duration: record.wallSeconds, output_files: outputs, misc: misc.value))

            // The blackout and its phases: what the run measured, as numbers.
            var hops: [(prefix: String, from: String, to: String, blackout: Blackout?, total: Double?)] = []
            if cell.chain.count == 2 {
                hops.append(("", cell.chain[0], cell.chain[1], result?.blackout, result?.blackout?.total ?? record.blackout))
            } else {
                for index in 0..<(cell.chain.count - 1) {
                    let hop = result.flatMap { index < $0.hops.count ? $0.hops[index] : nil }
                    let total = hop?.blackout?.total ?? (index < record.hopBlackouts.count ? record.hopBlackouts[index] : nil)
                    hops.append((".hop\(index + 1)", cell.chain[index], cell.chain[index + 1], hop?.blackout, total))
                }
            }
            let blackoutRegression = cell.regressions.first { $0.kind == .blackout }
            for hop in hops {
                guard let total = hop.total else { continue }
                let hopPath = "\(path)\(hop.prefix).blackout"
                let hopSuffix = hop.prefix.replacingOccurrences(of: ".", with: "/")
                var hopMisc = Misc()
                hopMisc.text("from", hop.from)
                hopMisc.text("to", hop.to)
                hopMisc.text("regression", blackoutRegression?.message)
                data.tests.append(KCIDBTest(
                    id: testID(record.id + "\(hopSuffix)/blackout"),
                    build_id: buildID, origin: origin, path: hopPath, status: "DONE",
                    comment: KCIDBText.clean("blackout of \(hop.from) -> \(hop.to): from the agent's quiesce to its resumed, on the host clock"),
                    environment: environmentValue, number: KCIDBNumber(value: total, unit: "s"), start_time: start,
                    misc: hopMisc.value))
                guard let blackout = hop.blackout else { continue }
                let phases: [(String, Double?, String)] = [
                    ("shutdown", blackout.shutdown, "old kernel shutdown and kexec, to the new kernel's clock zero"),
                    ("kernel_boot", blackout.kernelBoot, "new kernel boot to /init (its printk times)"),
                    ("agent_start", blackout.agentStart, "/init to the agent running"),
                    ("restore", blackout.restore, "the agent's retrieve of every session and fd"),
                    ("unaccounted", blackout.unaccounted, "the rest: message delivery and clock estimation error"),
                ]
                for (name, value, what) in phases {
                    guard let value else { continue }
                    data.tests.append(KCIDBTest(
                        id: testID(record.id + "\(hopSuffix)/blackout/\(name)"),
                        build_id: buildID, origin: origin, path: "\(hopPath).\(name)", status: "DONE",
                        comment: "blackout phase \(name) of \(hop.from) -> \(hop.to): \(what)",
                        environment: environmentValue, number: KCIDBNumber(value: value, unit: "s"), start_time: start))
                }
            }

            // The kernel's own selftests, one test each.
            for selftest in result?.selftests ?? [] {
                var selftestMisc = Misc()
                selftestMisc.text("kind", selftest.kind)
                selftestMisc.set("kernels", .array(selftest.kernels.map { .string($0) }))
                selftestMisc.text("failure_class", selftest.failureClass?.rawValue)
                selftestMisc.text("source", result?.selftestSource)
                if !selftest.subtests.isEmpty {
                    selftestMisc.set("subtests", .array(selftest.subtests.map {
                        .object(["name": .string(KCIDBText.clean($0.name)), "status": .string($0.status.rawValue)])
                    }))
                }
                let seconds = selftest.stages.map(\.seconds).reduce(0, +)
                data.tests.append(KCIDBTest(
                    id: testID(record.id + "/selftest/" + selftest.test), build_id: buildID, origin: origin,
                    path: "\(path).\(KCIDBReport.pathSegment(selftest.test))", status: KCIDBReport.status(selftest.status),
                    comment: KCIDBText.clean("\(selftest.test) (\(selftest.kind)): \(selftest.message)"),
                    environment: environmentValue, log_url: record.consolePath.map(url),
                    log_excerpt: selftest.status == .pass ? nil : KCIDBText.excerpt((selftest.evidence.map { [$0] } ?? []) + selftest.stages.flatMap(\.outputTail)),
                    number: selftest.blackout.map { KCIDBNumber(value: $0, unit: "s") },
                    start_time: start, duration: seconds > 0 ? seconds : nil, misc: selftestMisc.value))
            }
        }

        /// A planned run without a result: MISS, it did not run (an interrupted matrix).
        mutating func missingTest(_ run: MatrixPlan.Run, cell: MatrixPlan.Cell) {
            guard let buildID = buildIDs[cell.chain.last!] else { return }
            var misc = Misc()
            misc.text("scenario", cell.scenario)
            misc.text("from", cell.chain.first!)
            misc.text("to", cell.chain.last!)
            misc.set("chain", .array(cell.chain.map { .string($0) }))
            misc.set("repeat", .int(run.repeatIndex))
            misc.text("matrix", summary.name)
            data.tests.append(KCIDBTest(
                id: testID(run.id), build_id: buildID, origin: origin, path: KCIDBReport.path(scenario: cell.scenario, chain: cell.chain),
                status: "MISS",
                comment: KCIDBText.clean("\(cell.scenario): \(cell.chain.joined(separator: " -> ")) (repeat \(run.repeatIndex)): no result, the run did not happen (the matrix was interrupted)"),
                misc: misc.value))
        }
    }
}
