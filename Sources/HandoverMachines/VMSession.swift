import Foundation
import HandoverSupport

/// One VM's life, the same for a boot, a run and a selftest run: a private run directory
/// (removed afterwards and on an interrupt, unless kept), the machine made for the backend from
/// the configuration the caller writes into that directory, handed to the body, and always
/// stopped, its console and transcript first copied to `artifacts`. The body starts the machine
/// (a run takes its blackout-gate turn first).
public struct VMSession: Sendable {
    public var backend: Backend
    public var machines: MachineMaker
    public var keep: Bool
    /// Where the machine's console.log and transcript.jsonl are kept after it ends.
    public var artifacts: URL?
    public var progress: ProgressReporter

    public init(backend: Backend, machines: MachineMaker, keep: Bool, artifacts: URL?, progress: ProgressReporter) {
        self.backend = backend
        self.machines = machines
        self.keep = keep
        self.artifacts = artifacts
        self.progress = progress
    }

    public func run<T>(configure: (RunDirectory) throws -> VMConfig,
                       _ body: (any VirtualMachine, RunDirectory) async throws -> T) async throws -> T {
        let directory = try RunDirectory()
        let keep = keep
        let cleanup = ChildProcesses.shared.onInterrupt { if !keep { directory.remove() } }
        defer {
            ChildProcesses.shared.removeInterruptAction(cleanup)
            if !keep { directory.remove() }
        }
        let machine = try machines.make(backend, config: try configure(directory), directory: directory)
        progress.detail(machine.launchDescription)
        defer {
            machine.stop()
            if let artifacts { Self.copyArtifacts(from: machine, to: artifacts) }
        }
        return try await body(machine, directory)
    }

    static func copyArtifacts(from machine: any VirtualMachine, to folder: URL) {
        let fm = FileManager.default
        try? fm.createDirectory(at: folder, withIntermediateDirectories: true)
        for (source, name) in machine.artifacts {
            guard let data = fm.contents(atPath: source.path) else { continue }
            try? AtomicFile.write(data, to: folder.appendingPathComponent(name))
        }
    }
}
