import Foundation
import Testing

@testable import HandoverCore

// MARK: - Samples

private let sampleHello = Hello(
    agentVersion: "0.1.0", protocolVersion: 1, stage: 2, kernelRelease: "7.3.0-handover",
    bootID: "3f1c2a9e-7d44-4c1b-9a0e-5b6d8e2f1a77",
    cmdline: "console=ttyS0 kho=on liveupdate=on panic=-1 SWIFT_ROOT=/ handover.stage=2",
    liveUpdateDevice: true, liveUpdateNumber: 1, previousRelease: "7.2.0-handover", kexecCount: 1,
    uptimeAtStart: 1.234567, liveUpdateLog: ["luo: Retrieved live update data, liveupdate number: 1", "KHO: exec from: 7.2.0 (count 1)"],
    bootMarks: [.runInit: 812_345, .firstRecord: 0])

private let sampleHelloSparse = Hello(
    agentVersion: "0.1.0", protocolVersion: 1, stage: 1, kernelRelease: "7.2.0", bootID: "b",
    cmdline: "", liveUpdateDevice: false, liveUpdateNumber: nil, previousRelease: nil, kexecCount: nil,
    uptimeAtStart: 0, liveUpdateLog: [], bootMarks: [:])

private let sampleFingerprints = [
    ObjectFingerprint(object: "guest-ram-small", session: "vm-basic", token: 1, size: 65_536, position: 0,
                      seals: 0, statusFlags: 0x8002, cloexec: false, chunkSize: 1 << 20,
                      chunks: ["0123456789abcdef0123456789abcdef"]),
    ObjectFingerprint(object: "sealed \"quoted\" / slash", session: "vm-properties", token: UInt64(Int64.max), size: 3 << 20,
                      position: 123_457, seals: Seal.mask([.shrink, .grow, .write]), statusFlags: -1, cloexec: true,
                      chunkSize: 1 << 20, chunks: ["aa", "bb", "cc"]),
    ObjectFingerprint(object: "empty", session: "s", token: 0, size: 0, position: 0, seals: 0, statusFlags: 2,
                      cloexec: false, chunkSize: 4096, chunks: []),
]

