#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

private enum EnvelopeKey: String, CodingKey { case v, type, body }

private struct Empty: Codable {}
private struct ResumedBody: Codable { var retrieved: Int; var microseconds: Int; var clock: Int }
private struct FingerprintsBody: Codable { var stage: Int; var objects: [ObjectFingerprint] }
private struct UnsupportedBody: Codable { var reason: String; var errno: Int32? }
private struct FailedBody: Codable { var step: FailurePoint; var message: String; var errno: Int32? }
private struct TextBody: Codable { var text: String }

extension AgentMessage: Codable {
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

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKey.self)
        try container.encode(HandoverVersion.protocolVersion, forKey: .v)
        try container.encode(type, forKey: .type)
        switch self {
        case .hello(let hello): try container.encode(hello, forKey: .body)
        case .step(let step): try container.encode(step, forKey: .body)
        case .fingerprints(let stage, let objects): try container.encode(FingerprintsBody(stage: stage, objects: objects), forKey: .body)
        case .quiesce, .done: try container.encode(Empty(), forKey: .body)
        case .resumed(let retrieved, let microseconds, let clock):
            try container.encode(ResumedBody(retrieved: retrieved, microseconds: microseconds, clock: clock), forKey: .body)
        case .located(let differences): try container.encode(differences, forKey: .body)
        case .checks(let checks): try container.encode(checks, forKey: .body)
        case .unsupported(let reason, let errno): try container.encode(UnsupportedBody(reason: reason, errno: errno), forKey: .body)
        case .failed(let step, let message, let errno): try container.encode(FailedBody(step: step, message: message, errno: errno), forKey: .body)
        case .log(let text): try container.encode(TextBody(text: text), forKey: .body)
        case .execResult(let result): try container.encode(result, forKey: .body)
        case .vcpuStopped(let sample), .vcpuRunning(let sample): try container.encode(sample, forKey: .body)
        case .vm(let report): try container.encode(report, forKey: .body)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeKey.self)
        try checkVersion(container)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try container.decode(Hello.self, forKey: .body))
        case "step": self = .step(try container.decode(StepReport.self, forKey: .body))
        case "fingerprints":
            let body = try container.decode(FingerprintsBody.self, forKey: .body)
            self = .fingerprints(stage: body.stage, body.objects)
        case "quiesce": self = .quiesce
        case "done": self = .done
        case "resumed":
            let body = try container.decode(ResumedBody.self, forKey: .body)
            self = .resumed(retrieved: body.retrieved, microseconds: body.microseconds, clock: body.clock)
        case "located": self = .located(try container.decode([LocatedDifference].self, forKey: .body))
        case "checks": self = .checks(try container.decode([CheckResult].self, forKey: .body))
        case "unsupported":
            let body = try container.decode(UnsupportedBody.self, forKey: .body)
            self = .unsupported(reason: body.reason, errno: body.errno)
        case "failed":
            let body = try container.decode(FailedBody.self, forKey: .body)
            self = .failed(step: body.step, message: body.message, errno: body.errno)
        case "log": self = .log(try container.decode(TextBody.self, forKey: .body).text)
        case "exec-result": self = .execResult(try container.decode(ExecResult.self, forKey: .body))
        case "vcpu-stopped": self = .vcpuStopped(try container.decode(GuestSample.self, forKey: .body))
        case "vcpu-running": self = .vcpuRunning(try container.decode(GuestSample.self, forKey: .body))
        case "vm": self = .vm(try container.decode(VMStageReport.self, forKey: .body))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown agent message type '\(type)'")
        }
    }
}

extension RunnerCommand: Codable {
    public var type: String {
        switch self {
        case .start: "start"
        case .verify: "verify"
        case .powerOff: "power-off"
        case .exec: "exec"
        case .kexecNext: "kexec-next"
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKey.self)
        try container.encode(HandoverVersion.protocolVersion, forKey: .v)
        try container.encode(type, forKey: .type)
        switch self {
        case .start, .powerOff, .kexecNext: try container.encode(Empty(), forKey: .body)
        case .verify(let fingerprints): try container.encode(fingerprints, forKey: .body)
        case .exec(let request): try container.encode(request, forKey: .body)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeKey.self)
        try checkVersion(container)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "start": self = .start
        case "power-off": self = .powerOff
        case "verify": self = .verify(try container.decode([ObjectFingerprint].self, forKey: .body))
        case "exec": self = .exec(try container.decode(ExecRequest.self, forKey: .body))
        case "kexec-next": self = .kexecNext
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown runner command '\(type)'")
        }
    }
}

private func checkVersion(_ container: KeyedDecodingContainer<EnvelopeKey>) throws {
    let version = try container.decode(Int.self, forKey: .v)
    guard version == HandoverVersion.protocolVersion else {
        throw DecodingError.dataCorruptedError(
            forKey: .v, in: container,
            debugDescription: "protocol version \(version), this side speaks \(HandoverVersion.protocolVersion)")
    }
}

/// Encodes and decodes single protocol lines. Decoding never traps: anything that is not a
/// well-formed message of this protocol version becomes a `ProtocolError` carrying the line.
public enum ProtocolLine {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own value types cannot fail; a failure here is a programming error.
        let data = try! encoder.encode(value)
        return String(decoding: data, as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: String) throws(ProtocolError) -> T {
        let trimmed = line.trimmed
        guard !trimmed.isEmpty else { throw ProtocolError(line: line, reason: "empty line") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(trimmed.utf8))
        } catch let error as DecodingError {
            throw ProtocolError(line: line, reason: describe(error))
        } catch {
            throw ProtocolError(line: line, reason: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return keys.isEmpty ? "" : " at \(keys)"
        }
        switch error {
        case .dataCorrupted(let context): return context.debugDescription + path(context)
        case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'" + path(context)
        case .typeMismatch(let type, let context): return "expected \(type)" + path(context)
        case .valueNotFound(let type, let context): return "missing \(type)" + path(context)
        @unknown default: return "\(error)"
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
