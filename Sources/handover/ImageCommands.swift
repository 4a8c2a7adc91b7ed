import ArgumentParser
import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverRuns

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list and compare kernel images.",
        subcommands: [Build.self, Lock.self, List.self, Show.self, Diff.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build a kernel image from a recipe (cached).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Recipe names (Images/NAME.yaml) or recipe file paths.") var recipes: [String]
        @Flag(help: "Refresh the package lists before resolving versions.") var refresh = false
        @Flag(help: "Rebuild even when the cache has the image.") var force = false
        @Flag(help: "Build nothing: say which images the cache has and estimate the others' build time on this machine.")
        var plan = false

        func validate() throws {
            if plan && force { throw ValidationError("--plan builds nothing; --force cannot go with it") }
        }

        func run() async throws {
            ChildProcesses.shared.installSignalHandlers()
            try await reportingErrors {
                let builder = ImageBuilder(paths: global.paths, progress: global.progress)
                if plan {
                    let planned = try await builder.plan(try recipes.map { try global.catalog.load($0) })
                    print(BuildPlanText.text(planned))
                    return
                }
                for name in recipes {
                    let recipe = try global.catalog.load(name)
                    let started = Date()
                    let (image, cached) = try await builder.buildReportingCache(recipe, refresh: refresh, force: force)
                    let took = Date().timeIntervalSince(started)
                    let how = cached ? "cached" : "built"
                    print("\(image.recipe): \(image.kernelRelease) (\(image.versionLabel)) \(how) in \(formatDuration(took)) -> \(image.bzImage.path)")
                }
            }
        }
    }

    struct Lock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin the Debian version each recipe's pattern resolves to now in Images/versions.lock; while pinned, a new upload changes nothing.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Recipe names or files (default: every recipe with a Debian source).") var recipes: [String] = []
        @Flag(help: "Fetch the package lists first, so the newest uploads are what gets pinned.") var refresh = false

        func run() async throws {
            try await reportingErrors {
                let catalog = global.catalog
                let names = recipes.isEmpty ? catalog.names() : recipes
                let loaded = try names.map { try catalog.load($0) }
                let before = try VersionLock.load(recipes: catalog.folder)
                let after = try await ImageBuilder(paths: global.paths, progress: global.progress).lock(loaded, refresh: refresh, keeping: before)
                try after.write(recipes: catalog.folder)
                for (entry, version) in after.versions.sorted(by: { $0.key.package < $1.key.package }) {
                    let old = before.versions[entry]
                    let change = old == nil ? "pinned" : old == version ? "unchanged" : "was \(old!)"
                    print("\(entry.package) \(entry.pattern) (\(entry.suite)): \(version) (\(change))")
                }
                print("written to \(VersionLock.file(in: catalog.folder).path)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the images in the cache.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let images = ImageStore(paths: global.paths).all()
                if json {
                    print(String(decoding: try JSONCoding.encode(images), as: UTF8.self))
                    return
                }
                if images.isEmpty { print("no images in \(global.paths.images.path)"); return }
                print(ImageListing.text(images))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what an image is and can do.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A recipe name, a recipe file path or an image key.") var image: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let found = try await findImage(image, global: global)
                if json {
                    print(String(decoding: try JSONCoding.encode(found), as: UTF8.self))
                } else {
                    print(describe(found))
                }
            }
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predict whether image A can hand over to image B.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The first kernel (recipe name, recipe file path or image key).") var from: String
        @Argument(help: "The second kernel.") var to: String
        @Option(help: "A scenario (name or file): also predict from the LUO file handlers its sessions need.") var scenario: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let a = try await findImage(from, global: global)
                let b = try await findImage(to, global: global)
                if a.arch != b.arch {
                    throw HarnessError(.configRejected, "cannot predict: " + HandoverPrediction.crossArchitectureReason(from: a, to: b))
                }
                var needs: [HandlerNeed] = []
                if let scenario {
                    needs = try Scenario.load(from: try ScenarioCatalog.locate().file(for: scenario)).handlerNeeds
                }
                let prediction = HandoverPrediction(from: a, to: b, needs: needs)
                if json {
                    print(String(decoding: try JSONCoding.encode(prediction), as: UTF8.self))
                    return
                }
                let verdict = switch prediction.outcome {
                case .compatible: "handover possible"
                case .incompatible: "handover impossible"
                case .unsupported: "unsupported: the first kernel cannot preserve what the scenario needs"
                case .unknown: "cannot predict"
                }
                print("\(a.recipe) (\(a.kernelRelease)) -> \(b.recipe) (\(b.kernelRelease))\(scenario.map { " for \($0)" } ?? ""): \(verdict)")
                if !prediction.shared.isEmpty { print("  same:    \(prediction.shared.joined(separator: " "))") }
                for difference in prediction.differences {
                    print("  differs: \(difference.family): \(difference.from ?? "absent") -> \(difference.to ?? "absent")")
                }
                for reason in prediction.reasons { print("  because \(reason)") }
                if scenario == nil {
                    let lost = prediction.differences.filter { difference in
                        difference.from != nil && difference.to == nil && HandlerNeed.all.contains { $0.abiFamily == difference.family }
                    }
                    for difference in lost {
                        print("  note:    \(b.recipe) has no handler for \(difference.from!): a scenario that preserves it cannot hand over (see --scenario)")
                    }
                }
                if prediction.outcome == .incompatible || prediction.outcome == .unsupported { throw ExitCode(1) }
            }
        }
    }
}

