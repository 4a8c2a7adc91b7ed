import Foundation
@testable import HandoverCore
@testable import HandoverMachines

/// A VirtualMachine that replays a recorded run instead of booting one: its events come in the
/// recorded order, as fast as the runner asks for them. What the runner sends is kept, so a test
/// can check what the runner asked of the agent. After the last event the VM either exits or
/// falls silent, so every way a run can end can be driven.
public final class ReplayMachine: VirtualMachine, @unchecked Sendable {
    public enum Ending: Sendable {
        /// QEMU exits with this status right after the last event.
        case exits(String)
        /// Nothing more: every wait runs out (at once: the deadline is not waited for).
        case silence
    }

    public let config: VMConfig
    public let directory: RunDirectory
    private let lock = NSLock()
    private var pending: [VMEvent]
    private let ending: Ending
    private var ended = false
    private var commands: [RunnerCommand] = []
    private var console = ConsoleBuffer()

    public init(_ run: RecordedRun, ending: Ending) throws {
        pending = run.events
        self.ending = ending
        directory = try RunDirectory()
        config = VMConfig(kernel: URL(fileURLWithPath: "/replay/bzImage"), initrd: URL(fileURLWithPath: "/replay/initrd.cpio"),
                          cmdline: "console=ttyS0", accelerator: .tcg)
    }

    /// What the runner sent, in order.
    public var sent: [RunnerCommand] { lock.withLock { commands } }

    public var consoleLog: URL { directory.file("console.log") }
    public var transcript: URL { directory.file("transcript.jsonl") }
    public var launchDescription: String { "replay of a recorded run" }
    public var hostErrors: [String] { [] }
    public var artifacts: [(URL, String)] { [] }

    public func start(connectTimeout: TimeInterval) async throws {}

    public func next(until deadline: ContinuousClock.Instant) async -> VMEvent? {
        lock.withLock {
            if !pending.isEmpty {
                let event = pending.removeFirst()
                if case .console(let line, _) = event { console.append(line) }
                return event
            }
            guard case .exits(let status) = ending, !ended else { return nil }
            ended = true
            return .exited(status: status, HostTime(nanoseconds: UInt64.max / 2))
        }
    }

    public func send(_ command: RunnerCommand) { lock.withLock { commands.append(command) } }
    public func waitForExit(timeout: TimeInterval) async -> Bool { true }
    public func stop() { directory.remove() }
    public func consoleLines(last count: Int) -> [String] { lock.withLock { console.tail(count) } }
}
