import Foundation
import Synchronization

/// Every long-running child (make, qemu) in its own process group, so that SIGINT or SIGTERM
/// to handover stops all of them before it exits, and no VM outlives the run.
public final class ChildProcesses: Sendable {
    public static let shared = ChildProcesses()

    private let groups = Mutex<Set<pid_t>>([])
    private let cleanups = Mutex<[UUID: @Sendable () -> Void]>([:])

    public func register(_ pid: pid_t) { _ = groups.withLock { $0.insert(pid) } }
    public func unregister(_ pid: pid_t) { _ = groups.withLock { $0.remove(pid) } }

    /// Work to do on interrupt after the children are gone (removing a private run directory).
    public func onInterrupt(_ action: @escaping @Sendable () -> Void) -> UUID {
        let id = UUID()
        cleanups.withLock { $0[id] = action }
        return id
    }

    public func removeInterruptAction(_ id: UUID) { _ = cleanups.withLock { $0.removeValue(forKey: id) } }

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

    /// SIGINT and SIGTERM: stop the children, run the clean-ups, exit 130 or 143.
    public func installSignalHandlers() {
        installed.withLock { sources in
            guard sources.isEmpty else { return }
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [self] in
                    FileHandle.standardError.write(Data("\nhandover: interrupted, stopping VMs and builds\n".utf8))
                    killAll()
                    for action in cleanups.withLock({ Array($0.values) }) { action() }
                    exit(128 + signalNumber)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
