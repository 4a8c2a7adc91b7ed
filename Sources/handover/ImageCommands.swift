import ArgumentParser
import Foundation
import HandoverRunner

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list and compare kernel images.",
        subcommands: [Build.self, List.self, Show.self, Diff.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build a kernel image from a recipe (cached).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Recipe names (Images/NAME.yaml) or recipe file paths.") var recipes: [String]
        @Flag(help: "Refresh the package lists before resolving versions.") var refresh = false
        @Flag(help: "Rebuild even when the cache has the image.") var force = false

        func run() async throws {
            ChildProcesses.shared.installSignalHandlers()
            try await reportingErrors {
                let builder = ImageBuilder(paths: global.paths, progress: global.progress)
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

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the images in the cache.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let images = ImageStore(paths: global.paths).all()
            if json {
                print(String(decoding: try JSONCoding.encode(images), as: UTF8.self))
                return
            }
            if images.isEmpty { print("no images in \(global.paths.images.path)"); return }
            for image in images {
                let luo = image.hasLiveUpdate ? "LUO" : "no LUO"
                let abi = image.abi?.sortedValues.joined(separator: " ") ?? "ABI unknown"
                print("\(image.recipe.padding(toLength: 14, withPad: " ", startingAt: 0)) \(image.kernelRelease.padding(toLength: 10, withPad: " ", startingAt: 0)) \(image.versionLabel.padding(toLength: 18, withPad: " ", startingAt: 0)) \(image.key)  \(luo)  \(abi)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what an image is and can do.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A recipe name or an image key.") var image: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let found = try findImage(image, paths: global.paths)
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
        @Argument(help: "The first kernel (recipe name or key).") var from: String
        @Argument(help: "The second kernel.") var to: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let a = try findImage(from, paths: global.paths)
                let b = try findImage(to, paths: global.paths)
                let prediction = HandoverPrediction(from: a, to: b)
                if json {
                    print(String(decoding: try JSONCoding.encode(prediction), as: UTF8.self))
                    return
                }
                print("\(a.recipe) (\(a.kernelRelease)) -> \(b.recipe) (\(b.kernelRelease)): \(prediction.outcome == .compatible ? "handover possible" : prediction.outcome == .incompatible ? "handover impossible" : "cannot predict")")
                if !prediction.shared.isEmpty { print("  same:    \(prediction.shared.joined(separator: " "))") }
                for difference in prediction.differences {
                    print("  differs: \(difference.family): \(difference.from ?? "absent") -> \(difference.to ?? "absent")")
                }
                for reason in prediction.reasons { print("  because \(reason)") }
                if prediction.outcome == .incompatible { throw ExitCode(1) }
            }
        }
    }
}

func findImage(_ nameOrKey: String, paths: CachePaths) throws -> KernelImage {
    guard let image = ImageStore(paths: paths).find(nameOrKey) else {
        throw HarnessError(.notFound, "no image '\(nameOrKey)' in the cache (\(paths.images.path)); build it with: handover image build \(nameOrKey)")
    }
    return image
}

func describe(_ image: KernelImage) -> String {
    var lines: [String] = []
    func yes(_ flag: Bool) -> String { flag ? "yes" : "no" }
    lines.append("image:          \(image.recipe) (key \(image.key))")
    lines.append("kernel release: \(image.kernelRelease)")
    switch image.source.kind {
    case "debian": lines.append("source:         Debian \(image.source.package ?? "") \(image.source.packageVersion ?? "") (\(image.source.suite ?? ""))")
    case "tree": lines.append("source:         tree \(image.source.tree ?? "") at \(image.source.commit ?? "")\(image.source.dirty == true ? " (dirty)" : "")")
    default: lines.append("source:         prebuilt \(image.source.prebuiltFrom ?? "")")
    }
    lines.append("config:         \(image.baseConfig) + \(image.fragments.joined(separator: ", "))")
    for patch in image.patches ?? [] {
        lines.append("patch:          \(URL(fileURLWithPath: patch.file).lastPathComponent) (sha256 \(patch.sha256.prefix(12)))")
    }
    lines.append("compiler:       \(image.compiler)")
    let c = image.capabilities
    lines.append("KHO:            \(yes(c.kexecHandover))\(c.khoEnabledByDefault ? " (on by default)" : c.kexecHandover ? " (boot with kho=on)" : "")")
    lines.append("LUO:            \(yes(c.liveUpdate))")
    lines.append("memfd preserve: \(yes(c.memfdPreservation))")
    lines.append("kexec_file:     \(yes(c.kexecFile)); bzImage loadable by kexec_file_load: \(yes(image.kexecLoadable))")
    if let abi = image.abi {
        lines.append("ABI strings:    \(abi.sortedValues.joined(separator: " "))")
    } else {
        lines.append("ABI strings:    unknown (no source tree)")
    }
    if let seconds = image.buildSeconds { lines.append("built:          \(image.builtAt) in \(formatDuration(seconds))") }
    lines.append("files:          \(image.folder?.path ?? "")")
    return lines.joined(separator: "\n")
}
