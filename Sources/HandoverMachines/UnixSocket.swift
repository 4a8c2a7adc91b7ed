import Foundation
import HandoverSupport

/// A listening unix socket in the run directory; QEMU connects to it as a client.
package final class UnixListener: @unchecked Sendable {
    let path: URL
    private let fd: Int32

    init(path: URL) throws {
        self.path = path
        unlink(path.path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError(.io, "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw HarnessError(.io, "socket path too long: \(path.path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw HarnessError(.io, "cannot listen on \(path.path): \(message)")
        }
        chmod(path.path, 0o600)
    }

    /// Waits for one connection; nil when none arrives in time.
    func accept(timeout: TimeInterval) -> SocketConnection? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
        return client >= 0 ? SocketConnection(fd: client) : nil
    }

    func close() {
        Glibc.close(fd)
        unlink(path.path)
    }
}

/// The console's FIFOs in the run directory, NAME.in and NAME.out: QEMU's pipe chardev opens
/// both read-write, writes the console to NAME.out and never gets input on NAME.in. The runner
/// holds NAME.out's read end, grown to what the host allows (1 MiB by default).
package final class ConsolePipe {
    let output: URL
    private let fd: Int32
    /// F_SETPIPE_SZ (linux/fcntl.h), which Glibc's module leaves out (it is _GNU_SOURCE only).
    static let setPipeSize: Int32 = 1031

    init(path: URL) throws {
        let input = URL(fileURLWithPath: path.path + ".in")
        output = URL(fileURLWithPath: path.path + ".out")
        for fifo in [input, output] {
            unlink(fifo.path)
            guard mkfifo(fifo.path, 0o600) == 0 else { throw HarnessError(.io, "mkfifo \(fifo.path): \(String(cString: strerror(errno)))") }
        }
        // Non-blocking: no writer has opened it yet.
        fd = open(output.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError(.io, "cannot open \(output.path): \(String(cString: strerror(errno)))") }
        if let text = try? String(contentsOfFile: "/proc/sys/fs/pipe-max-size", encoding: .utf8), let most = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            _ = fcntl(fd, Self.setPipeSize, most)
        }
    }

    /// The read end, blocking from now on: call once QEMU has opened the FIFO (a blocking read
    /// with no writer yet would end at once). It ends when QEMU, its only writer, exits.
    func reader() -> SocketConnection {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return SocketConnection(fd: fd)
    }
}

/// One connected stream socket: lines in, lines out.
final class SocketConnection: @unchecked Sendable {
    let fd: Int32
    private let writeLock = NSLock()

    init(fd: Int32) { self.fd = fd }

    /// Connects to a listening unix socket (QEMU's QMP).
    static func connect(to path: URL) -> SocketConnection? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { Glibc.close(fd); return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); return nil }
        return SocketConnection(fd: fd)
    }

    @discardableResult
    func write(line: String) -> Bool {
        writeLock.lock()
        defer { writeLock.unlock() }
        var bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    /// Reads until the peer closes, calling `onLine` for each line (without the newline).
    /// Carriage returns from the serial console are dropped.
    func readLines(_ onLine: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            for byte in buffer[0..<count] {
                if byte == 10 {
                    onLine(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                } else if byte != 13 {
                    pending.append(byte)
                }
            }
        }
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

