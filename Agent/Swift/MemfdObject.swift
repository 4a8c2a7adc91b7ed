import CLiveUpdate

import HandoverCore

/// Creating, filling and fingerprinting memfds. Content is written and read with
/// pwrite/pread in chunks so the file position is never touched.
enum MemfdObject {
    static let chunkBufferSize = 1 << 20

    static func create(_ spec: ObjectSpec) throws(SystemError) -> Int32 {
        let allowSealing: UInt32 = 0x0002  // MFD_ALLOW_SEALING
        let fd = try check("memfd_create \(spec.name)", hv_memfd_create(spec.name, spec.seals.isEmpty ? 0 : allowSealing))
        if spec.size > 0 { _ = try checkLibc("ftruncate \(spec.name)", ftruncate(fd, off_t(spec.size))) }
        try fill(fd, spec)
        if spec.position != 0 {
            guard lseek(fd, off_t(spec.position), SEEK_SET) == off_t(spec.position) else {
                throw SystemError(call: "lseek \(spec.name)", errno: errno)
            }
        }
        if !spec.seals.isEmpty { try check("F_ADD_SEALS \(spec.name)", hv_add_seals(fd, Seal.mask(spec.seals))) }
        if spec.cloexec { try check("FD_CLOEXEC \(spec.name)", hv_set_cloexec(fd, 1)) }
        return fd
    }

    private static func fill(_ fd: Int32, _ spec: ObjectSpec) throws(SystemError) {
        if case .zero = spec.fill { return }
        var buffer = [UInt8](repeating: 0, count: chunkBufferSize)
        var ranges: [(Int, Int)] = []
        if case .sparse(_, let extents) = spec.fill {
            ranges = extents.map { ($0.offset, $0.offset + $0.length) }
        } else {
            ranges = [(0, spec.size)]
        }
        for (start, end) in ranges {
            var offset = start
            while offset < end {
                let count = min(chunkBufferSize, end - offset)
                let written = buffer.withUnsafeMutableBytes { raw -> Int in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<count])
                    spec.expected(offset: offset, into: slice)
                    return pwrite(fd, slice.baseAddress, count, off_t(offset))
                }
                guard written == count else { throw SystemError(call: "pwrite \(spec.name)", errno: written < 0 ? errno : EIO) }
                offset += count
            }
        }
    }

    /// `digestContent` is false for a vm scenario's objects, whose content the guest changes and
    /// the runner judges by its model of the guest.
    static func fingerprint(fd: Int32, object: String, session: String, token: UInt64, chunkSize: Int,
                            backing: Backing? = nil, digestContent: Bool = true) throws(SystemError) -> ObjectFingerprint {
        var status = stat()
        _ = try checkLibc("fstat \(object)", fstat(fd, &status))
        let size = Int(status.st_size)
        let position = Int(lseek(fd, 0, SEEK_CUR))
        let seals = hv_get_seals(fd)
        let statusFlags = try check("F_GETFL \(object)", hv_get_status_flags(fd))
        let fdFlags = try check("F_GETFD \(object)", hv_get_fd_flags(fd))
        var chunks: [String] = []
        guard digestContent else {
            return ObjectFingerprint(object: object, session: session, token: token, size: size, position: position,
                                     seals: seals < 0 ? 0 : seals, statusFlags: statusFlags, cloexec: fdFlags & FD_CLOEXEC != 0,
                                     chunkSize: chunkSize, chunks: chunks)
        }
        let content = try ObjectContent.open(fd: fd, size: size, backing: backing, object: object)
        defer { content.close() }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var offset = 0
        while offset < size {
            let count = min(chunkSize, size - offset)
            let digest = try withBytes(&buffer) { raw throws(SystemError) -> hv_digest in
                try content.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: offset, object: object)
                return hv_hash(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count, 0)
            }
            chunks.append(hex(digest.hi) + hex(digest.lo))
            offset += count
        }
        return ObjectFingerprint(object: object, session: session, token: token, size: size, position: position,
                                 seals: seals < 0 ? 0 : seals, statusFlags: statusFlags, cloexec: fdFlags & FD_CLOEXEC != 0,
                                 chunkSize: chunkSize, chunks: chunks)
    }

    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, object: String) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SystemError(call: "pread \(object)", errno: count < 0 ? errno : EIO) }
            done += count
        }
    }

    /// The first byte of a chunk that differs from what the plan wrote, and how many differ.
    static func locate(fd: Int32, spec: ObjectSpec, chunk: Int, chunkSize: Int) throws(SystemError) -> LocatedDifference? {
        var status = stat()
        _ = try checkLibc("fstat \(spec.name)", fstat(fd, &status))
        let start = chunk * chunkSize
        let end = min(Int(status.st_size), min(spec.size, start + chunkSize))
        guard start < end else { return nil }
        var actual = [UInt8](repeating: 0, count: end - start)
        var wanted = [UInt8](repeating: 0, count: end - start)
        let content = try ObjectContent.open(fd: fd, size: Int(status.st_size), backing: spec.backing, object: spec.name)
        defer { content.close() }
        try withBytes(&actual) { raw throws(SystemError) in try content.read(into: raw, at: start, object: spec.name) }
        wanted.withUnsafeMutableBytes { spec.expected(offset: start, into: $0) }
        var first: Int?
        var differing = 0
        for index in 0..<actual.count where actual[index] != wanted[index] {
            if first == nil { first = index }
            differing += 1
        }
        guard let first else { return nil }
        return LocatedDifference(object: spec.name, chunk: chunk, offset: start + first, expected: wanted[first],
                                 found: actual[first], differingBytes: differing)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// `withUnsafeMutableBytes` for a body that throws a `SystemError` (Array's own rethrows an
/// untyped error, which Embedded Swift cannot carry).
func withBytes<R>(_ buffer: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(SystemError) -> R) throws(SystemError) -> R {
    var outcome: Result<R, SystemError>?
    buffer.withUnsafeMutableBytes { raw in
        do throws(SystemError) { outcome = .success(try body(raw)) } catch { outcome = .failure(error) }
    }
    return try outcome!.get()
}
