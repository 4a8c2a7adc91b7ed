import Foundation

/// Builds an initramfs in the cpio "newc" format the Linux kernel unpacks at boot
/// (Documentation/driver-api/early-userspace/buffer-format.rst).
///
/// Each member is a 110-byte ASCII header (magic `070701` and thirteen 8-digit hex fields),
/// the NUL-terminated name padded so the data starts on a multiple of 4 bytes, and the data
/// padded to a multiple of 4 bytes. The archive ends with a member named `TRAILER!!!`.
///
/// Output is reproducible: mtime, uid and gid are 0 and inode numbers follow the entry order,
/// so the same entries always give the same bytes.
public struct Initramfs: Sendable {
    public enum Entry: Sendable, Equatable {
        case directory(path: String, mode: UInt32)
        case file(path: String, mode: UInt32, contents: Source)
        case symlink(path: String, target: String)
        case characterDevice(path: String, mode: UInt32, major: UInt32, minor: UInt32)

        /// The path as stored in the archive (no leading "/").
        public var path: String {
            switch self {
            case .directory(let path, _), .file(let path, _, _), .symlink(let path, _),
                 .characterDevice(let path, _, _, _):
                return path
            }
        }
    }

    public enum Source: Sendable, Equatable {
        /// Contents held in memory.
        case data(Data)
        /// Contents streamed from this file, in chunks, while the archive is written.
        case file(URL)
    }

    /// The entries in archive order, implicit parent directories included.
    public private(set) var entries: [Entry] = []
    /// Where each path sits in `entries`, so a duplicate replaces the earlier entry in place.
    private var positions: [String: Int] = [:]

    /// The largest size a newc member can record (the field is 8 hex digits).
    static let maximumFileSize: UInt64 = 0xFFFF_FFFF
    /// The kernel refuses names longer than PATH_MAX (4096 bytes, NUL included).
    static let maximumPathLength = 4095
    /// Read size when streaming a file into the archive.
    static let chunkSize = 1 << 20

    public init() {}

    public mutating func addDirectory(_ path: String, mode: UInt32 = 0o755) {
        insert(.directory(path: Self.normalise(path), mode: mode))
    }

    public mutating func addFile(_ path: String, data: Data, mode: UInt32 = 0o644) {
        insert(.file(path: Self.normalise(path), mode: mode, contents: .data(data)))
    }

    public mutating func addFile(_ path: String, from url: URL, mode: UInt32 = 0o644) {
        insert(.file(path: Self.normalise(path), mode: mode, contents: .file(url)))
    }

    public mutating func addSymlink(_ path: String, target: String) {
        insert(.symlink(path: Self.normalise(path), target: target))
    }

    public mutating func addCharacterDevice(_ path: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        insert(.characterDevice(path: Self.normalise(path), mode: mode, major: major, minor: minor))
    }

    /// Adds /dev/console (5,1), /dev/null (1,3), /dev/ttyS0 (4,64), /dev/kmsg (1,11) and the
    /// folders dev, proc, sys, tmp, run.
    public mutating func addStandardNodes() {
        addDirectory("dev")
        addDirectory("proc")
        addDirectory("sys")
        addDirectory("tmp", mode: 0o1777)
        addDirectory("run")
        addCharacterDevice("dev/console", major: 5, minor: 1, mode: 0o600)
        addCharacterDevice("dev/null", major: 1, minor: 3, mode: 0o666)
        addCharacterDevice("dev/ttyS0", major: 4, minor: 64, mode: 0o660)
        addCharacterDevice("dev/kmsg", major: 1, minor: 11, mode: 0o644)
    }