private let allAgentMessages: [AgentMessage] = [
    .hello(sampleHello),
    .hello(sampleHelloSparse),
    .step(StepReport(stage: 1, step: .create, ok: true, detail: "4 memfds", microseconds: 1234)),
    .step(StepReport(stage: 2, step: .setup(.mapMemfd), ok: false, detail: "LIVEUPDATE_SESSION_RETRIEVE_FD failed", errno: 2,
                     errnoName: "ENOENT", microseconds: nil)),
    .fingerprints(stage: 1, sampleFingerprints),
    .fingerprints(stage: 1, []),
    .quiesce(counter: nil),
    .quiesce(counter: CounterReading(ticks: 9_876_543_210_123, hertz: nil, monotonicMicros: 4_321_000)),
    .quiesce(counter: CounterReading(ticks: UInt64.max - 1, hertz: 62_500_000, monotonicMicros: 1)),
    .resumed(retrieved: 400, microseconds: 15_321, clock: 2_000_001),
    .resumed(retrieved: 4, microseconds: 15, clock: 2_000_001, counter: CounterReading(ticks: 9_879_000_000_000, hertz: nil, monotonicMicros: 2_000_001)),
    .located([LocatedDifference(object: "guest-ram-large", chunk: 3, offset: 3_145_828, expected: 0x00, found: 0xff, differingBytes: 1)]),
    .located([]),
    .checks([CheckResult(.finishSession("vm-basic"), passed: true, expected: "shrink|grow|write", observed: "shrink|grow|write"),
             CheckResult(.mappedMemfdSizeFrozen("guest-ram"), passed: false, expected: "false", observed: "true")]),
    .unsupported(reason: "no /dev/liveupdate", errno: nil),
    .unsupported(reason: "ioctl refused", errno: 25),
    .failed(step: .preserve, message: "LIVEUPDATE_SESSION_PRESERVE_FD: Operation not permitted", errno: 1),
    .failed(step: .kexecLoad, message: "no errno", errno: nil),
    .failed(step: .setup(.vmRun), message: "first exit was KVM_EXIT_SHUTDOWN", errno: nil),
    .failed(step: .vmResume, message: "KVM_CREATE_VCPU: ENOMEM", errno: 12),
    .log("plain text"),
    .log("multi\nline\twith \"quotes\", unicode é✓ and a slash /dev/kmsg"),
    .done,
    .execResult(ExecResult(path: "/handover/selftests/liveupdate", arguments: [], exitCode: 0, signal: nil, timedOut: false,
                           output: ["KTAP version 1", "ok 1 open"], microseconds: 42, error: nil)),
    .vcpuStopped(GuestSample(stage: 1, counter: 1_048_576, exits: 1024, clock: 2_300_000)),
    .vcpuRunning(GuestSample(stage: 2, counter: 1_049_600, exits: 1, clock: 1_900_000)),
    .vm(VMStageReport(stage: 1, backing: .memfd, ramBytes: 32 << 20, counterStart: 0, counterEnd: 1_048_576, exits: 1024, runMicros: 300_000,
                      nested: "kvm_amd nested=1")),
    .vm(VMStageReport(stage: 2, backing: .guestMemfd, ramBytes: 32 << 20, counterStart: 1_048_576, counterEnd: 2_000_000, exits: 930,
                      runMicros: 301_000, rebuildMicros: 5_000,
                      restored: GuestRestore(snapshotCounter: 1_048_576, registers: GuestRegisters(values: (0..<18).map { UInt64.max - UInt64($0) }),
                                             counterInMemory: 1_048_576),
                      ram: GuestRAMDigest(bytes: 32 << 20, counter: 2_000_000, chunkSize: 1 << 20, chunks: ["ab", "cd"],
                                          firstDifference: GuestRAMDifference(address: 0x20010, expected: 0x12, found: 0xed, differingBytes: 1)))),
    .vm(VMStageReport(stage: 1, backing: .memfd, ramBytes: 32 << 20, counterStart: 0, counterEnd: 1_024, exits: 1, runMicros: 1,
                      pausedRegisters: GuestRegisters(values: Array(repeating: 7, count: 18)))),
]

private let allRunnerCommands: [RunnerCommand] = [
    .start,
    .verify(sampleFingerprints),
    .verify([]),
    .powerOff,
    .exec(ExecRequest(path: "/handover/selftests/luo_kexec_simple", arguments: ["-s", "1"], timeoutSeconds: 60)),
    .kexecNext,
]

/// The expected "type" of each message, spelled out so a renamed type is caught.
private func expectedType(_ message: AgentMessage) -> String {
    switch message {
    case .hello: "hello"
    case .step: "step"
    case .fingerprints: "fingerprints"
    case .quiesce: "quiesce"
    case .resumed: "resumed"
    case .located: "located"
    case .checks: "checks"
    case .unsupported: "unsupported"
    case .failed: "failed"
    case .log: "log"
    case .done: "done"
    case .execResult: "exec-result"
    case .vcpuStopped: "vcpu-stopped"
    case .vcpuRunning: "vcpu-running"
    case .vm: "vm"
    }
}

private func expectedType(_ command: RunnerCommand) -> String {
    switch command {
    case .start: "start"
    case .verify: "verify"
    case .powerOff: "power-off"
    case .exec: "exec"
    case .kexecNext: "kexec-next"
    }
}

/// The top-level JSON object of a line, read independently of the protocol's own decoder.
private func envelope(_ line: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(object as? [String: Any])
}

/// The error decoding `line` throws, or nil when it decodes.
private func decodeError<T: JSONConvertible>(_ type: T.Type, _ line: String) -> ProtocolError? {
    do {
        _ = try ProtocolLine.decode(type, from: line)
        return nil
    } catch {
        return error
    }
}

/// A small deterministic PRNG (SplitMix64), so every failure reproduces.
private struct ProtocolTestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

