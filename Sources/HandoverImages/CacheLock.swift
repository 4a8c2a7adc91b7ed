import Foundation
import HandoverSupport

/// An exclusive lock on a cache entry between handover processes (flock on a lock file): the
/// kernel drops it when its holder ends in any way, SIGKILL included, so a killed build never
/// leaves the entry locked.
public final class CacheLock: @unchecked Sendable {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock, saying once that it waits when another process holds it.
    public static func acquire(_ path: URL, waiting message: String, progress: ProgressReporter) async throws -> CacheLock {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(path.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HarnessError(.io, "cannot create the lock \(path.path): \(String(cString: strerror(errno)))") }
        var said = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw HarnessError(.io, "cannot lock \(path.path): \(reason)")
            }
            if !said {
                progress.step(message)
                said = true
            }
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                close(fd)
                throw HarnessError(.interrupted, "interrupted while waiting for \(path.path)")
            }
        }
        return CacheLock(fd: fd)
    }

    public func release() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