    /// Writes the archive to a temporary file beside `url`, then renames it into place, so
    /// `url` holds either its old content or the complete new archive.
    public func write(to url: URL) throws {
        let sizes = try validate()
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw InitramfsError(.io, path: directory.path, "cannot create directory: \(error.localizedDescription)")
        }
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let output = try ArchiveOutput(creating: temporary)
        do {
            try writeMembers(to: output, sizes: sizes)
            try output.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw InitramfsError(.io, path: url.path,
                                     "cannot rename \(temporary.path) into place: \(Self.lastError())")
            }
        } catch {
            output.closeQuietly()
            unlink(temporary.path)
            throw error
        }
    }

    // MARK: - Adding

    /// Strips a leading "/", repeated slashes and "." components. ".." is kept so that
    /// `write` can reject it.
    package static func normalise(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true)
            .filter { $0 != "." }
            .joined(separator: "/")
    }

    private mutating func insert(_ entry: Entry) {
        let path = entry.path
        if Self.pathProblem(path) == nil {
            var parent = ""
            for component in path.split(separator: "/").dropLast() {
                parent = parent.isEmpty ? String(component) : parent + "/" + component
                if positions[parent] == nil {
                    positions[parent] = entries.count
                    entries.append(.directory(path: parent, mode: 0o755))
                }
            }
        }
        if let position = positions[path] {
            entries[position] = entry
        } else {
            positions[path] = entries.count
            entries.append(entry)
        }
    }

    // MARK: - Validation

    static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "empty path" }
        if path.utf8.contains(0) { return "path contains a NUL byte" }
        if path.split(separator: "/").contains("..") { return "path contains a \"..\" component" }
        if path.utf8.count > maximumPathLength { return "path is longer than \(maximumPathLength) bytes" }
        return nil
    }

    /// Checks every entry before anything is written; returns the data size of each entry.
    private func validate() throws -> [UInt64] {
        var directories = Set<String>()
        var sizes: [UInt64] = []
        sizes.reserveCapacity(entries.count)
        for entry in entries {
            let path = entry.path
            if let problem = Self.pathProblem(path) {
                throw InitramfsError(.invalidPath, path: path, problem)
            }
            if let slash = path.lastIndex(of: "/") {
                let parent = String(path[..<slash])
                guard directories.contains(parent) else {
                    throw InitramfsError(.invalidPath, path: path, "parent \(parent) is not a directory")
                }
            }
            let size: UInt64
            switch entry {
            case .directory:
                directories.insert(path)
                size = 0
            case .characterDevice:
                size = 0
            case .symlink(_, let target):
                if target.isEmpty || target.utf8.contains(0) {
                    throw InitramfsError(.invalidPath, path: path, "symlink target is empty or contains a NUL byte")
                }
                size = UInt64(target.utf8.count)
            case .file(_, _, .data(let data)):
                size = UInt64(data.count)
            case .file(_, _, .file(let url)):
                size = try Self.sizeOfFile(at: url, entryPath: path)
            }
            if size > Self.maximumFileSize {
                throw InitramfsError(.fileTooLarge, path: path,
                                     "\(size) bytes is more than newc can store (\(Self.maximumFileSize))")
            }
            sizes.append(size)
        }
        return sizes
    }

    private static func sizeOfFile(at url: URL, entryPath: String) throws -> UInt64 {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            throw InitramfsError(.io, path: entryPath, "cannot read \(url.path): \(lastError())")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw InitramfsError(.io, path: entryPath, "\(url.path) is not a regular file")
        }
        return UInt64(info.st_size)
    }

    // MARK: - Writing

    private func writeMembers(to output: ArchiveOutput, sizes: [UInt64]) throws {
        for (index, entry) in entries.enumerated() {
            let inode = UInt32(index + 1)
            let size = UInt32(sizes[index])
            switch entry {
            case .directory(let path, let mode):
                output.header(name: path, inode: inode, mode: 0o040000 | (mode & 0o7777), nlink: 2, size: 0)
            case .characterDevice(let path, let mode, let major, let minor):
                output.header(name: path, inode: inode, mode: 0o020000 | (mode & 0o7777), nlink: 1, size: 0,
                              rdevMajor: major, rdevMinor: minor)
            case .symlink(let path, let target):
                output.header(name: path, inode: inode, mode: 0o120777, nlink: 1, size: size)
                try output.append(Data(target.utf8))
                output.pad()
            case .file(let path, let mode, let source):
                output.header(name: path, inode: inode, mode: 0o100000 | (mode & 0o7777), nlink: 1, size: size)
                switch source {
                case .data(let data):
                    try output.append(data)
                case .file(let url):
                    try output.copy(from: url, expectedSize: UInt64(size), entryPath: path)
                }
                output.pad()
            }
            try output.flushIfFull()
        }
        output.header(name: "TRAILER!!!", inode: 0, mode: 0, nlink: 1, size: 0)
    }

    fileprivate static func lastError() -> String {
        String(cString: strerror(errno))
    }
}

