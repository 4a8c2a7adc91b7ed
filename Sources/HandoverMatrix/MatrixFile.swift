import Foundation
import HandoverSupport
import HandoverMachines

/// A matrix from a YAML file: which images, scenarios, pairs and chains, how often, how long.
public struct MatrixFile: Sendable, Equatable {
    public enum PairSelection: Sendable, Equatable {
        /// Every ordered pair, self-updates included.
        case all
        case upgrade
        case rollback
        case none
        case explicit([[String]])
    }

    /// Where runs go and how many at once on each; runs are spread over them.
    public struct BackendSlot: Sendable, Equatable {
        public var backend: Backend
        /// nil: the matrix's --jobs / jobs value.
        public var jobs: Int?

        public init(backend: Backend, jobs: Int?) {
            self.backend = backend
            self.jobs = jobs
        }
    }

    public var name: String
    public var file: String
    public var images: [String]
    public var scenarios: [String]
    public var pairs: PairSelection
    public var chains: [[String]]
    public var repeats: Int
    public var timeout: TimeInterval
    public var jobs: Int?
    public var regressionThreshold: Double
    public var allowUnsupported: Bool
    public var accelerator: String
    public var cpus: Int
    public var memoryMiB: Int?
    public var backends: [BackendSlot] = [BackendSlot(backend: .qemu, jobs: nil)]
    /// The blackout growth reports say how many repeats would catch (default twice the threshold).
    public var regressionSensitivity: Double? = nil
    /// Boot the kernels after the first with initcall_debug (see `RunOptions.initcalls`).
    public var initcalls = false
    /// The clock blackouts are judged on; nil: guest under TCG on the qemu backend, else host.
    public var timing: Timing? = nil

    package static let keys = ["name", "images", "scenarios", "pairs", "chains", "repeats", "timeout", "jobs",
                       "regression-threshold", "regression-sensitivity", "allow-unsupported", "accel", "cpus", "memory", "backends", "initcalls", "timing"]

    public static func load(from url: URL) throws(InputError) -> MatrixFile {
        try parse(text: try YAMLValue.readText(url), file: url.path)
    }

