import CLiveUpdate

import HandoverCore

/// Where an object's bytes are read from: a memfd with pread (its position untouched), or a
/// guest_memfd through a shared mapping (it has no read()).
enum ObjectContent {
    case file(Int32)
    case mapping(UnsafeMutableRawPointer, size: Int)

    static func open(fd: Int32, size: Int, backing: Backing?, object: String) throws(SystemError) -> ObjectContent {
        guard backing == .guestMemfd, size > 0 else { return .file(fd) }
        guard let address = hv_map_shared(fd, size) else { throw SystemError(call: "mmap guest_memfd \(object)", errno: errno) }
        return .mapping(address, size: size)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, object: String) throws(SystemError) {
        switch self {
        case .file(let fd):
            try MemfdObject.readFully(fd, into: buffer, at: offset, object: object)
        case .mapping(let address, let size):
            guard offset + buffer.count <= size else { throw SystemError(call: "read \(object) beyond its mapping", errno: EIO) }
            buffer.copyMemory(from: UnsafeRawBufferPointer(start: address + offset, count: buffer.count))
        }
    }

    func close() {
        if case .mapping(let address, let size) = self { _ = hv_unmap(address, size) }
    }
}
