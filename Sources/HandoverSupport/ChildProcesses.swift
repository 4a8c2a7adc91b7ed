import Foundation
import Synchronization

/// Every long-running child (make, qemu) in its own process group, so that SIGINT or SIGTERM
/// to handover stops all of them before it exits, and no VM outlives the run.
public final class ChildProcesses: Sendable {
    public static let shared = ChildProcesses()

    private let groups = Mutex<Set<pid_t>>([])
    /// In registration order; run newest first, as `defer` would (a domain before the upload pool it uses).
    private let cleanups = Mutex<[(id: UUID, action: @Sendable () -> Void)]>([])

    public func register(_ pid: pid_t) { _ = groups.withLock { $0.insert(pid) } }
    public func unregister(_ pid: pid_t) { _ = groups.withLock { $0.remove(pid) } }

    /// Work to do on interrupt after the children are gone (removing a private run directory).
    public func onInterrupt(_ action: @escaping @Sendable () -> Void) -> UUID {
        let id = UUID()
        cleanups.withLock { $0.append((id, action)) }
        return id
    }

    public func removeInterruptAction(_ id: UUID) { cleanups.withLock { $0.removeAll { $0.id == id } } }

    private func runInterruptActions() {
        for cleanup in cleanups.withLock({ $0.reversed() }) { cleanup.action() }
    }

    /// Kills every registered process group and waits until each is gone.
    public func killAll() {
        let pids = groups.withLock { Array($0) }
        for pid in pids {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        for pid in pids {
            var status: Int32 = 0
            // The child may already have been reaped by its owner; ECHILD then ends the wait.
            for _ in 0..<200 {
                if waitpid(pid, &status, WNOHANG) != 0 { break }
                if kill(pid, 0) != 0 { break }
                usleep(10_000)
            }
        }
    }

    private let installed = Mutex<[DispatchSourceSignal]>([])
    private let received = Mutex<Int32>(0)

    /// The signal that interrupted handover, or 0. Once set, VMs are being torn down on
    /// purpose: what their runs report then is not a result.
    public var interruptSignal: Int32 { received.withLock { $0 } }
    public var isInterrupted: Bool { interruptSignal != 0 }

    /// Exits with 128 + the signal when handover was interrupted; the handler may still be
    /// tearing down, and the main flow must not exit first with a status of its own.
    public func exitIfInterrupted() {
        let signal = interruptSignal
        guard signal != 0 else { return }
        killAll()
        runInterruptActions()
        exit(128 + signal)
    }

    /// SIGINT and SIGTERM: stop the children, run the clean-ups, exit 130 or 143.
    public func installSignalHandlers() {
        installed.withLock { sources in
            guard sources.isEmpty else { return }
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [self] in
                    received.withLock { if $0 == 0 { $0 = signalNumber } }
                    FileHandle.standardError.write(Data("\nhandover: interrupted, stopping VMs and builds\n".utf8))
                    killAll()
                    runInterruptActions()
                    exit(128 + signalNumber)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
