import Foundation
import HandoverCore
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
        /// The first kernel cannot preserve what the scenario needs (no handler for it).
        case unsupported
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

    /// `needs`: the LUO file handlers the scenario's sessions need beyond memfd's (see
    /// `HandlerNeed`); both kernels must have each, with the same format.
    public init(from: KernelImage, to: KernelImage, needs: [HandlerNeed] = []) {
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
            let lacking = needs.filter { !Self.has($0, from) }
            if !lacking.isEmpty {
                for need in lacking {
                    reasons.append("\(from.recipe) (the first kernel) has no handler for \(need.what) (\(need.described)): it cannot preserve it")
                }
                if outcome == .compatible { outcome = .unsupported }
            } else {
                for need in needs {
                    let written = a[need.abiFamily] ?? need.abiFamily
                    if !Self.has(need, to) {
                        reasons.append("\(to.recipe) (the second kernel) has no handler for \(written) (\(need.described)): it cannot take back the \(need.what)")
                        outcome = .incompatible
                    } else if a[need.abiFamily] != b[need.abiFamily] {
                        reasons.append("\(need.what) format differs: \(from.recipe) writes \(written), \(to.recipe) reads \(b[need.abiFamily]!)")
                        outcome = .incompatible
                    }
                }
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

    /// Whether an image has a handler: its tree declares the format and, where the image
    /// recorded its live update options, the option that builds the handler is on.
    static func has(_ need: HandlerNeed, _ image: KernelImage) -> Bool {
        guard image.abi?.byFamily[need.abiFamily] != nil else { return false }
        guard let option = need.configOption, let enabled = image.capabilities.liveUpdateOptions else { return true }
        return enabled.contains(option)
    }
}

/// A LUO file handler a scenario needs besides memfd's: the files of a not-yet-merged series.
public struct HandlerNeed: Sendable, Hashable {
    /// What is preserved, for reasons ("guest_memfd", "KVM VM file").
    public var what: String
    /// The family of the handler's compatible string ("guest_memfd_luo" of guest_memfd_luo_v1).
    public var abiFamily: String
    /// The kernel option that builds the handler, when known.
    public var configOption: String?

    public init(what: String, abiFamily: String, configOption: String?) {
        self.what = what
        self.abiFamily = abiFamily
        self.configOption = configOption
    }

    var described: String { abiFamily + (configOption.map { ", CONFIG_\($0)" } ?? "") }

    public static func of(_ handle: Handle) -> HandlerNeed {
        switch handle {
        case .kvmVM: HandlerNeed(what: "KVM VM file", abiFamily: "kvm_vm_luo", configOption: "LIVEUPDATE_GUEST_MEMFD")
        case .vfioDevice: HandlerNeed(what: "VFIO device cdev", abiFamily: "vfio-pci", configOption: "VFIO_PCI_LIVEUPDATE")
        // The IOMMU series for a current base is not public; its option name is not known.
        case .iommufd: HandlerNeed(what: "iommufd", abiFamily: "iommufd", configOption: nil)
        }
    }

    /// Every handler a scenario can need.
    public static var all: [HandlerNeed] { [of(.guestMemfd)!] + Handle.allCases.map(of) }

    public static func of(_ backing: Backing) -> HandlerNeed? {
        switch backing {
        case .memfd: nil
        case .guestMemfd: HandlerNeed(what: "guest_memfd", abiFamily: "guest_memfd_luo", configOption: "LIVEUPDATE_GUEST_MEMFD")
        }
    }
}
