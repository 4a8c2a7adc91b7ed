import Foundation
import HandoverCore

/// A moment on the host's monotonic clock, the only clock that runs across a kexec.
public struct HostTime: Codable, Sendable, Comparable {
    /// Nanoseconds since the VM was started.
    public var nanoseconds: UInt64

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public init(seconds: Double) { nanoseconds = UInt64((max(0, seconds) * 1e9).rounded()) }

    public static func < (a: HostTime, b: HostTime) -> Bool { a.nanoseconds < b.nanoseconds }

    static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// What a VM tells the runner, in arrival order.
public enum VMEvent: Sendable {
    case agent(AgentMessage, HostTime)
    case malformed(ProtocolError, HostTime)
    case console(String, HostTime)
    case agentChannelClosed(HostTime)
    case exited(status: String, HostTime)
}
