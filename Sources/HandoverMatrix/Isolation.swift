/// How a matrix keeps its VMs from disturbing each other's blackout on this host.
public enum Isolation: Sendable, Equatable {
    /// One VM at a time: nothing to keep apart.
    case alone
    /// Each running VM's threads pinned to cores of its own (one core set per job).
    case pinned(coreSets: [[Int]])
    /// No two VMs in their blackout at once (`BlackoutGate`).
    case gated
    /// Asked for with --allow-contention: blackouts may overlap, and the results say so.
    case none

    /// Pins when every job can have `cpus` cores of its own, gates otherwise; `allowContention`
    /// turns both off. `jobs` counts the VMs on this host (the qemu backend).
    public static func choose(jobs: Int, cpus: Int, cores: Int, allowContention: Bool) -> Isolation {
        if jobs <= 1 { return .alone }
        if allowContention { return .none }
        if jobs * cpus <= cores {
            return .pinned(coreSets: (0..<jobs).map { job in Array((job * cpus)..<((job + 1) * cpus)) })
        }
        return .gated
    }

    public func description(jobs: Int, cpus: Int, cores: Int) -> String {
        let shape = "\(jobs) VM\(jobs == 1 ? "" : "s") of \(cpus) vCPU\(cpus == 1 ? "" : "s") on \(cores) host cores"
        switch self {
        case .alone: return "one VM at a time (\(shape))"
        case .pinned: return "each VM pinned to \(cpus) core\(cpus == 1 ? "" : "s") of its own (\(shape))"
        case .gated: return "blackouts one at a time, other VMs idle meanwhile (\(shape))"
        case .none: return "none: blackouts may overlap (--allow-contention, \(shape))"
        }
    }
}
