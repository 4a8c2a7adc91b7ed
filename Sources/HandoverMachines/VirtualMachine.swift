import Foundation
import HandoverCore
import HandoverSupport

/// What every backend gives a run: a VM started from a VMConfig, its events in arrival
/// order with host times, a way to talk to the agent, and teardown that always happens.
public protocol VirtualMachine: AnyObject, Sendable {
    var config: VMConfig { get }
    var directory: RunDirectory { get }
    /// The serial console with host timestamps per line, in the run directory.
    var consoleLog: URL { get }
    /// Every protocol line both ways, in the run directory.
    var transcript: URL { get }
    /// How to start the same VM by hand (a QEMU command line, a domain XML), for logs.
    var launchDescription: String { get }

    /// Starts the VM and returns once both channels are connected.
    func start(connectTimeout: TimeInterval) async throws
    /// The next event, or nil at the deadline.
    func next(until deadline: ContinuousClock.Instant) async -> VMEvent?
    func send(_ command: RunnerCommand)
    /// Waits for the VM to end by itself for up to `timeout`.
    func waitForExit(timeout: TimeInterval) async -> Bool
    /// Ends the VM if it still runs and releases everything. Safe to call twice.
    func stop()
    func consoleLines(last count: Int) -> [String]
    /// What the hypervisor itself said (QEMU's stderr, libvirt errors).
    var hostErrors: [String] { get }
    /// Files worth keeping with a result: (file, name to keep it under).
    var artifacts: [(URL, String)] { get }
    /// What start() did before the VM's clock started (as far as it got).
    var setup: MachineSetup { get }
}

extension VirtualMachine {
    public func start() async throws { try await start(connectTimeout: 15) }
    public var setup: MachineSetup { .none }
}

/// Where VMs run.
public enum Backend: Sendable, Equatable {
    /// qemu-system-x86_64 started directly.
    case qemu
    /// A transient libvirt domain on the given connection URI.
    case libvirt(uri: String)

    public static let defaultLibvirtURI = "qemu:///system"

    public var label: String {
        switch self {
        case .qemu: "qemu"
        case .libvirt(let uri): "libvirt \(uri)"
        }
    }
}

/// Makes the VM for a backend. The command line hands runs a maker that knows the backends
/// this build has (HandoverLibvirt adds libvirt), so nothing below it depends on libvirt.
public struct MachineMaker: Sendable {
    /// Makes a libvirt domain on the given URI; nil in a build without the libvirt backend.
    public var libvirt: (@Sendable (VMConfig, RunDirectory, String) throws -> any VirtualMachine)?

    public init(libvirt: (@Sendable (VMConfig, RunDirectory, String) throws -> any VirtualMachine)? = nil) {
        self.libvirt = libvirt
    }

    /// QEMU only.
    public static let qemu = MachineMaker()

    public func make(_ backend: Backend, config: VMConfig, directory: RunDirectory) throws -> any VirtualMachine {
        switch backend {
        case .qemu:
            return QemuMachine(config: config, directory: directory)
        case .libvirt(let uri):
            guard let maker = libvirt else {
                throw HarnessError(.notFound, "this build of handover has no libvirt backend")
            }
            return try maker(config, directory, uri)
        }
    }
}
