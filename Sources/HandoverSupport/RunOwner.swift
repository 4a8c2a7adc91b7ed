import Foundation

/// Which handover process owns a run directory, a libvirt domain or a storage pool: its pid,
/// the pid's start time (so a reused pid is not mistaken for the owner) and the host's boot id
/// (so a record from before a reboot, or from another machine, is recognised as such).
public struct RunOwner: Equatable, Sendable, CustomStringConvertible {
    public var pid: Int32
    /// Field 22 of /proc/PID/stat: clock ticks since boot when the process started.
    public var startTime: UInt64
    /// The first 8 hex digits of /proc/sys/kernel/random/boot_id.
    public var boot: String

    public init(pid: Int32, startTime: UInt64, boot: String) {
        self.pid = pid
        self.startTime = startTime
        self.boot = boot
    }

    public static let current = RunOwner(
        pid: getpid(), startTime: RunOwner.startTime(of: getpid()) ?? 0, boot: RunOwner.bootID())

    public enum Status: Equatable, Sendable {
        /// The owner runs (on this machine, since its last boot).
        case alive
        /// The owner ran on this machine since its last boot and is gone.
        case gone
        /// Recorded under another boot: another machine (a shared libvirt host), or this one
        /// before a reboot. Nothing here can tell which.
        case otherBoot
    }

    public var status: Status {
        guard boot == RunOwner.bootID() else { return .otherBoot }
        guard let started = RunOwner.startTime(of: pid), started == startTime else { return .gone }
        return .alive
    }

    public var description: String { "pid \(pid)" }

    /// `PID-START-BOOT`: a name component for libvirt objects and the owner file's content.
    public var tag: String { "\(pid)-\(startTime)-\(boot)" }

    public init?(tag: some StringProtocol) {
        let parts = tag.split(separator: "-")
        guard parts.count == 3, let pid = Int32(parts[0]), pid > 0, let start = UInt64(parts[1]),
              parts[2].count == 8, parts[2].allSatisfy(\.isHexDigit) else { return nil }
        self.init(pid: pid, startTime: start, boot: String(parts[2]))
    }

    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": field 3 is the state, field 22 the start time.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    static func bootID() -> String {
        let id = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        let hex = id.filter(\.isHexDigit)
        return hex.count >= 8 ? String(hex.prefix(8)).lowercased() : "00000000"
    }
}

/// Processes whose command line mentions a path: a QEMU left by a runner that is gone names
/// its run directory's sockets.
public enum StrayProcesses {
    public static func referring(to path: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let me = getpid()
        let needle = Array(path.utf8)
        var found: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != me,
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
            let bytes = [UInt8](data)
            if bytes.count >= needle.count, (0...(bytes.count - needle.count)).contains(where: { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }) {
                found.append(pid)
            }
        }
        return found
    }

    /// Kills them (SIGKILL) and waits briefly until they are gone.
    public static func kill(_ pids: [Int32]) {
        for pid in pids { Foundation.kill(pid, SIGKILL) }
        for pid in pids {
            for _ in 0..<100 where Foundation.kill(pid, 0) == 0 {
                var status: Int32 = 0
                _ = waitpid(pid, &status, WNOHANG)
                usleep(10_000)
            }
        }
    }
}
