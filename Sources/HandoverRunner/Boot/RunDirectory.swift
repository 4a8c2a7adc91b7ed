import Foundation

/// A private (0700) folder for one VM: sockets, console log, protocol transcript, initramfs.
/// Removed at the end unless the user asked to keep it.
public final class RunDirectory: Sendable {
    public let url: URL

    public init(parent: URL? = nil) throws {
        let base = parent ?? RunDirectory.defaultParent
        try FileManager.default.createPrivateDirectory(base)
        var template = Array(base.appendingPathComponent("run-XXXXXX").path.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw HarnessError(.io, "cannot create a run directory in \(base.path): \(String(cString: strerror(errno)))")
        }
        url = URL(fileURLWithPath: String(cString: made))
        chmod(url.path, 0o700)
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