// MARK: - Round trips

@Suite struct ProtocolTests {
    @Test(arguments: allAgentMessages)
    func agentMessageRoundTrips(_ message: AgentMessage) throws {
        let line = ProtocolLine.encode(message)
        let decoded = try ProtocolLine.decode(AgentMessage.self, from: line)
        #expect(decoded == message)
        // Encoding is deterministic (sorted keys), so a second trip gives the same bytes.
        #expect(ProtocolLine.encode(decoded) == line)
    }

    @Test(arguments: allRunnerCommands)
    func runnerCommandRoundTrips(_ command: RunnerCommand) throws {
        let line = ProtocolLine.encode(command)
        let decoded = try ProtocolLine.decode(RunnerCommand.self, from: line)
        #expect(decoded == command)
        #expect(ProtocolLine.encode(decoded) == line)
    }

    @Test(arguments: allAgentMessages)
    func agentMessageEnvelope(_ message: AgentMessage) throws {
        let line = ProtocolLine.encode(message)
        #expect(!line.contains("\n"), "a JSON-lines message must be one line: \(line)")
        let object = try envelope(line)
        #expect(object["v"] as? Int == HandoverVersion.protocolVersion)
        #expect(object["v"] as? Int == HandoverVersion.protocolVersion)
        #expect(object["type"] as? String == expectedType(message))
        #expect(message.type == expectedType(message))
        #expect(object["body"] != nil, "every envelope carries a body: \(line)")
        #expect(Set(object.keys) == ["v", "type", "body"])
    }

    @Test(arguments: allRunnerCommands)
    func runnerCommandEnvelope(_ command: RunnerCommand) throws {
        let line = ProtocolLine.encode(command)
        #expect(!line.contains("\n"))
        let object = try envelope(line)
        #expect(object["v"] as? Int == HandoverVersion.protocolVersion)
        #expect(object["type"] as? String == expectedType(command))
        #expect(command.type == expectedType(command))
        #expect(Set(object.keys) == ["v", "type", "body"])
    }

