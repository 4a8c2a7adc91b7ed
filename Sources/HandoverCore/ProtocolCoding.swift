/// Every protocol line is an envelope `{"v": version, "type": name, "body": {...}}`.
struct Envelope {
    let type: String
    /// Absent in a line that carries none; messages without content (quiesce, done) need none.
    let body: JSON?

    init(type: String, body: JSON = .object([])) {
        self.type = type
        self.body = body
    }

    var json: JSON {
        .object([("v", HandoverVersion.protocolVersion.json), ("type", .string(type)), ("body", body ?? .object([]))])
    }

    init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        let version: Int = try o.required("v")
        guard version == HandoverVersion.protocolVersion else {
            throw JSONError("protocol version \(version), this side speaks \(HandoverVersion.protocolVersion)")
        }
        type = try o.required("type")
        body = o.value("body")
    }

    func requiredBody() throws(JSONError) -> JSON {
        guard let body else { throw JSONError("missing key 'body'") }
        return body
    }

    func decode<T: JSONConvertible>() throws(JSONError) -> T {
        let body = try requiredBody()
        do { return try T(json: body) } catch { throw error.inside("body") }
    }

    func field<T: JSONConvertible>(_ key: String) throws(JSONError) -> T {
        let body = try requiredBody()
        do { return try JSONObject(body).required(key) } catch { throw error.inside("body") }
    }

    func optionalField<T: JSONConvertible>(_ key: String) throws(JSONError) -> T? {
        let body = try requiredBody()
        do { return try JSONObject(body).optional(key) } catch { throw error.inside("body") }
    }
}

extension AgentMessage: JSONConvertible {
    public var type: String {
        switch self {
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

    public var json: JSON {
        let body: JSON = switch self {
        case .hello(let hello): hello.json
        case .step(let step): step.json
        case .fingerprints(let stage, let objects): .build { $0.add("stage", stage); $0.add("objects", objects) }
        case .done: .object([])
        case .quiesce(let counter): .build { $0.add("counter", counter) }
        case .resumed(let retrieved, let microseconds, let clock, let counter):
            .build { $0.add("retrieved", retrieved); $0.add("microseconds", microseconds); $0.add("clock", clock); $0.add("counter", counter) }
        case .located(let differences): differences.json
        case .checks(let checks): checks.json
        case .unsupported(let reason, let errno): .build { $0.add("reason", reason); $0.add("errno", errno) }
        case .failed(let step, let message, let errno):
            .build { $0.add("step", step); $0.add("message", message); $0.add("errno", errno) }
        case .log(let text): .build { $0.add("text", text) }
        case .execResult(let result): result.json
        case .vcpuStopped(let sample), .vcpuRunning(let sample): sample.json
        case .vm(let report): report.json
        }
        return Envelope(type: type, body: body).json
    }

    public init(json: JSON) throws(JSONError) {
        let envelope = try Envelope(json: json)
        switch envelope.type {
        case "hello": self = .hello(try envelope.decode())
        case "step": self = .step(try envelope.decode())
        case "fingerprints": self = .fingerprints(stage: try envelope.field("stage"), try envelope.field("objects"))
        case "quiesce": self = .quiesce(counter: envelope.body == nil ? nil : try envelope.optionalField("counter"))
        case "done": self = .done
        case "resumed":
            self = .resumed(retrieved: try envelope.field("retrieved"), microseconds: try envelope.field("microseconds"),
                            clock: try envelope.field("clock"), counter: try envelope.optionalField("counter"))
        case "located": self = .located(try envelope.decode())
        case "checks": self = .checks(try envelope.decode())
        case "unsupported": self = .unsupported(reason: try envelope.field("reason"), errno: try envelope.optionalField("errno"))
        case "failed":
            self = .failed(step: try envelope.field("step"), message: try envelope.field("message"),
                           errno: try envelope.optionalField("errno"))
        case "log": self = .log(try envelope.field("text"))
        case "exec-result": self = .execResult(try envelope.decode())
        case "vcpu-stopped": self = .vcpuStopped(try envelope.decode())
        case "vcpu-running": self = .vcpuRunning(try envelope.decode())
        case "vm": self = .vm(try envelope.decode())
        default: throw JSONError("unknown agent message type '\(envelope.type)'", path: ["type"])
        }
    }
}

extension RunnerCommand: JSONConvertible {
    public var type: String {
        switch self {
        case .start: "start"
        case .verify: "verify"
        case .powerOff: "power-off"
        case .exec: "exec"
        case .kexecNext: "kexec-next"
        }
    }

    public var json: JSON {
        let body: JSON = switch self {
        case .start, .powerOff, .kexecNext: .object([])
        case .verify(let fingerprints): fingerprints.json
        case .exec(let request): request.json
        }
        return Envelope(type: type, body: body).json
    }

    public init(json: JSON) throws(JSONError) {
        let envelope = try Envelope(json: json)
        switch envelope.type {
        case "start": self = .start
        case "power-off": self = .powerOff
        case "verify": self = .verify(try envelope.decode())
        case "exec": self = .exec(try envelope.decode())
        case "kexec-next": self = .kexecNext
        default: throw JSONError("unknown runner command '\(envelope.type)'", path: ["type"])
        }
    }
}

/// Encodes and decodes single protocol lines. Decoding never traps: anything that is not a
/// well-formed message of this protocol version becomes a `ProtocolError` carrying the line.
public enum ProtocolLine {
    public static func encode<T: JSONConvertible>(_ value: T) -> String {
        value.json.text
    }

    public static func decode<T: JSONConvertible>(_ type: T.Type, from line: String) throws(ProtocolError) -> T {
        let trimmed = line.trimmed
        guard !trimmed.isEmpty else { throw ProtocolError(line: line, reason: "empty line") }
        do {
            return try T(json: JSON(parsing: trimmed))
        } catch {
            throw ProtocolError(line: line, reason: error.description)
        }
    }
}

extension String {
    /// Without leading and trailing ASCII white space (FoundationEssentials has no trimming).
    public var trimmed: String {
        // "\r\n" is one Character (a grapheme cluster), so it must be named on its own.
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
