/// The bytes a plan's fill puts into an object, defined here once for both sides: the agent
/// writes them, and the runner computes from them what a guest's RAM must hold.
extension ObjectSpec {
    /// Writes the bytes the plan puts at [offset, offset + buffer.count) into `buffer`.
    public func expected(offset: Int, into buffer: UnsafeMutableRawBufferPointer) {
        switch fill {
        case .zero:
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        case .constant(let byte):
            buffer.initializeMemory(as: UInt8.self, repeating: byte)
        case .random(let seed):
            FillStream(seed: seed).write(offset: offset, into: buffer)
        case .sparse(let seed, let extents):
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let stream = FillStream(seed: seed)
            for extent in extents {
                let start = max(offset, extent.offset)
                let end = min(offset + buffer.count, extent.offset + extent.length)
                guard start < end else { continue }
                stream.write(offset: start, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(start - offset)..<(end - offset)]))
            }
        }
    }
}

/// A random stream that depends only on the seed and the byte offset: the little-endian word
/// at every 8-byte-aligned offset `o` is mix64(key + (o / 8) * golden), key = mix64(seed ^ c).
public struct FillStream: Sendable {
    let key: UInt64

    public init(seed: UInt64) { key = Self.mix64(seed ^ 0x6a09_e667_f3bc_c909) }

    @inline(__always)
    static func mix64(_ value: UInt64) -> UInt64 {
        var x = value
        x ^= x >> 31
        x &*= 0x7fb5_d329_728e_a185
        x ^= x >> 27
        x &*= 0x81da_def4_bc2d_d44d
        x ^= x >> 33
        return x
    }

    @inline(__always)
    public func word(at index: UInt64) -> UInt64 { Self.mix64(key &+ index &* 0x9e37_79b9_7f4a_7c15) }

    public func write(offset: Int, into buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0, let base = buffer.baseAddress else { return }
        var position = 0
        // A head that is not word-aligned.
        while position < buffer.count, (offset + position) & 7 != 0 {
            base.storeBytes(of: byte(at: offset + position), toByteOffset: position, as: UInt8.self)
            position += 1
        }
        var index = UInt64((offset + position) >> 3)
        while position + 8 <= buffer.count {
            base.storeBytes(of: word(at: index).littleEndian, toByteOffset: position, as: UInt64.self)
            index &+= 1
            position += 8
        }
        while position < buffer.count {
            base.storeBytes(of: byte(at: offset + position), toByteOffset: position, as: UInt8.self)
            position += 1
        }
    }

    func byte(at offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: word(at: UInt64(offset >> 3)) >> (UInt64(offset & 7) * 8)) }
}
