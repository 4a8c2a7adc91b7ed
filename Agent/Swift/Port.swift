import CLiveUpdate

import HandoverCore

/// The agent's end of its channel to the runner, the second serial port (ttyS1): JSON lines
/// both ways. A 16550 UART rather than a virtio-serial port: the 8250 driver probes the legacy
/// ports at every boot anyway, while a virtio-serial device costs each kernel's boot (and so
/// the blackout) about 0.4 s under TCG (Benchmarks/minimal_init.py --variants device).
final class Port {
    let fd: Int32
    let device: String
    private var pending: [UInt8] = []

    init(fd: Int32, device: String) {
        self.fd = fd
        self.device = device
    }

    /// Opens the serial port (a device path such as /dev/ttyS1) in raw mode.
    static func open(path: String) throws(SystemError) -> Port {
        var fd = hv_open_serial(path)
        // A virtio console (arm64's hvc0) comes up once the device has announced its port,
        // which can be after /init starts: ENODEV (or no node yet) until then. Retried for up
        // to 10 s; a serial port (x86_64's ttyS1) opens at once.
        var waited = 0
        while (fd == -ENODEV || fd == -ENOENT || fd == -ENXIO) && waited < 10_000 {
            usleep(10_000)
            waited += 10
            fd = hv_open_serial(path)
        }
        guard fd >= 0 else { throw SystemError(call: "open \(path)", errno: -fd) }
        return Port(fd: fd, device: path)
    }

    func send(_ message: AgentMessage) {
        let line = ProtocolLine.encode(message) + "\n"
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { usleep(1000); continue }
                console("handover-agent: writing to \(device) failed: \(errnoName(errno))")
                return
            }
            offset += written
        }
        bytes.removeAll()
        _ = hv_drain(fd)
    }

    /// Fault injection: lines no runner may trust, then a truncated one.
    func sendGarbage() {
        for line in ["not json at all", "{\"v\":1,\"type\":\"quiesce\"", "{\"v\":99,\"type\":\"done\",\"body\":{}}", "{\"v\":3,\"type\":\"hello\",\"body\":{\"stage\":\"two\"}}"] {
            _ = (line + "\n").withCString { write(fd, $0, strlen($0)) }
        }
        _ = "{\"v\":1,\"type\":\"resu".withCString { write(fd, $0, strlen($0)) }
        _ = hv_drain(fd)
    }

    /// The next line from the runner, or nil when the channel closed.
    func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { usleep(1000); continue }
            if count == 0 { usleep(10_000); continue }
            if count < 0 { return nil }
            pending.append(contentsOf: buffer[0..<count])
        }
    }

    /// The next well-formed command; malformed lines are reported back, never fatal.
    func nextCommand() -> RunnerCommand? {
        while let line = readLine() {
            do {
                return try ProtocolLine.decode(RunnerCommand.self, from: line)
            } catch {
                send(.log("agent ignored a malformed command: \(error.description)"))
            }
        }
        return nil
    }
}