/// An image given as a recipe name, a recipe file path or an image key, as `run` takes it;
/// never built here.
func findImage(_ nameOrKey: String, global: GlobalOptions) async throws -> KernelImage {
    let store = ImageStore(paths: global.paths)
    let isPath = nameOrKey.contains("/") || nameOrKey.hasSuffix(".yaml")
    if !isPath, let image = try store.locate(nameOrKey) { return image }
    if isPath || global.catalog.names().contains(nameOrKey) {
        let recipe = try global.catalog.load(nameOrKey)
        let quiet = ProgressReporter(mode: .quiet)
        if let image = try await ImageBuilder(paths: global.paths, progress: quiet).cachedImage(for: recipe) { return image }
        throw HarnessError(.notFound, "the recipe \(nameOrKey) has no image in the cache (\(global.paths.images.path)) for its current source; build it with: handover image build \(nameOrKey)")
    }
    throw HarnessError(.notFound, "no image '\(nameOrKey)' in the cache (\(global.paths.images.path)) and no recipe of that name; build it with: handover image build \(nameOrKey)")
}

func describe(_ image: KernelImage) -> String {
    var lines: [String] = []
    func yes(_ flag: Bool) -> String { flag ? "yes" : "no" }
    lines.append("image:          \(image.recipe) (key \(image.key))")
    lines.append("kernel release: \(image.kernelRelease)")
    lines.append("architecture:   \(image.arch.rawValue)\(image.architecture == nil ? " (not recorded; images before it was are x86_64)" : "")")
    switch image.source.kind {
    case "debian": lines.append("source:         Debian \(image.source.package ?? "") \(image.source.packageVersion ?? "") (\(image.source.suite ?? ""))")
    case "tree": lines.append("source:         tree \(image.source.tree ?? "") at \(image.source.commit ?? "")\(image.source.dirty == true ? " (dirty)" : "")")
    case "package": lines.append("source:         package \(image.source.prebuiltFrom ?? "") (\(image.source.package ?? "") \(image.source.packageVersion ?? ""))")
    default: lines.append("source:         prebuilt \(image.source.prebuiltFrom ?? "")")
    }
    lines.append("config:         \(image.baseConfig) + \(image.fragments.joined(separator: ", "))")
    lines += patchLines(image.patches ?? [])
    lines.append("compiler:       \(image.compiler)")
    let c = image.capabilities
    lines.append("KHO:            \(yes(c.kexecHandover))\(c.khoEnabledByDefault ? " (on by default)" : c.kexecHandover ? " (boot with kho=on)" : "")")
    lines.append("LUO:            \(yes(c.liveUpdate))")
    lines.append("memfd preserve: \(yes(c.memfdPreservation))")
    lines.append("kexec_file:     \(yes(c.kexecFile)); \(image.arch.kernelFileName) loadable by kexec_file_load: \(yes(image.kexecLoadable))")
    if let abi = image.abi {
        lines.append("ABI strings:    \(abi.sortedValues.joined(separator: " "))")
    } else {
        lines.append("ABI strings:    unknown (no source tree)")
    }
    if let order = image.moduleLoadOrder {
        lines.append("modules:        \(order.map { KernelModules.name(ofPath: $0) }.joined(separator: " ")) (loaded by the agent in this order)")
    }
    if let seconds = image.buildSeconds {
        let cache = image.compilerCache?.summary.map { ", \($0) compilations from the compiler cache" } ?? ""
        lines.append("built:          \(image.builtAt) in \(formatDuration(seconds))\(cache)")
    }
    lines.append("files:          \(image.folder?.path ?? "")")
    return lines.joined(separator: "\n")
}

