import Foundation

/// What a backend does before the VM's clock starts, in host seconds: for libvirt the
/// connection, the uploads of kernel and initramfs and the domain's start (paused, with its
/// streams open); the VM's own time (HostTime zero, `vmSeconds`) starts after it. QEMU started
/// directly has none: its clock starts when the process is spawned.
public struct MachineSetup: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        /// "connect", "upload kernel", "upload initramfs", "create domain", "open streams".
        public var name: String
        public var seconds: Double
        /// What happened ("uploaded 3.2 MB", "reused sha256:1a2b… uploaded by an earlier run").
        public var detail: String?

        public init(name: String, seconds: Double, detail: String? = nil) {
            self.name = name
            self.seconds = seconds
            self.detail = detail
        }
    }

    /// From the backend's start to the VM's clock zero; at least the sum of the steps.
    public var seconds: Double
    public var steps: [Step]

    public init(seconds: Double = 0, steps: [Step] = []) {
        self.seconds = seconds
        self.steps = steps
    }

    public static let none = MachineSetup()

    /// "0.42 s (upload initramfs 0.21 s, create domain 0.15 s, ...)" for logs.
    public var description: String {
        guard !steps.isEmpty else { return String(format: "%.2f s", seconds) }
        let parts = steps.map { step in
            String(format: "%@ %.2f s", step.name, step.seconds) + (step.detail.map { ": \($0)" } ?? "")
        }
        return String(format: "%.2f s (", seconds) + parts.joined(separator: ", ") + ")"
    }
}