    public static func parse(text: String, file: String) throws(InputError) -> MatrixFile {
        let root = try YAMLValue.load(file: file, text: text)
        let top = try root.mapping(allowedKeys: keys)
        let name = try top["name"]?.nonEmptyString() ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let imagesValue = try top.required("images", "a list of image recipe names")
        let images = try imagesValue.stringList()
        guard !images.isEmpty else { throw imagesValue.error("expected at least one image") }
        if let duplicate = images.firstDuplicate { throw imagesValue.error("image '\(duplicate)' is listed twice") }
        let scenariosValue = try top.required("scenarios", "a list of scenario names or files")
        let scenarios = try scenariosValue.stringList()
        guard !scenarios.isEmpty else { throw scenariosValue.error("expected at least one scenario") }
        if let duplicate = scenarios.firstDuplicate { throw scenariosValue.error("scenario '\(duplicate)' is listed twice") }

        var pairs = PairSelection.all
        if let value = top["pairs"] {
            if case .scalar = value.node {
                switch try value.string() {
                case "all": pairs = .all
                case "upgrade": pairs = .upgrade
                case "rollback": pairs = .rollback
                case "none": pairs = .none
                case let other: throw value.error("expected all, upgrade, rollback, none or a list of {from, to}, found '\(other)'")
                }
            } else {
                var list: [[String]] = []
                for item in try value.list() {
                    let fields = try item.mapping(allowedKeys: ["from", "to"])
                    let from = try fields.required("from", "an image name").nonEmptyString()
                    let to = try fields.required("to", "an image name").nonEmptyString()
                    for (key, image) in [("from", from), ("to", to)] where !images.contains(image) {
                        throw fields[key]!.error("image '\(image)' is not in images (\(images.joined(separator: ", ")))")
                    }
                    list.append([from, to])
                }
                pairs = .explicit(list)
            }
        }
        var chains: [[String]] = []
        if let value = top["chains"] {
            for item in try value.list() {
                let chain = try item.stringList()
                guard chain.count >= 2 else { throw item.error("expected a chain of at least two images, found \(chain.count)") }
                if let unknown = chain.first(where: { !images.contains($0) }) {
                    throw item.error("image '\(unknown)' is not in images (\(images.joined(separator: ", ")))")
                }
                chains.append(chain)
            }
        }
        let repeats = try top["repeats"]?.int(in: 1...1000) ?? 1
        let timeout = TimeInterval(try top["timeout"]?.int(in: 10...86_400) ?? 600)
        let jobs = try top["jobs"]?.int(in: 1...256)
        var threshold = 0.10
        if let value = top["regression-threshold"] {
            let text = try value.string().trimmingCharacters(in: .whitespaces)
            let number = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
            guard let number, number > 0, number <= 10 else {
                throw value.error("expected a fraction such as 0.1 or a percentage such as 10%, found '\(text)'")
            }
            threshold = number
        }
        var sensitivity: Double?
        if let value = top["regression-sensitivity"] {
            let text = try value.string().trimmingCharacters(in: .whitespaces)
            let number = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
            guard let number, number > threshold, number <= 10 else {
                throw value.error("expected a fraction or a percentage above the regression threshold (\(threshold)), found '\(text)'")
            }
            sensitivity = number
        }
        let allowUnsupported = try top["allow-unsupported"]?.bool() ?? true
        let accelerator = try top["accel"]?.string() ?? "auto"
        guard ["auto", "kvm", "tcg"].contains(accelerator) else { throw top["accel"]!.error("expected auto, kvm or tcg, found '\(accelerator)'") }
        let cpus = try top["cpus"]?.int(in: 1...64) ?? 1
        let memory = try top["memory"]?.int(in: 256...65_536)
        var matrix = MatrixFile(name: name, file: file, images: images, scenarios: scenarios, pairs: pairs, chains: chains,
                                repeats: repeats, timeout: timeout, jobs: jobs, regressionThreshold: threshold,
                                allowUnsupported: allowUnsupported, accelerator: accelerator, cpus: cpus, memoryMiB: memory)
        matrix.regressionSensitivity = sensitivity
        matrix.initcalls = try top["initcalls"]?.bool() ?? false
        if let value = top["timing"] {
            let text = try value.string()
            guard let timing = Timing(rawValue: text) else {
                throw value.error("expected \(Timing.allCases.map(\.rawValue).joined(separator: " or ")), found '\(text)'")
            }
            if let refusal = timing.refusal(under: .kvm), accelerator == "kvm" { throw value.error(refusal) }
            matrix.timing = timing
        }
        if let value = top["backends"] {
            var slots: [BackendSlot] = []
            for item in try value.list() {
                if case .scalar = item.node {
                    guard try item.string() == "qemu" else {
                        throw item.error("expected qemu or {backend: libvirt, connect: URI, jobs: N}, found '\(try item.string())'")
                    }
                    slots.append(BackendSlot(backend: .qemu, jobs: nil))
                    continue
                }
                let fields = try item.mapping(allowedKeys: ["backend", "connect", "jobs"])
                let kind = try fields.required("backend", "qemu or libvirt").string()
                let slotJobs = try fields["jobs"]?.int(in: 1...256)
                switch kind {
                case "qemu":
                    if let connect = fields["connect"] { throw connect.error("connect goes with backend: libvirt") }
                    slots.append(BackendSlot(backend: .qemu, jobs: slotJobs))
                case "libvirt":
                    let uri = try fields["connect"]?.nonEmptyString() ?? Backend.defaultLibvirtURI
                    slots.append(BackendSlot(backend: .libvirt(uri: uri), jobs: slotJobs))
                default:
                    throw fields["backend"]!.error("expected qemu or libvirt, found '\(kind)'")
                }
            }
            guard !slots.isEmpty else { throw value.error("expected at least one backend") }
            if let duplicate = slots.map(\.backend.label).firstDuplicate { throw value.error("backend \(duplicate) is listed twice") }
            matrix.backends = slots
        }
        if let timing = matrix.timing, let refusal = matrix.backends.lazy.compactMap({ timing.refusal(on: $0.backend) }).first {
            throw top["timing"]!.error(refusal)
        }
        if case .none = pairs, chains.isEmpty { throw top.owner.error("the matrix has no pairs and no chains: nothing would run") }
        return matrix
    }
}


/// Kernel releases compared numerically: 7.2.13 < 7.3.4 < 7.10.
public func compareReleases(_ a: String, _ b: String) -> ComparisonResult {
    func numbers(_ text: String) -> [Int] { text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) } }
    let x = numbers(a), y = numbers(b)
    for (p, q) in zip(x, y) where p != q { return p < q ? .orderedAscending : .orderedDescending }
    return x.count == y.count ? .orderedSame : (x.count < y.count ? .orderedAscending : .orderedDescending)
}