    @Test func everyAgentMessageTypeIsSampled() {
        let sampled = Set(allAgentMessages.map(\.type))
        #expect(sampled == ["hello", "step", "fingerprints", "quiesce", "resumed", "located", "checks",
                            "unsupported", "failed", "log", "done", "exec-result", "vcpu-stopped", "vcpu-running", "vm"])
        #expect(Set(allRunnerCommands.map(\.type)) == ["start", "verify", "power-off", "exec", "kexec-next"])
    }

    @Test func bodyShapesAreTheDocumentedOnes() throws {
        let resumed = try envelope(ProtocolLine.encode(AgentMessage.resumed(retrieved: 4, microseconds: 5, clock: 6)))
        let body = try #require(resumed["body"] as? [String: Any])
        #expect(body["retrieved"] as? Int == 4)
        #expect(body["microseconds"] as? Int == 5)
        #expect(body["clock"] as? Int == 6)

        let log = try envelope(ProtocolLine.encode(AgentMessage.log("hi")))
        #expect((log["body"] as? [String: Any])?["text"] as? String == "hi")

        let verify = try envelope(ProtocolLine.encode(RunnerCommand.verify(sampleFingerprints)))
        #expect((verify["body"] as? [Any])?.count == sampleFingerprints.count)

        let done = try envelope(ProtocolLine.encode(AgentMessage.done))
        #expect((done["body"] as? [String: Any])?.isEmpty == true)
    }

    @Test func surroundingWhiteSpaceIsIgnored() throws {
        let line = ProtocolLine.encode(AgentMessage.resumed(retrieved: 1, microseconds: 2, clock: 3))
        #expect(try ProtocolLine.decode(AgentMessage.self, from: "  \t" + line + "\r\n") == .resumed(retrieved: 1, microseconds: 2, clock: 3))
    }

    @Test func trimmingHandlesCRLF() {
        #expect("  abc \r\n".trimmed == "abc")
        #expect("value\r\n".trimmed == "value")
        #expect("\r\n\tx y\n".trimmed == "x y")
        #expect("\r\n".trimmed == "")
        #expect(" a\u{00A0}".trimmed == "a\u{00A0}") // only ASCII white space is trimmed
    }

    @Test func agentMessagesAndRunnerCommandsDoNotMix() throws {
        let start = ProtocolLine.encode(RunnerCommand.start)
        let error = try #require(decodeError(AgentMessage.self, start))
        #expect(error.line == start)
        #expect(error.reason.contains("unknown agent message type 'start'"))

        let hello = ProtocolLine.encode(AgentMessage.hello(sampleHello))
        let other = try #require(decodeError(RunnerCommand.self, hello))
        #expect(other.line == hello)
        #expect(other.reason.contains("unknown runner command 'hello'"))
    }

    // MARK: - Malformed lines

    @Test func emptyLines() throws {
        for line in ["", "   ", "\r\n", "\t \n"] {
            let error = try #require(decodeError(AgentMessage.self, line))
            #expect(error.line == line)
            #expect(error.reason == "empty line")
            let command = try #require(decodeError(RunnerCommand.self, line))
            #expect(command.reason == "empty line")
        }
    }

    @Test(arguments: [
        "not json",
        "{",
        "}",
        "{\"v\":1,",
        "nul",
        "{'v':1,'type':'done','body':{}}",
        "{\"v\":1 \"type\":\"done\"}",
        "\u{0}\u{1}\u{2}",
        "{\"v\":1,\"type\":\"done\",\"body\":{}} trailing",
    ])
    func notJSON(_ line: String) throws {
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(!error.reason.isEmpty)
        #expect(error.description.contains("malformed protocol line"))
        #expect(decodeError(RunnerCommand.self, line) != nil)
    }

    @Test func emptyObjectNamesTheMissingVersion() throws {
        let error = try #require(decodeError(AgentMessage.self, "{}"))
        #expect(error.line == "{}")
        #expect(error.reason.contains("missing key 'v'"))
        #expect(try #require(decodeError(RunnerCommand.self, "{}")).reason.contains("missing key 'v'"))
    }

    @Test func wrongVersion() throws {
        let line = #"{"v":99,"type":"hello","body":{}}"#
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(error.reason.contains("protocol version 99"))
        #expect(error.reason.contains("speaks \(HandoverVersion.protocolVersion)"))

        // A valid message of another version is refused too, for both directions.
        let current = "\"v\":\(HandoverVersion.protocolVersion)"
        let future = ProtocolLine.encode(AgentMessage.done).replacingOccurrences(of: current, with: "\"v\":\(HandoverVersion.protocolVersion + 1)")
        #expect(future.contains("\"v\":\(HandoverVersion.protocolVersion + 1)"))
        #expect(try #require(decodeError(AgentMessage.self, future)).reason.contains("protocol version \(HandoverVersion.protocolVersion + 1)"))
        let command = ProtocolLine.encode(RunnerCommand.start).replacingOccurrences(of: current, with: "\"v\":0")
        #expect(try #require(decodeError(RunnerCommand.self, command)).reason.contains("protocol version 0"))

        for version in [#""1""#, "1.5", "null", "[1]", "-1", "99999999999999999999999"] {
            let bad = #"{"v":\#(version),"type":"done","body":{}}"#
            let error = try #require(decodeError(AgentMessage.self, bad), "version \(version)")
            #expect(error.line == bad)
        }
    }

    @Test func unknownType() throws {
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"reboot-now","body":{}}"#
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(error.reason.contains("unknown agent message type 'reboot-now'"))
        let command = try #require(decodeError(RunnerCommand.self, line))
        #expect(command.reason.contains("unknown runner command 'reboot-now'"))

        for type in ["", "HELLO", "powerOff", "power_off"] {
            #expect(decodeError(AgentMessage.self, #"{"v":\#(HandoverVersion.protocolVersion),"type":"\#(type)","body":{}}"#) != nil, "type '\(type)'")
            #expect(decodeError(RunnerCommand.self, #"{"v":\#(HandoverVersion.protocolVersion),"type":"\#(type)","body":{}}"#) != nil, "type '\(type)'")
        }
        let missingType = #"{"v":\#(HandoverVersion.protocolVersion),"body":{}}"#
        #expect(try #require(decodeError(AgentMessage.self, missingType)).reason.contains("missing key 'type'"))
        let numericType = #"{"v":\#(HandoverVersion.protocolVersion),"type":7,"body":{}}"#
        #expect(try #require(decodeError(AgentMessage.self, numericType)).reason.contains("expected"))
    }

    @Test(arguments: ["hello", "step", "fingerprints", "resumed", "located", "checks", "unsupported", "failed", "log"])
    func missingBody(_ type: String) throws {
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"\#(type)"}"#
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(error.reason.contains("missing key 'body'"), "\(error.reason)")
    }

    @Test func missingBodyOfVerify() throws {
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"verify"}"#
        let error = try #require(decodeError(RunnerCommand.self, line))
        #expect(error.line == line)
        #expect(error.reason.contains("missing key 'body'"))
    }

    @Test(arguments: [
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"hello","body":[]}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"hello","body":"hello"}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"hello","body":{"agentVersion":"x"}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"step","body":{"stage":"one","step":"s","ok":true,"detail":""}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"step","body":{"stage":1,"step":"s","ok":true,"detail":"","errno":4294967296}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"resumed","body":{"retrieved":"x","microseconds":1,"clock":2}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"resumed","body":{"retrieved":1.5,"microseconds":1,"clock":2}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"resumed","body":{"retrieved":1,"microseconds":1}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"fingerprints","body":[]}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"fingerprints","body":{"stage":1,"objects":{}}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"located","body":{}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"located","body":[{"object":"a","chunk":0,"offset":0,"expected":256,"found":0,"differingBytes":1}]}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"checks","body":[1,2]}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"unsupported","body":{"errno":1}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"failed","body":{"step":"s","message":null}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"log","body":"text"}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"log","body":{"text":["a"]}}"#,
        #"{"v":\#(HandoverVersion.protocolVersion),"type":"hello","body":null}"#,
    ])
    func bodyOfTheWrongShape(_ line: String) throws {
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(!error.reason.isEmpty)
    }

    @Test func verifyBodyOfTheWrongShape() throws {
        for line in [#"{"v":\#(HandoverVersion.protocolVersion),"type":"verify","body":{}}"#, #"{"v":\#(HandoverVersion.protocolVersion),"type":"verify","body":[{"object":"a"}]}"#,
                     #"{"v":\#(HandoverVersion.protocolVersion),"type":"verify","body":[null]}"#] {
            let error = try #require(decodeError(RunnerCommand.self, line))
            #expect(error.line == line)
        }
    }

    @Test func wrongShapeReasonNamesWhere() throws {
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"resumed","body":{"retrieved":"x","microseconds":1,"clock":2}}"#
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.reason.contains("body"), "\(error.reason)")
        #expect(error.reason.contains("retrieved"), "\(error.reason)")
    }

    @Test func everyProperPrefixOfAHelloIsRefused() throws {
        let line = ProtocolLine.encode(AgentMessage.hello(sampleHello))
        #expect(try ProtocolLine.decode(AgentMessage.self, from: line) == .hello(sampleHello))
        let characters = Array(line)
        #expect(characters.count > 100)
        var refused = 0
        for length in 0..<characters.count {
            let prefix = String(characters[0..<length])
            if let error = decodeError(AgentMessage.self, prefix) {
                #expect(error.line == prefix)
                #expect(!error.reason.isEmpty)
                refused += 1
            } else {
                Issue.record("a truncated line of \(length) of \(characters.count) characters decoded: \(prefix)")
            }
        }
        #expect(refused == characters.count)
    }

    @Test(arguments: ["[]", "[1,2,3]", #"[{"v":\#(HandoverVersion.protocolVersion),"type":"done","body":{}}]"#, "42", "-1.5e300", "1e999", "null",
                      "true", "false", #""done""#, #"{"v":\#(HandoverVersion.protocolVersion),"type":"done","body":{}}{"v":\#(HandoverVersion.protocolVersion),"type":"done","body":{}}"#])
    func notAnObject(_ line: String) throws {
        let error = try #require(decodeError(AgentMessage.self, line))
        #expect(error.line == line)
        #expect(decodeError(RunnerCommand.self, line) != nil)
    }

    @Test func deeplyNestedJunk() throws {
        let depth = 20_000
        let lines = [
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth),
            String(repeating: "[", count: depth),
            String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth),
            #"{"v":\#(HandoverVersion.protocolVersion),"type":"hello","body":"# + String(repeating: #"{"x":["#, count: 5000) + String(repeating: "]}", count: 5000) + "}",
        ]
        for (index, line) in lines.enumerated() {
            let error = try #require(decodeError(AgentMessage.self, line), "nested line \(index)")
            #expect(error.line == line)
            #expect(decodeError(RunnerCommand.self, line) != nil)
        }
    }

    @Test func unknownKeysInsideABodyAreIgnoredAtASaneDepth() throws {
        let junk = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"log","body":{"text":"ok","junk":"# + junk + "}}"
        #expect(try ProtocolLine.decode(AgentMessage.self, from: line) == .log("ok"))
    }

    @Test func errorDescriptionShortensLongLines() {
        let long = String(repeating: "x", count: 1000)
        let error = ProtocolError(line: long, reason: "r")
        #expect(error.description.count < 400)
        #expect(error.description.hasSuffix("..."))
        #expect(error.description.contains("(r)"))
        #expect(ProtocolError(line: "short", reason: "why").description == "malformed protocol line (why): short")
    }

    // MARK: - Mutation fuzzing

    @Test func randomMutationsNeverTrap() throws {
        let seeds: [String] = allAgentMessages.map { ProtocolLine.encode($0) } + allRunnerCommands.map { ProtocolLine.encode($0) }
        let alphabet: [Character] = Array("{}[]\":,.-+0123456789eEtrufalsnv \\/\t\n\u{0}é✓\u{FFFD}") + ["\u{1F600}"]
        var rng = ProtocolTestRNG(seed: 0x5EED_0F_C0FFEE)
        var decoded = 0
        var refused = 0
        let iterations = 4000
        for iteration in 0..<iterations {
            var characters = Array(seeds[rng.below(seeds.count)])
            let edits = 1 + rng.below(4)
            for _ in 0..<edits {
                switch rng.below(4) {
                case 0 where !characters.isEmpty: // flip: replace one character
                    characters[rng.below(characters.count)] = alphabet[rng.below(alphabet.count)]
                case 1 where !characters.isEmpty: // delete a run of up to 3
                    let start = rng.below(characters.count)
                    let end = min(characters.count, start + 1 + rng.below(3))
                    characters.removeSubrange(start..<end)
                case 2: // insert
                    characters.insert(alphabet[rng.below(alphabet.count)], at: rng.below(characters.count + 1))
                default: // swap two characters
                    if characters.count > 1 { characters.swapAt(rng.below(characters.count), rng.below(characters.count)) }
                }
            }
            let line = String(characters)
            let asAgent = Result { () throws(ProtocolError) in try ProtocolLine.decode(AgentMessage.self, from: line) }
            switch asAgent {
            case .success(let message):
                decoded += 1
                // Whatever decodes must survive another trip unchanged.
                let again = try ProtocolLine.decode(AgentMessage.self, from: ProtocolLine.encode(message))
                #expect(again == message, "iteration \(iteration): \(line)")
            case .failure(let error):
                refused += 1
                #expect(error.line == line, "iteration \(iteration)")
                #expect(!error.reason.isEmpty, "iteration \(iteration): \(line)")
            }
            let asCommand = Result { () throws(ProtocolError) in try ProtocolLine.decode(RunnerCommand.self, from: line) }
            if case .failure(let error) = asCommand { #expect(error.line == line) }
        }
        #expect(decoded + refused == iterations)
        // The mutator must exercise both paths, or the loop proves nothing.
        #expect(decoded > 0, "no mutated line decoded")
        #expect(refused > iterations / 2, "only \(refused) of \(iterations) mutated lines were refused")
    }

    @Test func randomByteMutationsNeverTrap() {
        let line = Array(ProtocolLine.encode(AgentMessage.hello(sampleHello)).utf8)
        var rng = ProtocolTestRNG(seed: 42)
        var refused = 0
        for _ in 0..<2000 {
            var bytes = line
            for _ in 0..<(1 + rng.below(3)) {
                let index = rng.below(bytes.count)
                switch rng.below(3) {
                case 0: bytes[index] ^= UInt8(truncatingIfNeeded: 1 << rng.below(8))
                case 1: bytes.remove(at: index)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: index)
                }
            }
            // Invalid UTF-8 is repaired to U+FFFD by String(decoding:), as the port reader does.
            let text = String(decoding: bytes, as: UTF8.self)
            if let error = decodeError(AgentMessage.self, text) {
                refused += 1
                #expect(error.line == text)
            }
        }
        #expect(refused > 0)
    }
}

