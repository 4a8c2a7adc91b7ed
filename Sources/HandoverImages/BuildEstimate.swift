import Foundation

/// How long a recipe's image will take to build on this machine, from the cache's own record
/// of earlier builds: the same recipe's last build, else the last build of the same source
/// package for the same architecture, else the cold figure measured on a 2-core machine
/// scaled by this machine's cores. A sibling of the same source already in the cache means
/// the compiler cache serves most of the build.
public struct BuildEstimate: Sendable, Equatable {
    public var seconds: Double
    public var basis: String

    /// linux-7.2 and linux-7.3 (tiny guests) on an idle 2-core machine, compiler cache cold.
    public static let coldSecondsOnTwoCores: Double = 540
    /// A variant of a source already compiled here: what ccache left to compile, measured on a
    /// one-option change of linux-7.3 (see the README's build figures).
    public static let variantShare = 0.4

    /// `plannedBefore`: images built earlier in the same plan (their sources will be compiled).
    public static func make(recipe: Recipe, source: KernelImage.SourceInfo?, cached: [KernelImage],
                            plannedBefore: [(recipe: Recipe, source: KernelImage.SourceInfo?, estimate: BuildEstimate)] = [],
                            cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> BuildEstimate {
        let built = cached.filter { $0.buildSeconds != nil }.sorted { $0.builtAt < $1.builtAt }
        if let last = built.last(where: { $0.recipe == recipe.name }), let seconds = last.buildSeconds {
            return BuildEstimate(seconds: seconds, basis: "its last build here")
        }
        if let package = source?.package,
           let sibling = built.last(where: { $0.source.package == package && $0.arch == recipe.arch }),
           let seconds = sibling.buildSeconds {
            if sibling.source.packageVersion == source?.packageVersion {
                return BuildEstimate(seconds: seconds * variantShare,
                                     basis: "\(sibling.recipe) from the same source is compiled; the compiler cache serves most of it")
            }
            return BuildEstimate(seconds: seconds, basis: "\(sibling.recipe) (\(package)) built here")
        }
        if let package = source?.package,
           let sibling = plannedBefore.last(where: { $0.source?.package == package && $0.source?.packageVersion == source?.packageVersion
                                                      && $0.recipe.arch == recipe.arch }) {
            return BuildEstimate(seconds: sibling.estimate.seconds * variantShare,
                                 basis: "after \(sibling.recipe.name) from the same source; the compiler cache serves most of it")
        }
        let scaled = coldSecondsOnTwoCores * 2 / Double(max(1, cores))
        return BuildEstimate(seconds: scaled, basis: "no earlier build here; about 9 min on 2 idle cores")
    }
}

/// One recipe of `image build --plan`: in the cache already, or to be built and how long.
public struct PlannedBuild: Sendable {
    public var recipe: Recipe
    public var key: String
    /// nil when the cache has the image.
    public var estimate: BuildEstimate?
}

extension ImageBuilder {
    /// What building these recipes would do, without building: each one cached or not, with
    /// an estimate for those that are not. Resolves sources (package lists) as a build would.
    public func plan(_ recipes: [Recipe]) async throws -> [PlannedBuild] {
        let cached = ImageStore(paths: paths).all()
        var planned: [(recipe: Recipe, source: KernelImage.SourceInfo?, estimate: BuildEstimate)] = []
        var result: [PlannedBuild] = []
        for recipe in recipes {
            let (inputs, source) = try await key(for: recipe, refresh: false)
            let folder = paths.images.appendingPathComponent(inputs.key)
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("image.json").path) {
                result.append(PlannedBuild(recipe: recipe, key: inputs.key, estimate: nil))
                continue
            }
            let estimate = BuildEstimate.make(recipe: recipe, source: source.info, cached: cached, plannedBefore: planned)
            planned.append((recipe, source.info, estimate))
            result.append(PlannedBuild(recipe: recipe, key: inputs.key, estimate: estimate))
        }
        return result
    }
}