public struct InitramfsError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case invalidPath = "invalid-path"
        case fileTooLarge = "file-too-large"
        case io
    }

    public var kind: Kind
    /// The archive path (or file system path) the error is about.
    public var path: String
    public var message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String {
        "initramfs: \(path.isEmpty ? "(empty path)" : path): \(message)"
    }
}

/// Buffered writes to the archive file, with the byte count needed for padding.
private final class ArchiveOutput {
    private let descriptor: Int32
    private let path: String
    private var buffer = Data()
    private var closed = false
    /// Bytes written so far, flushed or not.
    private(set) var offset: UInt64 = 0

    init(creating url: URL) throws {
        path = url.path
        descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw InitramfsError(.io, path: url.path, "cannot create: \(Initramfs.lastError())")
        }
        buffer.reserveCapacity(Initramfs.chunkSize * 2)
    }

    func header(name: String, inode: UInt32, mode: UInt32, nlink: UInt32, size: UInt32,
                rdevMajor: UInt32 = 0, rdevMinor: UInt32 = 0) {
        let nameBytes = Array(name.utf8)
        let fields: [UInt32] = [
            inode, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, size,
            0 /* devmajor */, 0 /* devminor */, rdevMajor, rdevMinor,
            UInt32(nameBytes.count + 1), 0 /* check */,
        ]
        var header = Array("070701".utf8)
        header.reserveCapacity(110 + nameBytes.count + 4)
        for field in fields {
            header.append(contentsOf: Self.hex(field))
        }
        header.append(contentsOf: nameBytes)
        header.append(0)
        append(header)
        pad()
    }

    /// Eight lowercase hex digits.
    private static func hex(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }

    func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        offset += UInt64(buffer.count - before)
    }

    /// Large in-memory contents go straight to the file rather than being copied into the buffer.
    func append(_ data: Data) throws {
        if data.count >= Initramfs.chunkSize {
            try flush()
            try data.withUnsafeBytes { try writeAll($0) }
        } else {
            buffer.append(data)
        }
        offset += UInt64(data.count)
    }

    /// Zero bytes up to the next multiple of 4.
    func pad() {
        let remainder = Int(offset % 4)
        if remainder != 0 {
            append(repeatElement(UInt8(0), count: 4 - remainder))
        }
    }

    func flushIfFull() throws {
        if buffer.count >= Initramfs.chunkSize {
            try flush()
        }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < raw.count {
            let written = systemWrite(descriptor, raw.baseAddress! + done, raw.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                throw InitramfsError(.io, path: path, "write failed: \(Initramfs.lastError())")
            }
            done += written
        }
    }

    /// Streams exactly `expectedSize` bytes of `url` into the archive.
    func copy(from url: URL, expectedSize: UInt64, entryPath: String) throws {
        let input = open(url.path, O_RDONLY)
        guard input >= 0 else {
            throw InitramfsError(.io, path: entryPath, "cannot open \(url.path): \(Initramfs.lastError())")
        }
        defer { systemClose(input) }
        var remaining = expectedSize
        var chunk = [UInt8](repeating: 0, count: Initramfs.chunkSize)
        while remaining > 0 {
            try flushIfFull()
            let wanted = Int(min(remaining, UInt64(chunk.count)))
            let count = chunk.withUnsafeMutableBytes { systemRead(input, $0.baseAddress!, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InitramfsError(.io, path: entryPath, "cannot read \(url.path): \(Initramfs.lastError())")
            }
            if count == 0 {
                throw InitramfsError(.io, path: entryPath,
                                     "\(url.path) shrank while being archived (expected \(expectedSize) bytes)")
            }
            append(chunk[0..<count])
            remaining -= UInt64(count)
        }
    }

    /// Flushes and closes; the file is complete when this returns. No fsync: an initramfs
    /// lives in a run directory for one boot, and a crash loses the run anyway.
    func close() throws {
        try flush()
        closed = true
        guard systemClose(descriptor) == 0 else {
            throw InitramfsError(.io, path: path, "close failed: \(Initramfs.lastError())")
        }
    }

    func closeQuietly() {
        if !closed {
            closed = true
            _ = systemClose(descriptor)
        }
    }

    deinit {
        closeQuietly()
    }
}

// Free functions, so the class's own `close()` does not shadow the system calls.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

@discardableResult
private func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}
