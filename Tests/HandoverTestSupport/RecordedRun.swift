import Foundation
@testable import HandoverCore
@testable import HandoverMachines

/// A run as a VM reported it, read back from a run directory's console.log and
/// transcript.jsonl (what every run keeps): the console lines and the agent's messages in
/// host-time order. Tests replay it through the runner, as recorded or edited to make the run
/// end another way.
public struct RecordedRun: Sendable {
    public var events: [VMEvent]

    public init(events: [VMEvent]) { self.events = events }

    public init(directory: URL) throws {
        var timed: [(Double, VMEvent)] = []
        let console = try String(contentsOf: directory.appendingPathComponent("console.log"), encoding: .utf8)
        for line in console.split(separator: "\n") {
            // "[  2.412091] text": the host time the line arrived, then the line.
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
                  let time = Double(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)) else { continue }
            let text = line[line.index(after: close)...].drop { $0 == " " }
            timed.append((time, .console(String(text), HostTime(seconds: time))))
        }
        let transcript = try String(contentsOf: directory.appendingPathComponent("transcript.jsonl"), encoding: .utf8)
        for line in transcript.split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            guard record["from"] as? String == "agent", let time = record["t"] as? Double, let text = record["line"] as? String else { continue }
            let message = try ProtocolLine.decode(AgentMessage.self, from: text)
            timed.append((time, .agent(message, HostTime(seconds: time))))
        }
        events = timed.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
    }

    public static func time(of event: VMEvent) -> HostTime {
        switch event {
        case .agent(_, let time), .malformed(_, let time), .console(_, let time), .agentChannelClosed(let time), .exited(_, let time): time
        }
    }

    /// The run up to and including the first event that matches.
    public func cut(after matches: (VMEvent) -> Bool) -> RecordedRun {
        guard let index = events.firstIndex(where: matches) else { return self }
        return RecordedRun(events: Array(events[...index]))
    }

    /// The run up to just before the first event that matches.
    public func cut(before matches: (VMEvent) -> Bool) -> RecordedRun {
        guard let index = events.firstIndex(where: matches) else { return self }
        return RecordedRun(events: Array(events[..<index]))
    }

    /// Events added after the last one, 10 ms apart.
    public func then(_ more: [(HostTime) -> VMEvent]) -> RecordedRun {
        var last = events.last.map(Self.time)?.seconds ?? 0
        var copy = self
        for make in more {
            last += 0.01
            copy.events.append(make(HostTime(seconds: last)))
        }
        return copy
    }

    /// Every agent message rewritten by `transform` (return it unchanged to keep it).
    public func mapAgent(_ transform: (AgentMessage) -> AgentMessage) -> RecordedRun {
        RecordedRun(events: events.map { event in
            if case .agent(let message, let time) = event { return .agent(transform(message), time) }
            return event
        })
    }
}

extension VMEvent {
    /// The agent's message, when this event is one.
    public var agentMessage: AgentMessage? {
        if case .agent(let message, _) = self { return message }
        return nil
    }
}
