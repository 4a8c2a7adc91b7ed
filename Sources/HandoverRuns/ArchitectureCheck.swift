import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults

/// What architectures allow, checked before anything boots (issue 20).
public enum ArchitectureCheck {
    /// A live update never crosses architectures: every kernel of a chain must be built for
    /// the same one. The error names each kernel and its architecture.
    public static func sameArchitecture(_ chain: [KernelImage]) throws {
        if let message = mixedArchitectures(chain) { throw HarnessError(.configRejected, message) }
    }

    static func mixedArchitectures(_ chain: [KernelImage]) -> String? {
        guard Set(chain.map(\.arch)).count > 1 else { return nil }
        let listed = chain.map { "\($0.recipe) is \($0.arch.rawValue)" }.joined(separator: ", ")
        return "the kernels mix architectures (\(listed)): a live update hands over between kernels of one architecture; pick kernels of the same arch"
    }

    /// Why a scenario cannot run on an architecture, or nil when it can. The vm, iommufd and
    /// guest_memfd kinds drive x86-only parts: the agent's VMM runs an x86 guest program
    /// (KVM x86 registers, port I/O), and the IOMMU topology is QEMU's intel-iommu on q35.
    public static func unsupportedReason(_ scenario: Scenario, arch: Architecture) -> String? {
        guard arch != .x86_64 else { return nil }
        if scenario.topology != .plain {
            return "the scenario's machine (\(scenario.topology.description)) is an x86 q35 machine; \(arch.rawValue) boots QEMU's virt machine"
        }
        switch scenario.kind {
        case .memfd, .selftest: return nil
        case .vm: return "kind vm runs an x86 guest program in the agent's VMM (x86 KVM registers and port I/O); there is no \(arch.rawValue) guest program"
        case .iommufd: return "kind iommufd needs QEMU's intel-iommu on the q35 machine, which has no \(arch.rawValue) counterpart here"
        case .guestMemfd: return "kind guest_memfd runs an x86 guest in the agent's VMM; there is no \(arch.rawValue) guest program"
        }
    }

    /// The accelerator for an image when its architecture is not the host's: TCG, with the
    /// reason; nil when the host's own architecture (the KVM probe decides).
    public static func crossAccelerator(_ image: KernelImage, host: Architecture = .host) -> (Accelerator, String)? {
        guard image.arch != host else { return nil }
        return (.tcg, "\(image.arch.rawValue) guest on an \(host.rawValue) host: KVM cannot run another architecture, so TCG")
    }

    /// Fills `result` with the refusal and returns true when the run must not boot: a chain
    /// of mixed architectures (error, the input is wrong) or a kind this architecture cannot
    /// run (unsupported, with the reason), or KVM asked for a foreign architecture (error).
    static func refuse(_ scenario: Scenario, chain: [KernelImage], options: RunOptions, into result: inout RunResult) -> Bool {
        if let message = mixedArchitectures(chain) {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = message
            return true
        }
        let arch = chain[0].arch
        if let reason = unsupportedReason(scenario, arch: arch) {
            result.verdict = .unsupported
            result.failureClass = nil
            result.reason = "\(arch.rawValue): \(reason)"
            return true
        }
        if options.accelerator == .kvm, arch != .host {
            result.verdict = .error
            result.failureClass = .infrastructure
            result.reason = "KVM cannot run an \(arch.rawValue) guest on this \(Architecture.host.rawValue) host; use --accel tcg or auto"
            return true
        }
        return false
    }
}
