import Foundation
import Synchronization
import SystemPackage

/// Binds a child process (QEMU, make, git, apt-get) to the life of this process, whatever
/// ends it: SIGKILL included, which no handler can see.
///
/// The child is started as `/bin/sh -c SCRIPT NAME ARGS…` with the read end of a pipe as its
/// standard input. The shell moves that pipe to fd 3, starts a watcher in the background that
/// blocks reading it, and then `exec`s the real command (same pid, stdin /dev/null). Only this
/// process holds the pipe's write end (close-on-exec, so no other child inherits it). When it
/// is closed — by `release()` after the child ended, or by the kernel when this process dies
/// for any reason — the watcher's read returns EOF and it kills its whole process group: the
/// child (a session leader, so the group is the child's own) and everything the child started.
///
/// Why not `PR_SET_PDEATHSIG`: it fires when the *thread* that forked the child exits, not the
/// process, and Swift concurrency spawns from pool threads that may end while the run goes
/// on; swift-subprocess also offers no hook between fork and exec on Linux. A pipe's write end
/// belongs to the process's file table, so it closes exactly when the process is gone.
public final class Lifeline: Sendable {
    /// The wrapper: `$0` is the command, `"$@"` its arguments.
    /// The watcher is a shell of its own (named handover-lifeline) so that its command line does
    /// not repeat the child's: a search for stray QEMUs by command line finds QEMU alone.
    static let script =
        "exec 3<&0 </dev/null; /bin/sh -c 'read line <&3; kill -KILL 0' handover-lifeline >/dev/null 2>&1 & exec 3<&-; exec \"$0\" \"$@\""

    /// The read end, handed to the child as its standard input (closed here after the spawn).
    public let readEnd: FileDescriptor
    private let writeEnd = Mutex<Int32>(-1)

    public init() throws {
        var fds: [Int32] = [0, 0]
        // Close-on-exec at once (swift-subprocess also closes every fd above 2 in its children).
        guard pipe(&fds) == 0 else {
            throw HarnessError(.io, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        readEnd = FileDescriptor(rawValue: fds[0])
        writeEnd.withLock { $0 = fds[1] }
    }

    /// The executable and arguments that run `name arguments…` bound to this lifeline.
    public static func wrap(_ path: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
        ("/bin/sh", ["-c", script, path] + arguments)
    }

    /// Closes the write end: the watcher kills what is left of the child's process group.
    public func release() {
        let fd = writeEnd.withLock { fd -> Int32 in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    deinit { release() }

    /// The absolute path of an executable named on PATH, so that a missing tool is reported as
    /// before (the shell would only say "not found" with status 127).
    public static func resolve(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin").split(separator: ":")
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
