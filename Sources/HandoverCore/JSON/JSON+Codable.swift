#if !hasFeature(Embedded)
/// On the host the same types are Codable (result.json, the history), through their JSON
/// mapping, so a value has one shape whichever side writes it.
extension JSON: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Key.self) {
            var members: [(String, JSON)] = []
            for key in keyed.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                members.append((key.stringValue, try keyed.decode(JSON.self, forKey: key)))
            }
            self = .object(members)
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [JSON] = []
            while !unkeyed.isAtEnd { items.append(try unkeyed.decode(JSON.self)) }
            self = .array(items)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int64.self) {
            self = .number("\(value)")
        } else if let value = try? single.decode(UInt64.self) {
            self = .number("\(value)")
        } else if let value = try? single.decode(Double.self) {
            self = .number("\(value)")
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .number(let text):
            var single = encoder.singleValueContainer()
            if let value = Int64(text) {
                try single.encode(value)
            } else if let value = UInt64(text) {
                try single.encode(value)
            } else {
                try single.encode(Double(text) ?? 0)
            }
        case .string(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .array(let items):
            var unkeyed = encoder.unkeyedContainer()
            for item in items { try unkeyed.encode(item) }
        case .object(let members):
            var keyed = encoder.container(keyedBy: Key.self)
            for (key, value) in members { try keyed.encode(value, forKey: Key(stringValue: key)) }
        }
    }
}

/// Codable through `JSONConvertible`: conform a mapped type to this on the host.
public protocol JSONCodable: JSONConvertible, Codable {}

extension JSONCodable {
    public init(from decoder: Decoder) throws {
        let json = try JSON(from: decoder)
        do {
            self = try Self(json: json)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        try json.encode(to: encoder)
    }
}
extension Hello: JSONCodable {}
extension StepReport: JSONCodable {}
extension CheckResult: JSONCodable {}
extension LocatedDifference: JSONCodable {}
extension ExecRequest: JSONCodable {}
extension ExecResult: JSONCodable {}
extension AgentMessage: JSONCodable {}
extension RunnerCommand: JSONCodable {}
extension ObjectFingerprint: JSONCodable {}
extension PropertyOutcome: JSONCodable {}
extension FailurePoint: JSONCodable {}
extension AgentPlan: JSONCodable {}
extension Hop: JSONCodable {}
extension ObjectSpec: JSONCodable {}
extension Fill: JSONCodable {}
extension Extent: JSONCodable {}
extension SessionSpec: JSONCodable {}
extension SessionSpec.Member: JSONCodable {}
extension Injection: JSONCodable {}
extension DevicePlan: JSONCodable {}
extension IommufdSetup: JSONCodable {}
extension IommufdSetup.Mapping: JSONCodable {}
extension KVMSetup: JSONCodable {}
extension GuestSample: JSONCodable {}
extension GuestRegisters: JSONCodable {}
extension GuestRestore: JSONCodable {}
extension GuestRAMDifference: JSONCodable {}
extension GuestRAMDigest: JSONCodable {}
extension VMStageReport: JSONCodable {}
extension GuestVMSetup: JSONCodable {}
extension InitcallTiming: JSONCodable {}
extension PropertyOutcome.Status: Codable {}
extension AgentPlan.Mode: Codable {}
extension Seal: Codable {}
extension Handle: Codable {}
extension Backing: Codable {}
extension SetupStep: Codable {}
extension SeriesRevision: Codable {}
extension Verdict: Codable {}
extension FailureClass: Codable {}
#endif
