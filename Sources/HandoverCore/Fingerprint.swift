/// The observable state of one preserved object: contents (a digest per chunk) and the
/// properties the kernel promises to keep or documents as reset.
public struct ObjectFingerprint: Sendable, Equatable {
    public var object: String
    public var session: String
    public var token: UInt64
    public var size: Int
    public var position: Int
    public var seals: Int32
    /// F_GETFL, as the kernel reports it (access mode, O_LARGEFILE, ...).
    public var statusFlags: Int32
    public var cloexec: Bool
    public var chunkSize: Int
    /// Hex of a 128-bit digest per chunk, in order; the last chunk may be short.
    public var chunks: [String]

    public init(object: String, session: String, token: UInt64, size: Int, position: Int, seals: Int32,
                statusFlags: Int32, cloexec: Bool, chunkSize: Int, chunks: [String]) {
        self.object = object
        self.session = session
        self.token = token
        self.size = size
        self.position = position
        self.seals = seals
        self.statusFlags = statusFlags
        self.cloexec = cloexec
        self.chunkSize = chunkSize
        self.chunks = chunks
    }
}

/// A property of one object after the update, compared with before.
public struct PropertyOutcome: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Same as before, as promised.
        case preserved
        /// Different, and documented as not preserved (FD_CLOEXEC): not a failure.
        case reset
        /// Documented as reset, yet it came back unchanged: worth a note, not a failure.
        case unexpectedlyPreserved = "unexpectedly-preserved"
        /// Different where it must not be: the update lost state.
        case changed
    }

    public var property: String
    public var status: Status
    public var before: String
    public var after: String
    /// For content: the chunk index and the first differing byte offset when known.
    public var chunk: Int?
    public var offset: Int?
    public var detail: String?

    public init(property: String, status: Status, before: String, after: String,
                chunk: Int? = nil, offset: Int? = nil, detail: String? = nil) {
        self.property = property
        self.status = status
        self.before = before
        self.after = after
        self.chunk = chunk
        self.offset = offset
        self.detail = detail
    }
}

public enum FingerprintComparison {
    /// Properties documented as reset by a live update; the rest must survive.
    public static let documentedReset: Set<String> = ["cloexec"]

    /// Every property's outcome; content chunks are reported only where they differ.
    public static func compare(before: ObjectFingerprint, after: ObjectFingerprint,
                               reset: Set<String> = documentedReset) -> [PropertyOutcome] {
        var outcomes: [PropertyOutcome] = []
        func property(_ name: String, _ a: String, _ b: String) {
            let same = a == b
            let status: PropertyOutcome.Status
            if reset.contains(name) { status = same ? .unexpectedlyPreserved : .reset }
            else { status = same ? .preserved : .changed }
            outcomes.append(PropertyOutcome(property: name, status: status, before: a, after: b))
        }
        property("size", String(before.size), String(after.size))
        property("position", String(before.position), String(after.position))
        property("seals", sealNames(before.seals), sealNames(after.seals))
        property("status-flags", hex(before.statusFlags), hex(after.statusFlags))
        property("cloexec", String(before.cloexec), String(after.cloexec))

        let count = max(before.chunks.count, after.chunks.count)
        if reset.contains("content") {
            let same = before.chunks == after.chunks
            outcomes.append(PropertyOutcome(property: "content", status: same ? .unexpectedlyPreserved : .reset,
                                            before: "\(before.chunks.count) chunks", after: same ? "\(count) chunks" : "changed"))
            return outcomes
        }
        var differing = 0
        for index in 0..<count {
            let a = index < before.chunks.count ? before.chunks[index] : "absent"
            let b = index < after.chunks.count ? after.chunks[index] : "absent"
            guard a != b else { continue }
            differing += 1
            let start = index * before.chunkSize
            let end = min(start + before.chunkSize, max(before.size, after.size))
            outcomes.append(PropertyOutcome(property: "content", status: .changed, before: a, after: b, chunk: index,
                                            detail: "chunk \(index) (bytes \(start)..<\(end)) differs"))
        }
        if differing == 0 {
            outcomes.append(PropertyOutcome(property: "content", status: .preserved, before: "\(count) chunks", after: "\(count) chunks"))
        }
        return outcomes
    }

    public static func sealNames(_ mask: Int32) -> String {
        let names = Seal.allCases.filter { mask & $0.bit != 0 }.map { $0.rawValue }
        return names.isEmpty ? "none" : names.joined(separator: "|")
    }

    static func hex(_ value: Int32) -> String { "0x" + String(UInt32(bitPattern: value), radix: 16) }
}

extension ObjectFingerprint: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("object", object)
            $0.add("session", session)
            $0.add("token", token)
            $0.add("size", size)
            $0.add("position", position)
            $0.add("seals", seals)
            $0.add("statusFlags", statusFlags)
            $0.add("cloexec", cloexec)
            $0.add("chunkSize", chunkSize)
            $0.add("chunks", chunks)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        object = try o.required("object")
        session = try o.required("session")
        token = try o.required("token")
        size = try o.required("size")
        position = try o.required("position")
        seals = try o.required("seals")
        statusFlags = try o.required("statusFlags")
        cloexec = try o.required("cloexec")
        chunkSize = try o.required("chunkSize")
        chunks = try o.required("chunks")
    }
}

extension PropertyOutcome.Status: JSONRawEnum {}

extension PropertyOutcome: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("property", property)
            $0.add("status", status)
            $0.add("before", before)
            $0.add("after", after)
            $0.add("chunk", chunk)
            $0.add("offset", offset)
            $0.add("detail", detail)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        property = try o.required("property")
        status = try o.required("status")
        before = try o.required("before")
        after = try o.required("after")
        chunk = try o.optional("chunk")
        offset = try o.optional("offset")
        detail = try o.optional("detail")
    }
}
