import Foundation
import HandoverSupport

/// A private (0700) folder for one VM: sockets, console log, protocol transcript, initramfs.
/// Removed at the end unless the user asked to keep it.
public final class RunDirectory: Sendable {
    public let url: URL

    public init(parent: URL? = nil) throws {
        let base = parent ?? RunDirectory.defaultParent
        try FileManager.default.createPrivateDirectory(base)
        // Made under a staging name and renamed once its owner record is in it, so a runner
        // killed in between never leaves a `run-` folder without an owner (which a later
        // invocation would have to keep for an hour).
        var template = Array(base.appendingPathComponent("\(Self.stagingPrefix)XXXXXX").path.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw HarnessError(.io, "cannot create a run directory in \(base.path): \(String(cString: strerror(errno)))")
        }
        let staging = URL(fileURLWithPath: String(cString: made))
        chmod(staging.path, 0o700)
        // Who owns it: a later handover removes it once this process is gone (see reapStale).
        try? Data((RunOwner.current.tag + "\n").utf8).write(to: staging.appendingPathComponent(Self.ownerFile))
        url = base.appendingPathComponent("run-" + staging.lastPathComponent.dropFirst(Self.stagingPrefix.count))
        guard rename(staging.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: staging)
            throw HarnessError(.io, "cannot create the run directory \(url.path): \(reason)")
        }
    }

    package static let stagingPrefix = ".new-run-"
    /// A staging folder older than this was left by a runner killed before it could rename it.
    package static let stagingLifetime: Int = 60

    package static let ownerFile = "owner"

    /// What a later invocation found and removed.
    public struct Reaped: Sendable {
        public var directory: URL
        public var owner: String
        public var killed: [Int32]
    }

    /// Removes the run directories whose owner is gone (a runner killed with SIGKILL, or a
    /// crash): first any process still naming the directory on its command line (a QEMU
    /// bound to its sockets), then the directory. A directory whose owner runs is never
    /// touched; one without an owner record (from an older handover) only once it is an hour
    /// old and no process names it.
    @discardableResult
    public static func reapStale(parent: URL? = nil) -> [Reaped] {
        let base = parent ?? defaultParent
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base.path) else { return [] }
        var reaped: [Reaped] = []
        for entry in entries where entry.hasPrefix(stagingPrefix) {
            // Nothing is ever started on a staging folder: only its age matters.
            var info = stat()
            let directory = base.appendingPathComponent(entry)
            guard lstat(directory.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                  time(nil) - info.st_mtim.tv_sec > stagingLifetime else { continue }
            try? FileManager.default.removeItem(at: directory)
            reaped.append(Reaped(directory: directory, owner: "a runner killed while creating it", killed: []))
        }
        for entry in entries.sorted() where entry.hasPrefix("run-") {
            let directory = base.appendingPathComponent(entry)
            let ownerText = (try? String(contentsOf: directory.appendingPathComponent(ownerFile), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let ownerName: String
            if let ownerText, let owner = RunOwner(tag: ownerText) {
                guard owner.status != .alive else { continue }
                ownerName = owner.description
            } else {
                var info = stat()
                guard lstat(directory.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                      time(nil) - info.st_mtim.tv_sec > 3600 else { continue }
                ownerName = "no owner record"
            }
            let strays = StrayProcesses.referring(to: directory.path + "/")
            if ownerText == nil, !strays.isEmpty { continue }
            StrayProcesses.kill(strays)
            try? FileManager.default.removeItem(at: directory)
            reaped.append(Reaped(directory: directory, owner: ownerName, killed: strays))
        }
        return reaped
    }

    /// $XDG_RUNTIME_DIR/handover when set, else /tmp/handover-UID: short enough for socket paths.
    static var defaultParent: URL {
        if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            return URL(fileURLWithPath: runtime).appendingPathComponent("handover")
        }
        return URL(fileURLWithPath: "/tmp/handover-\(getuid())")
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}