@Suite("Failure points")
struct FailurePointTests {
    @Test func everyPointHasItsOwnWireNameAndReadsBack() {
        let names = FailurePoint.allCases.map(\.wireName)
        #expect(Set(names).count == names.count)
        for point in FailurePoint.allCases { #expect(FailurePoint(wireName: point.wireName) == point) }
        #expect(FailurePoint(wireName: "setup:ioas-alloc") == .setup(.allocIOAS))
        #expect(FailurePoint(wireName: "setup:nonsense") == nil)
        #expect(FailurePoint(wireName: "restore") == nil)
    }

    @Test func anUnknownFailurePointIsAProtocolError() throws {
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"failed","body":{"step":"reticulate","message":"m"}}"#
        #expect(throws: ProtocolError.self) { try ProtocolLine.decode(AgentMessage.self, from: line) }
    }
}

@Suite("Agent-runner contract")
struct ContractTests {
    @Test("every agent step, check and failure point reads back from its wire name")
    func wireNamesRoundTrip() {
        for step in AgentStep.allCases { #expect(AgentStep(wireName: step.wireName) == step) }
        let checks: [Check] = Check.plain + [.finishSession("memfds"), .mappedMemfdSizeFrozen("guest-ram-0")]
        for check in checks { #expect(Check(wireName: check.wireName) == check) }
        for point in FailurePoint.allCases { #expect(FailurePoint(wireName: point.wireName) == point) }
        #expect(Set(AgentStep.allCases.map(\.wireName)).count == AgentStep.allCases.count)
        #expect(Set(checks.map(\.wireName)).count == checks.count)
    }

    @Test("names the agent never sends are refused, not guessed")
    func unknownNamesAreRefused() throws {
        #expect(AgentStep(wireName: "retrieve") == nil)
        #expect(Check(wireName: "seals-kept") == nil)
        #expect(Check(wireName: "finish-") == nil)
        let line = #"{"v":\#(HandoverVersion.protocolVersion),"type":"step","body":{"stage":1,"step":"teleport","ok":true,"detail":""}}"#
        #expect(throws: ProtocolError.self) { try ProtocolLine.decode(AgentMessage.self, from: line) }
    }

    @Test("boot marks the runner does not know are dropped from a hello, the known ones kept")
    func unknownBootMarksAreDropped() throws {
        guard case .object(var fields) = sampleHello.json, let index = fields.firstIndex(where: { $0.0 == "bootMarks" }),
              case .object(let marks) = fields[index].1 else { Issue.record("a hello's JSON has bootMarks"); return }
        fields[index].1 = .object(marks + [("agent", .number("5"))])
        let hello = try Hello(json: .object(fields))
        #expect(hello.bootMarks == sampleHello.bootMarks)
    }
}
