import Foundation
import HandoverCore
import Synchronization
import HandoverSupport

/// What every backend keeps of a VM's two channels, and the events they become: the console
/// log with host times per line, the protocol transcript both ways, the console's last lines,
/// and every line decoded into a VMEvent posted in arrival order.
public final class ChannelRecorder: Sendable {
    public let events: Mailbox<VMEvent>
    private let consoleFile: FileHandle
    private let transcriptFile: FileHandle
    private let tail = Mutex(ConsoleBuffer(capacity: 400))

    public init(consoleLog: URL, transcript: URL, events: Mailbox<VMEvent>) throws {
        self.events = events
        for url in [consoleLog, transcript] {
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw HarnessError(.io, "cannot create \(url.path)")
            }
        }
        consoleFile = try FileHandle(forWritingTo: consoleLog)
        transcriptFile = try FileHandle(forWritingTo: transcript)
    }

    /// Called by a reader thread for each console line.
    public func console(_ line: String, at time: HostTime) {
        consoleFile.write(Data(String(format: "[%10.6f] %@\n", time.seconds, line).utf8))
        tail.withLock {
            $0.append(line)
        }
        events.postAndWait(.console(line, time))
    }

    /// Called by a reader thread for each line from the agent; a malformed line is an event too.
    public func agent(_ line: String, at time: HostTime) {
        record("agent", line, at: time)
        let event: VMEvent
        do throws(ProtocolError) {
            event = .agent(try ProtocolLine.decode(AgentMessage.self, from: line), time)
        } catch {
            event = .malformed(error, time)
        }
        events.postAndWait(event)
    }

    public func agentClosed(at time: HostTime) {
        events.postAndWait(.agentChannelClosed(time))
    }

    /// A command on its way to the agent.
    public func runner(_ line: String, at time: HostTime) {
        record("runner", line, at: time)
    }

    public func consoleLines(last count: Int) -> [String] {
        tail.withLock { $0.tail(count) }
    }

    public func flush() {
        try? consoleFile.synchronize()
        try? transcriptFile.synchronize()
    }

    private func record(_ side: String, _ line: String, at time: HostTime) {
        let quoted = String(decoding: (try? JSONEncoder().encode(line)) ?? Data("\"\"".utf8), as: UTF8.self)
        transcriptFile.write(Data(String(format: "{\"t\":%.6f,\"from\":\"%@\",\"line\":%@}\n", time.seconds, side, quoted).utf8))
    }
}
