import Crypto
import Foundation
import HandoverCore

/// What a vm scenario's guest RAM must hold, computed on the host: the RAM object's fill from
/// the scenario, overlaid with what GuestProgram writes up to a counter, digested per chunk
/// with SHA-256 as the agent digests the RAM it reads.
struct GuestRAMModel: Hashable, Sendable {
    let spec: ObjectSpec
    let reportEvery: UInt32

    static func == (a: Self, b: Self) -> Bool { a.spec == b.spec && a.reportEvery == b.reportEvery }
    func hash(into hasher: inout Hasher) {
        hasher.combine(spec.name)
        hasher.combine(spec.size)
        hasher.combine(reportEvery)
    }

    struct Key: Hashable { let model: GuestRAMModel, counter: UInt64, chunkSize: Int }

    /// A replay judges the same model many times; a few entries are enough.
    private static let cache = DigestCache()

    func digests(atCounter counter: UInt64, chunkSize: Int) -> [String] {
        let key = Key(model: self, counter: counter, chunkSize: chunkSize)
        if let known = Self.cache[key] { return known }
        let program = GuestProgram(ramBytes: spec.size, reportEvery: reportEvery)
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var digests: [String] = []
        var offset = 0
        while offset < spec.size {
            let count = min(chunkSize, spec.size - offset)
            let digest = buffer.withUnsafeMutableBytes { raw in
                let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<count])
                spec.expected(offset: offset, into: slice)
                program.overlay(slice, start: offset, counter: counter)
                return SHA256.hash(data: UnsafeRawBufferPointer(slice))
            }
            digests.append(digest.map { String(format: "%02x", $0) }.joined())
            offset += count
        }
        Self.cache[key] = digests
        return digests
    }

    /// SHA-256 over a list of chunk digests: one value to show for all of RAM.
    static func combined(_ digests: [String]) -> String {
        SHA256.hash(data: Data(digests.joined().utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

private final class DigestCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [GuestRAMModel.Key: [String]] = [:]

    subscript(key: GuestRAMModel.Key) -> [String]? {
        get { lock.withLock { entries[key] } }
        set {
            lock.withLock {
                if entries.count >= 8 { entries.removeAll() }
                entries[key] = newValue
            }
        }
    }
}
