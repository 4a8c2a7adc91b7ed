import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages

/// KVM is used only after a real boot under it worked on this host: on some hosts /dev/kvm
/// exists and still fails on the kernel's boot stub. The verdict is cached per host kernel
/// and QEMU version for a day.
public struct AcceleratorProbe: Sendable {
    public struct Verdict: Codable, Sendable, Equatable {
        public var accelerator: Accelerator
        public var reason: String
        public var host: String
        public var kvmDevice: Bool
        public var probedAt: Date
    }

    public let paths: CachePaths
    public let progress: ProgressReporter

    public init(paths: CachePaths, progress: ProgressReporter) {
        self.paths = paths
        self.progress = progress
    }

    /// The decision, given what is known: no /dev/kvm means TCG without a probe.
    public static func decide(kvmDevice: Bool, probeBooted: Bool?, probeDetail: String = "") -> (Accelerator, String) {
        guard kvmDevice else { return (.tcg, "no /dev/kvm on this host") }
        switch probeBooted {
        case true?: return (.kvm, "a probe VM booted to its agent under KVM")
        case false?: return (.tcg, "/dev/kvm exists but a probe VM failed under KVM\(probeDetail.isEmpty ? "" : ": \(probeDetail)")")
        case nil: return (.tcg, "KVM not probed")
        }
    }

    static var hostKey: String {
        var names = utsname()
        uname(&names)
        let release = withUnsafePointer(to: names.release) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
        return "\(release)"
    }

    /// Returns the accelerator to use, probing with `image` if no fresh verdict is cached.
    public func choose(probeWith image: KernelImage, timeout: TimeInterval = 20) async throws -> Verdict {
        let kvmDevice = access("/dev/kvm", R_OK | W_OK) == 0
        let cacheFile = paths.root.appendingPathComponent("accelerator.json")
        let host = Self.hostKey
        if let cached = try? JSONCoding.decode(Verdict.self, from: cacheFile), cached.host == host,
           cached.kvmDevice == kvmDevice, Date().timeIntervalSince(cached.probedAt) < 86_400 {
            return cached
        }
        var booted: Bool?
        var detail = ""
        if kvmDevice {
            progress.step("probing KVM with a short boot of \(image.recipe)")
            do {
                _ = try await BootSession(image: image, accelerator: .kvm, progress: progress, keep: false).bootToHello(timeout: timeout)
                booted = true
            } catch {
                booted = false
                detail = "\(error)".split(separator: "\n").first.map(String.init) ?? ""
            }
        }
        let (accelerator, reason) = Self.decide(kvmDevice: kvmDevice, probeBooted: booted, probeDetail: detail)
        let verdict = Verdict(accelerator: accelerator, reason: reason, host: host, kvmDevice: kvmDevice, probedAt: Date())
        try? AtomicFile.writeJSON(verdict, to: cacheFile)
        return verdict
    }
}