/// `image show`'s patch lines: each series under its thread root, each series patch with how
/// it went on, its subject and Message-ID, and the fixups that port it beneath it; then the
/// recipe's other patches with their digests.
func patchLines(_ patches: [KernelImage.PatchRecord]) -> [String] {
    var lines: [String] = []
    var currentSeries: String?
    var portedNames: Set<String> = []
    for patch in patches {
        let name = URL(fileURLWithPath: patch.file).lastPathComponent
        let how = patch.applied?.rawValue ?? "applied"
        if let id = patch.messageID {
            if patch.series != currentSeries {
                currentSeries = patch.series
                let count = patches.filter { $0.series == patch.series }.count
                lines.append("series:         \(patch.series ?? id) (\(count) patches)")
            }
            lines.append("  \(how.padding(toLength: 7, withPad: " ", startingAt: 0))\(patch.subject ?? "(no subject)")  \(id)")
            portedNames.formUnion(patch.portedBy ?? [])
        } else if currentSeries != nil && portedNames.contains(name) {
            lines.append("    + fixup \(name) (sha256 \(patch.sha256.prefix(12))), \(how)")
        } else {
            currentSeries = nil
            lines.append("patch:          \(name) (sha256 \(patch.sha256.prefix(12)))\(patch.applied.map { ", \($0.rawValue)" } ?? "")")
        }
    }
    return lines
}

/// `image list`'s table: every column as wide as its widest value, so nothing is cut.
enum ImageListing {
    static func text(_ images: [KernelImage]) -> String {
        let rows = images.map { image in
            [image.recipe, image.kernelRelease, image.versionLabel, image.key, image.hasLiveUpdate ? "LUO" : "no LUO",
             (image.isIntact ? "" : "DAMAGED (rebuild with image build --force)  ") + (image.abi?.sortedValues.joined(separator: " ") ?? "ABI unknown")]
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            (0..<5).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[5]
        }.joined(separator: "\n")
    }
}

enum BuildPlanText {
    static func text(_ planned: [PlannedBuild]) -> String {
        var lines = planned.map { build in
            guard let estimate = build.estimate else { return "\(build.recipe.name): cached" }
            return "\(build.recipe.name): to build, about \(formatDuration(estimate.seconds)) (\(estimate.basis))"
        }
        let toBuild = planned.compactMap(\.estimate)
        let total = toBuild.map(\.seconds).reduce(0, +)
        lines.append(toBuild.isEmpty ? "all \(planned.count) images cached"
                     : "\(toBuild.count) of \(planned.count) kernels to build, about \(formatDuration(total)) on this machine")
        return lines.joined(separator: "\n")
    }
}
