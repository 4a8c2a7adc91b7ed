import Foundation
import HandoverSupport

/// The images in the cache, by recipe name or key.
public struct ImageStore: Sendable {
    public let paths: CachePaths

    public init(paths: CachePaths) { self.paths = paths }

    public func all() -> [KernelImage] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: paths.images.path)) ?? []
        return entries.filter { !$0.hasPrefix(".") && $0 != "by-recipe" }
            // Listed even when damaged (`isIntact` says so): a listing checks no digests.
            .compactMap { try? KernelImage.load(from: paths.images.appendingPathComponent($0), verifying: false) }
            .sorted { ($0.recipe, $0.builtAt) < ($1.recipe, $1.builtAt) }
    }

    /// The image a recipe name last built, or an image with that key.
    public func find(_ nameOrKey: String) -> KernelImage? {
        (try? locate(nameOrKey)) ?? nil
    }

    /// Like `find`, but an image that is there and damaged (a file altered or truncated since
    /// its build, an unreadable image.json) is an error naming the file, not "no image".
    public func locate(_ nameOrKey: String) throws -> KernelImage? {
        let indexed = paths.recipeIndex.appendingPathComponent(nameOrKey)
        var folder = paths.images.appendingPathComponent(nameOrKey)
        if !nameOrKey.contains("/"), nameOrKey != "." && nameOrKey != "..",
           let key = try? String(contentsOf: indexed, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           FileManager.default.fileExists(atPath: paths.images.appendingPathComponent(key).appendingPathComponent("image.json").path) {
            folder = paths.images.appendingPathComponent(key)
        }
        guard !nameOrKey.contains("/"),
              FileManager.default.fileExists(atPath: folder.appendingPathComponent("image.json").path) else { return nil }
        return try KernelImage.load(from: folder)
    }
}

extension HandoverPrediction {
    /// Why nothing is predicted for images of two architectures.
    public static func crossArchitectureReason(from: KernelImage, to: KernelImage) -> String {
        "\(from.recipe) is \(from.arch.rawValue) and \(to.recipe) is \(to.arch.rawValue): a handover never crosses architectures, so nothing is predicted"
    }
}

/// Whether two images can hand over to each other, predicted from their configs and ABI
/// strings before anything boots.
public struct HandoverPrediction: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        case compatible
        case incompatible
        case unknown
    }

    public struct Difference: Codable, Sendable, Equatable {
        public var family: String
        public var from: String?
        public var to: String?
    }

    public var from: String
    public var to: String
    public var outcome: Outcome
    public var reasons: [String]
    public var differences: [Difference]
    public var shared: [String]

    public init(from: KernelImage, to: KernelImage) {
        self.from = from.recipe
        self.to = to.recipe
        var reasons: [String] = []
        var outcome = Outcome.compatible
        if from.arch != to.arch {
            // Issue 20: no prediction across architectures; a live update never crosses one.
            self.outcome = .unknown
            self.reasons = [Self.crossArchitectureReason(from: from, to: to)]
            self.differences = []
            self.shared = []
            return
        }
        for (image, role) in [(from, "the first kernel"), (to, "the second kernel")] {
            if !image.capabilities.kexecHandover { reasons.append("\(image.recipe) (\(role), \(image.kernelRelease)) has no KEXEC_HANDOVER"); outcome = .incompatible }
            if !image.capabilities.liveUpdate { reasons.append("\(image.recipe) (\(role), \(image.kernelRelease)) has no LIVEUPDATE (/dev/liveupdate)"); outcome = .incompatible }
            if image.capabilities.liveUpdate && !image.capabilities.memfdPreservation {
                reasons.append("\(image.recipe) (\(role)) has no LIVEUPDATE_MEMFD: memfds cannot be \(role == "the first kernel" ? "preserved" : "taken back")")
                outcome = .incompatible
            }
        }
        if !from.capabilities.kexecFile { reasons.append("\(from.recipe) has no KEXEC_FILE: it cannot load the next kernel"); outcome = .incompatible }
        if !to.kexecLoadable { reasons.append("\(to.recipe)'s bzImage lacks XLF_CAN_BE_LOADED_ABOVE_4G (no RELOCATABLE): kexec_file_load refuses it"); outcome = .incompatible }

        var differences: [Difference] = []
        var shared: [String] = []
        if let a = from.abi?.byFamily, let b = to.abi?.byFamily {
            for family in Set(a.keys).union(b.keys).sorted() {
                if a[family] == b[family] { shared.append(a[family]!) }
                else { differences.append(Difference(family: family, from: a[family], to: b[family])) }
            }
            for difference in differences where ["kho", "luo", "memfd"].contains(difference.family) {
                let old = difference.from ?? "none"
                let new = difference.to ?? "none"
                reasons.append("\(difference.family) format differs: \(from.recipe) writes \(old), \(to.recipe) reads \(new)")
                if outcome == .compatible { outcome = .incompatible }
            }
        } else {
            reasons.append("ABI strings unknown for \(from.abi == nil ? from.recipe : to.recipe) (no source tree): cannot predict")
            if outcome == .compatible { outcome = .unknown }
        }
        self.outcome = outcome
        self.reasons = reasons
        self.differences = differences
        self.shared = shared
    }
}
