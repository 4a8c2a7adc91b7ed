// libFuzzer target: the protocol decoder (built with HandoverCore's sources by fuzz.sh).
// Any input must decode or throw ProtocolError, never trap; what decodes must survive an
// encode/decode round trip unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let line = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    if let message = try? ProtocolLine.decode(AgentMessage.self, from: line) {
        let again = try? ProtocolLine.decode(AgentMessage.self, from: ProtocolLine.encode(message))
        precondition(again == message, "agent message round trip changed: \(line)")
    }
    if let command = try? ProtocolLine.decode(RunnerCommand.self, from: line) {
        let again = try? ProtocolLine.decode(RunnerCommand.self, from: ProtocolLine.encode(command))
        precondition(again == command, "runner command round trip changed: \(line)")
    }
    _ = try? ProtocolLine.decode(AgentPlan.self, from: line)
    return 0
}
